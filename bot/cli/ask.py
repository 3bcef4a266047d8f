"""`newsbot ask`: answer a question from the store, with numbered sources."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from bot.cli.common import (
    TEXT,
    State,
    collection_option,
    default_seeds_dir,
    err,
    out,
    pass_state,
    progress_bar,
    require_collections,
)
from bot.engine import as_of_day
from bot.reader.answer import LLM_NOTE, Answer
from bot.reader.copies import also_reported_by
from bot.reader.dating import shown_date
from index.collections import SHARED


def render_answer(answer: Answer) -> None:
    if answer.answered:
        short, rest = answer.lead_parts()
        if short:  # the short answer in bold, then the sentence that says it
            out.print(f"[bold]{escape(short)}[/bold] — {escape(rest)}", highlight=False,
                      markup=True)
        else:
            out.print(answer.answer, highlight=False)
        if answer.reader == "llm":
            out.print(LLM_NOTE, highlight=False, style="dim")
        out.print()
        # highlight=False on every line: rich's highlighter compiles its patterns on first
        # use, 50 ms of every `newsbot ask`, for nothing to highlight
        out.print("Sources", style="bold", highlight=False)
        for c in answer.citations:
            # Every source shows its date (bot/reader/dating.py), "date unknown" when it has none.
            meta = " · ".join(x for x in (c.source, shown_date(c.published)) if x)
            out.print(f"[bold][{c.n}][/bold] {escape(c.title)}"
                      + (f" — {escape(meta)}" if meta else ""), highlight=False, markup=True)
            if c.url:
                out.print(f"    {c.url}", highlight=False, style="blue")
            others = also_reported_by(c)
            if others:
                out.print(f"    {others}", highlight=False)
            quote = " ".join(c.quote.split())  # the passage's line breaks, as spaces
            out.print(f"    “{quote}”", highlight=False, style="dim")
    else:
        out.print(answer.answer, highlight=False)
        if answer.retrieved:
            out.print()
            out.print("Closest articles", style="bold", highlight=False)
            seen: set[str] = set()
            for r in answer.retrieved:
                if r.article_id in seen:
                    continue
                seen.add(r.article_id)
                out.print(f"- {r.title}" + (f" — {r.url}" if r.url else ""), highlight=False)


@click.command("ask")
@click.argument("question", type=TEXT)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--source", default=None, type=TEXT,
              help="Only articles from this source (name or domain).")
@click.option("--since", default=None, metavar="DATE", type=TEXT,
              help="Only articles published on or after.")
@click.option("--until", default=None, metavar="DATE", type=TEXT,
              help="Only articles published on or before.")
@click.option("--as-of", "as_of", default=None, metavar="YYYY-MM-DD", type=TEXT,
              help="Answer as a reader on that day would: prefer articles of the days before"
                   " it, distrust articles dated after it (default: today).")
@collection_option("Search this collection; repeat for several (default: shared).",
                   default=None, multiple=True)
@pass_state
def ask(state: State, question: str, as_json: bool, source: str | None, since: str | None,
        until: str | None, as_of: str | None, collection: tuple[str, ...]) -> None:
    """Answer QUESTION from the indexed articles, with numbered sources."""
    day = as_of_day(as_of)  # a bad date fails before the model loads or a store is built
    engine = state.engine()
    if engine.store.is_empty():
        seeds = default_seeds_dir()
        err.print(f"No articles indexed yet: building the store from {seeds}…")
        with progress_bar() as progress:
            engine.add_sources([str(seeds)], progress)
    collections = list(collection) or [SHARED]
    require_collections(engine, collections)
    answer = engine.ask(
        question, source=source, since=since, until=until, as_of=day, collections=collections
    )
    if as_json:
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        render_answer(answer)
