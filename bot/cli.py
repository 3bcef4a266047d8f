"""The `newsbot` command line: index, ask, run the Discord bot, and evaluate.

Errors the user can act on (NewsbotError and its kinds) print as one line on stderr with a
non-zero exit; a traceback appears only with --debug.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import sys
import time
from dataclasses import replace as dc_replace
from pathlib import Path

import click
from rich.markup import escape

from bot.answer_model import LLM_NOTE, Answer
from bot.cli_support import State, err, out, pass_state, progress_bar
from bot.copies import also_reported_by
from bot.dating import shown_date
from bot.engine import IngestReport, NewsEngine, as_of_day
from bot.evaluation.commands import eval_group
from bot.learned.commands import reader_group
from index.collections import SHARED, check_name, describe
from index.embedding import make_embedder
from index.errors import InputError, NewsbotError
from index.postgres.passage_indexes import (
    DEFAULT_MEMORY,
    DEFAULT_WORKERS,
    check_memory,
    check_workers,
)
from index.sqlite.store import store_exists

# soft_wrap: long paths and URLs stay on one line when output goes to a file or pipe.
# Markup off by default: titles, quotes, answers, paths and error messages come from articles
# and users, and a "[/dim]" in them must print as text. Lines with styling opt in and escape
# what they interpolate.

EXIT_ERROR = 1

# Loggers whose records are the product's own (and discord.py's, for `newsbot run`). Every other
# library logs its own view of one input's trouble (trafilatura's "ERROR ... parsed tree length:
# 0" for a page with no article); the one-line skip reason already says it, so their records
# are shown only with --debug.
_OWN_LOGGERS = frozenset({"bot", "index", "newsbot", "discord", "__main__"})


class _OwnLogsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.partition(".")[0] in _OWN_LOGGERS


def setup_cli_logging(debug: bool) -> None:
    """Warnings of our own on stderr; everything, libraries included, with --debug."""
    root = logging.getLogger()
    had_handlers = bool(root.handlers)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not debug and not had_handlers:
        for handler in root.handlers:
            handler.addFilter(_OwnLogsOnly())


def check_text(value: str, what: str) -> str:
    """`value` when it is valid Unicode text; InputError naming `what` otherwise.

    Python hands over command-line bytes that are not UTF-8 as lone surrogates, which neither
    SQLite nor the question encoder can take: they are refused here, at the edge, in one line.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start]
        byte = f" (byte 0x{ord(bad) - 0xDC00:02x})" if 0xDC80 <= ord(bad) <= 0xDCFF else ""
        raise InputError(
            f"{what}: not valid UTF-8 text{byte} at character {exc.start + 1}"
        ) from None
    return value


class Text(click.ParamType):
    """A text argument (question, source, date, URL, article id) checked by check_text."""

    name = "text"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> object:
        if isinstance(value, str):
            check_text(value, _shown_name(param))
        return value


class SourceRef(click.ParamType):
    """A file or folder (any bytes a file system allows), or a URL (which must be text)."""

    name = "path|url"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> object:
        if isinstance(value, str) and "://" in value[:12]:
            check_text(value, _shown_name(param))
        return value


def _shown_name(param: click.Parameter | None) -> str:
    if param is None:
        return "argument"
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return (param.human_readable_name or "argument").upper()


TEXT = Text()
SOURCE = SourceRef()


def default_seeds_dir() -> Path:
    """`seeds/` of the checkout this package runs from, else ./seeds."""
    beside = Path(__file__).resolve().parent.parent / "seeds"
    return beside if beside.is_dir() else Path("seeds")




def print_report(report: IngestReport, verb: str = "Added") -> None:
    parts = [f"{len(report.added)} added", f"{len(report.updated)} updated"]
    if report.unchanged:
        parts.append(f"{len(report.unchanged)} unchanged")
    parts.append(f"{len(report.skipped)} skipped")
    err.print(f"{verb}: " + ", ".join(parts) + ".")
    for article in report.added:
        err.print(f"  + {escape(article.display_title)} [dim]({article.id})[/dim]",
                  highlight=False, markup=True)
    for article in report.updated:
        err.print(f"  ~ {escape(article.display_title)} [dim]({article.id})[/dim]",
                  highlight=False, markup=True)
    for skipped in report.skipped:
        err.print(f"  [yellow]skipped[/yellow] {escape(skipped.origin)}: {escape(skipped.reason)}",
                  highlight=False, markup=True)


def _finish_ingest(report: IngestReport, verb: str) -> None:
    print_report(report, verb)
    if report.changed == 0 and not report.unchanged:
        raise click.exceptions.Exit(EXIT_ERROR)


def _collection_name(ctx: click.Context, param: click.Parameter, value: object) -> object:
    """Checks --collection values as click reads them: a bad name is one line, before the
    model loads."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(check_name(v) for v in value)
    return check_name(value)


def collection_option(help_text: str, *, default: str | None = SHARED, multiple: bool = False):
    return click.option(
        "--collection", "collection", metavar="NAME", default=default, multiple=multiple,
        callback=_collection_name, show_default=not multiple and default is not None,
        help=help_text,
    )


def require_collections(engine: NewsEngine, names: tuple[str, ...] | list[str]) -> None:
    """An InputError naming the first of `names` that the store does not have."""
    known = set(engine.collections())
    for name in names:
        if name not in known:
            raise InputError(
                f"--collection: no collection named {name!r}"
                f" (collections: {describe(sorted(known))})"
            )


# ---------------------------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: $NEWSBOT_CONFIG, else ./config.toml).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="Data directory (overrides data_dir in the config).")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="newsbot")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, data_dir: str | None, debug: bool) -> None:
    """Answer questions about news articles, with numbered citations."""
    ctx.obj = State(config_path, data_dir, debug)
    setup_cli_logging(debug)


@cli.group("index")
def index_group() -> None:
    """Build and change the article store."""


@index_group.command("build")
@click.argument("sources", nargs=-1, type=SOURCE)
@click.option("--replace", is_flag=True,
              help="Replace an existing store (the old one is kept beside it as a backup).")
@collection_option("The collection the articles go into.")
@pass_state
def index_build(state: State, sources: tuple[str, ...], replace: bool, collection: str) -> None:
    """Build a new store from files, folders and URLs (default: the seed articles)."""
    data_dir = Path(state.config.store.data_dir)
    refs = list(sources) or [str(default_seeds_dir())]
    if state.config.store.backend.backend == "postgres":
        _build_in_postgres(state, refs, replace, collection)
        return
    if store_exists(data_dir) and not replace:
        raise InputError(
            f"a store already exists in {data_dir}; use `newsbot index add` to add to it,"
            " or `newsbot index build --replace` to start again"
        )
    building = data_dir.with_name(data_dir.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    with err.status("Loading the embedding model…"):
        embedder = make_embedder(state.config.store.model)
    build_config = dc_replace(
        state.config, store=dc_replace(state.config.store, data_dir=building)
    )
    builder = NewsEngine(build_config, embedder=embedder)
    started = time.perf_counter()
    with progress_bar() as progress:
        report = builder.add_sources(refs, progress, collection=collection)
    builder.close()
    if report.changed == 0:
        shutil.rmtree(building, ignore_errors=True)
        print_report(report, "Built")
        raise click.exceptions.Exit(EXIT_ERROR)
    # The new store is complete before the old one is moved aside, and the old one is kept.
    if data_dir.exists() and any(data_dir.iterdir()):
        backup = data_dir.with_name(f"{data_dir.name}.previous-{time.strftime('%Y%m%d-%H%M%S')}")
        data_dir.rename(backup)
        err.print(f"The previous store is kept in {backup}.")
    elif data_dir.exists():
        data_dir.rmdir()
    building.rename(data_dir)
    print_report(report, "Built")
    err.print(f"Store ready in {data_dir} ({time.perf_counter() - started:.1f} s).")


def _build_in_postgres(state: State, refs: list[str], replace: bool, collection: str) -> None:
    """`index build` on the PostgreSQL store: into an empty store only (a shared database
    is not swapped for another one; `index remove` and `index rebuild` change it)."""
    if replace:
        raise InputError(
            "--replace does not apply to a PostgreSQL store; use `newsbot index remove` or"
            " `newsbot index rebuild`"
        )
    engine = state.engine()
    if not engine.store.is_empty():
        raise InputError(
            f"the PostgreSQL store at {engine.store.location} already holds articles; use"
            " `newsbot index add` to add to it"
        )
    started = time.perf_counter()
    with progress_bar() as progress:
        report = engine.add_sources(refs, progress, collection=collection)
    print_report(report, "Built")
    if report.changed == 0:
        raise click.exceptions.Exit(EXIT_ERROR)
    err.print(f"Store ready in {engine.store.location} ({time.perf_counter() - started:.1f} s).")


@index_group.command("add")
@click.argument("sources", nargs=-1, type=SOURCE)
@click.option("--feed", "feeds", multiple=True, metavar="URL|FILE", type=SOURCE,
              help="An RSS or Atom feed; every entry is added. Repeatable.")
@collection_option("The collection the articles go into (a new name starts a collection).")
@pass_state
def index_add(
    state: State, sources: tuple[str, ...], feeds: tuple[str, ...], collection: str
) -> None:
    """Add articles from files, folders, URLs or feeds; changed ones are updated in place."""
    if not sources and not feeds:
        raise InputError("nothing to add: give files, folders, URLs or --feed URL|FILE")
    engine = state.engine()
    report = IngestReport()
    with progress_bar() as progress:
        if sources:
            report = engine.add_sources(list(sources), progress, collection=collection)
        for feed in feeds:
            more = engine.add_feed(feed, progress, collection=collection)
            report.added += more.added
            report.updated += more.updated
            report.unchanged += more.unchanged
            report.skipped += more.skipped
    _finish_ingest(report, "Added")


@index_group.command("rebuild")
@collection_option("Only this collection's articles (default: every article).", default=None)
@pass_state
def index_rebuild(state: State, collection: str | None) -> None:
    """Re-cut every article into passages and rebuild the vector index (fixes a damaged one)."""
    engine = state.engine()
    if collection is not None:
        require_collections(engine, [collection])
    with progress_bar() as progress:
        report = engine.rebuild(progress, collection=collection)
    err.print(f"Rebuilt: {report.articles} articles, {report.passages} passages.")


@index_group.command("remove")
@click.argument("refs", nargs=-1, required=True, type=TEXT)
@collection_option("The collection to remove them from; an article other collections hold"
                   " stays for them.")
@pass_state
def index_remove(state: State, refs: tuple[str, ...], collection: str) -> None:
    """Remove articles by URL or id."""
    engine = state.engine()
    require_collections(engine, [collection])
    report = engine.remove(list(refs), collection=collection)
    for article in report.removed:
        err.print(f"  - {article.display_title} ({article.id})", highlight=False)
    for ref in report.not_found:
        err.print(f"  [yellow]not found[/yellow] {escape(ref)}", highlight=False, markup=True)
    err.print(f"Removed {len(report.removed)}; not found {len(report.not_found)}.")
    if not report.removed:
        raise click.exceptions.Exit(EXIT_ERROR)


@index_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@collection_option("Only this collection (default: every one).", default=None)
@pass_state
def index_stats(state: State, as_json: bool, collection: str | None) -> None:
    """Articles, passages, model, index type, size on disk and last change; the same per
    collection, with its last ingest."""
    engine = state.engine()
    if collection is not None:
        require_collections(engine, [collection])
    stats = engine.stats(None if collection is None else [collection])
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(stats), ensure_ascii=False))
        return
    postgres = state.config.store.backend.backend == "postgres"
    where = "Database:      " if postgres else "Data directory:"
    out.print(f"{where} {stats.data_dir}", highlight=False)
    out.print(f"Articles:       {stats.articles}")
    out.print(f"Passages:       {stats.passages}")
    out.print(f"Model:          {stats.model} ({stats.dimension} dimensions)", highlight=False)
    out.print(f"Index type:     {stats.index_type}")
    out.print(f"Size on disk:   {stats.size_bytes / 1e6:.1f} MB")
    out.print(f"Last change:    {stats.last_change or 'never'}")
    for c in stats.collections:
        out.print()
        out.print(f"Collection {c.name}", style="bold", highlight=False)
        out.print(f"  Articles:     {c.articles} ({c.only_here} in no other collection)")
        out.print(f"  Passages:     {c.passages}")
        out.print(f"  Size:         {c.size_bytes / 1e6:.1f} MB (text and vectors, estimated)")
        if c.feeds is not None:
            out.print(f"  Feeds:        {c.feeds} followed, {c.feeds_failing} failing")
        last = c.last_ingest
        if last is None:
            out.print("  Last ingest:  none recorded")
        else:
            out.print(
                f"  Last ingest:  {last.at}: {last.what} — {last.added} added,"
                f" {last.updated} updated, {last.unchanged} unchanged, {last.skipped} skipped",
                highlight=False,
            )
            for reason in last.skipped_reasons[:5]:
                out.print(f"    skipped {reason}", highlight=False)


@index_group.command("expire")
@pass_state
def index_expire(state: State) -> None:
    """Apply retention now: index.max_age_days and index.max_articles_per_collection."""
    index = state.config.store.index
    if not index.max_age_days and not index.max_articles_per_collection:
        err.print("Retention is off (index.max_age_days and index.max_articles_per_collection"
                  " are 0): nothing expires.")
        return
    report = state.engine().expire()
    for article in report.removed:
        err.print(f"  - {article.display_title} ({article.id})", highlight=False)
    err.print(f"Expired {len(report.removed)}.")


# -- followed feeds -----------------------------------------------------------------------------
COLLECTION_OPTION = collection_option("The collection the feed's articles go to.")


@cli.group("feeds")
def feeds_group() -> None:
    """Follow RSS and Atom feeds: their new entries are added as they appear."""


def _poller(state: State):  # type: ignore[no-untyped-def]
    from bot.feeds.following import FeedPoller

    return FeedPoller(state.engine())


@feeds_group.command("add")
@click.argument("url", type=TEXT)
@click.option("--every", default=None, metavar="INTERVAL", type=TEXT,
              help="How often to fetch it: 30m, 2h, 1d (default: follow.interval_minutes;"
                   " at least 5m).")
@COLLECTION_OPTION
@pass_state
def feeds_add(state: State, url: str, every: str | None, collection: str) -> None:
    """Follow the feed at URL (it is first fetched by the next `feeds poll` or `follow`)."""
    from bot.feeds.following import describe_interval, feed_url, parse_every

    parse_every(every, state.config.follow.interval_minutes)  # before the model loads
    feed_url(url)
    row = _poller(state).follow(url, collection, every)
    err.print(f"Following {row.url} every {describe_interval(row.followers[collection])}"
              f" (collection {collection}).", highlight=False)


@feeds_group.command("remove")
@click.argument("url", type=TEXT)
@COLLECTION_OPTION
@pass_state
def feeds_remove(state: State, url: str, collection: str) -> None:
    """Stop following the feed at URL (the articles already added stay)."""
    from bot.feeds.following import feed_url

    feed_url(url)
    if not _poller(state).unfollow(url, collection):
        raise InputError(f"{url} is not followed (collection {collection})")
    err.print(f"No longer following {url}.", highlight=False)


@feeds_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@collection_option("Only the feeds this collection follows (default: all).", default=None)
@pass_state
def feeds_list(state: State, as_json: bool, collection: str | None) -> None:
    """Followed feeds: interval, last fetch, last new article, last error, and the entries
    not stored yet (waiting for a later poll, or failing)."""
    from bot.feeds.following import describe_interval

    poller = _poller(state)
    rows = poller.feeds(collection)
    for row in rows:
        failing = poller.is_failing(row)
        if as_json:
            click.echo(json.dumps({**dataclasses.asdict(row), "failing": failing}))
            continue
        state_word = f"FAILING ({row.failures} in a row)" if failing else "ok"
        out.print(f"{row.url}  [{state_word}]", highlight=False)
        out.print(f"    every {describe_interval(row.interval_s)};"
                  f" followed by {', '.join(row.followers)}", highlight=False)
        out.print(f"    last fetch: {row.last_fetch_at or 'never'};"
                  f" last new article: {row.last_new_at or 'never'}", highlight=False)
        if row.last_error:
            out.print(f"    last error ({row.last_error_at}): {row.last_error}", highlight=False)
        if row.waiting or row.failing_entries:
            out.print(f"    entries not stored yet: {row.waiting:,} waiting,"
                      f" {row.failing_entries:,} failing (tried again later)", highlight=False)
    if not rows:
        err.print("No feeds followed.")


def _print_poll(poll) -> None:  # type: ignore[no-untyped-def]
    added = sum(len(a) for a in poll.added.values())
    if poll.status == "failed":
        err.print(f"{poll.url}: failed ({poll.failures} in a row): {poll.error}", highlight=False)
    else:
        backlog = f", {poll.backlog}" if poll.backlog else ""
        err.print(f"{poll.url}: {poll.status}, {added} added, {len(poll.skipped)} skipped"
                  f"{backlog}", highlight=False)
    for collection, articles in poll.added.items():
        for article in articles:
            err.print(f"  + {article.display_title} ({article.id}) -> {collection}",
                      highlight=False)
    for skipped in poll.skipped:
        err.print(f"  skipped {skipped.origin}: {skipped.reason}", highlight=False)


@feeds_group.command("poll")
@click.option("--all", "everything", is_flag=True, help="Fetch every followed feed, due or not.")
@pass_state
def feeds_poll(state: State, everything: bool) -> None:
    """Fetch the feeds that are due once, add their new entries, and apply retention."""
    poller = _poller(state)
    urls = [row.url for row in poller.feeds()] if everything else None
    report = poller.poll_due(urls=urls, on_poll=_print_poll)
    if report.expired:
        err.print(f"Expired {len(report.expired)} articles (retention).")
    if not report.polls:
        err.print("No feed is due.")


@cli.command("follow")
@click.option("--once", is_flag=True, help="One cycle, then exit (what cron would run).")
@pass_state
def follow(state: State, once: bool) -> None:
    """Poll the followed feeds until stopped (Ctrl-C), without Discord."""
    import threading

    poller = _poller(state)
    if once:
        poller.poll_due(on_poll=_print_poll)
        return
    from bot.feeds.leader import hold_while, poller_lease

    err.print(f"Following {len(poller.feeds())} feeds; Ctrl-C stops.")
    config = state.config
    # one poller at a time over one store: another `newsbot follow` or `newsbot run` polling
    # already means this one waits, and takes over when that one stops
    hold_while(
        poller_lease(config.store), threading.Event(),
        lambda stop: poller.run(stop, on_poll=_print_poll),
        retry_s=config.follow.check_every_s,
    )


@cli.command("migrate")
@click.option("--to", "url", required=True, envvar="NEWSBOT_DATABASE_URL", metavar="URL",
              type=TEXT, help="The PostgreSQL database, postgresql://user@host/db or a key/value"
                              " string such as 'host=db user=bot dbname=news' (default:"
                              " $NEWSBOT_DATABASE_URL, which keeps a password off the command"
                              " line).")
@click.option("--replace", is_flag=True,
              help="Replace what the PostgreSQL store holds (deleted in the copy's own"
                   " transaction, its readers see the old store until the commit); without it"
                   " the target must be empty. Into an empty database the passages' indexes"
                   " are built after the load, which is much faster for a large store.")
@click.option("--maintenance-work-mem", "memory", default=DEFAULT_MEMORY, show_default=True,
              metavar="SIZE", type=TEXT,
              help="PostgreSQL's maintenance_work_mem for building the indexes after the load"
                   " (512MB, 4GB, ...): the HNSW build is fastest when its graph fits, about"
                   " 2 kB a passage of 384-dimensional vectors.")
@click.option("--maintenance-workers", "workers", default=DEFAULT_WORKERS, show_default=True,
              type=int, metavar="N",
              help="Parallel workers for building the indexes (max_parallel_maintenance_workers;"
                   " the server's max_parallel_workers caps it).")
@pass_state
def migrate(state: State, url: str, replace: bool, memory: str, workers: int) -> None:
    """Copy the SQLite store of the data directory into PostgreSQL, vectors included (nothing
    is embedded again), with the bot's settings, answers and feedback, in one transaction,
    and check the counts on both sides."""
    from bot.guilds.migrate import guild_settings_part
    from index.migrate import check_url, migrate_to_postgres
    from index.postgres.connection import redact

    check_url(url)
    check_memory(memory)
    check_workers(workers)
    config = state.config
    data_dir = Path(config.store.data_dir)
    started = time.perf_counter()
    with progress_bar() as progress:
        tallies = migrate_to_postgres(
            data_dir, url, replace=replace, hnsw_m=config.store.index.hnsw_m, progress=progress,
            extra_parts=[guild_settings_part],  # the bot's settings, answers and feedback
            maintenance_work_mem=memory, maintenance_workers=workers,
        )
    out.print(f"{'':16}{'SQLite':>10}{'PostgreSQL':>12}")
    for tally in tallies:
        out.print(f"{tally.what:16}{tally.source:>10}{tally.target:>12}")
    err.print(f"Migrated {data_dir} to {redact(url)} ({time.perf_counter() - started:.1f} s);"
              ' the counts match. Set [store] backend = "postgres" and url (or'
              " NEWSBOT_DATABASE_URL) to use it.", highlight=False)


# ---------------------------------------------------------------------------------------------
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
            # Every source shows its date (bot/dating.py), "date unknown" when it has none.
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


@cli.command("ask")
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


@cli.command("feedback")
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_state
def feedback(state: State, limit: int, as_json: bool) -> None:
    """List the Helpful / Not helpful feedback given in Discord."""
    from bot.guilds.settings import BOT_DB_NAME, open_guild_settings

    settings = state.config.store
    if settings.backend.backend == "sqlite" and not (
        Path(settings.data_dir) / BOT_DB_NAME
    ).exists():  # nothing to read: no file made just to say so
        err.print("No feedback yet.")
        return
    feedback_store = open_guild_settings(settings)  # SQLite, or the store's PostgreSQL
    try:
        rows = [dataclasses.asdict(r) for r in feedback_store.list_feedback(limit)]
    finally:
        feedback_store.close()
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, default=str))
        else:
            mark = "+" if row.get("helpful") else "-"
            out.print(f"{mark} {row.get('created_at', '')}  {row.get('question', '')}",
                      highlight=False)
    if not rows:
        err.print("No feedback yet.")


@cli.command("run")
@click.option("--shards", "shard_spec", default=None, metavar="IDS", type=TEXT,
              help="Run these gateway shards in this process: ids and ranges like 0-3 or"
                   " 0-1,4 (needs --shard-count). Discord requires sharding past 2,500 servers.")
@click.option("--shard-count", type=int, default=None, metavar="N",
              help="The bot's total number of shards, the same in every process (alone: run"
                   " all N shards here).")
@pass_state
def run(state: State, shard_spec: str | None, shard_count: int | None) -> None:
    """Run the Discord bot (token from DISCORD_TOKEN or the config)."""
    from bot.discord_app.client import run_bot
    from bot.discord_app.sharding import parse_shards

    shards = parse_shards(shard_spec, shard_count)  # a bad range fails before the model loads
    run_bot(state.config, state.engine, shards=shards)


@cli.command("sync")
@click.option("--guild", "guild_id", type=int, default=None,
              help="Sync to this server only (shows up at once). Default: discord.test_guild_id"
                   " from the config if set, else globally.")
@click.option("--global", "globally", is_flag=True,
              help="Sync globally even if discord.test_guild_id is set (up to an hour to show).")
@pass_state
def sync(state: State, guild_id: int | None, globally: bool) -> None:
    """Register the slash commands with Discord (needed once, and after upgrades)."""
    from bot.discord_app.client import sync_commands

    where, names = sync_commands(state.config, guild_id, globally=globally)
    err.print(f"Synced {len(names)} commands ({', '.join(names)}) to {where}.", highlight=False)


cli.add_command(eval_group)
cli.add_command(reader_group)


def main() -> None:
    debug = "--debug" in sys.argv
    try:
        # Without standalone mode click returns the code of an Exit instead of exiting.
        code = cli.main(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err.print("Aborted.")
        sys.exit(130)
    except NewsbotError as exc:
        if debug:
            err.print_exception()
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, markup=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if debug:
            err.print_exception()
        err.print(
            f"[red]error:[/red] unexpected {escape(type(exc).__name__)}: {escape(str(exc))}"
            " (a bug: please report it; --debug shows the traceback)",
            highlight=False, markup=True,
        )
        sys.exit(EXIT_ERROR)
