"""`newsbot index`: build the store, add, remove, re-cut and expire articles, and its stats."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import replace as dc_replace
from pathlib import Path

import click
from rich.markup import escape

from bot.cli.common import (
    EXIT_ERROR,
    SOURCE,
    TEXT,
    State,
    collection_option,
    default_seeds_dir,
    err,
    finish_ingest,
    out,
    pass_state,
    print_report,
    progress_bar,
    require_collections,
)
from bot.engine import IngestReport, NewsEngine
from index.embedding import make_embedder
from index.errors import InputError
from index.sqlite.store import store_exists


@click.group("index")
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
    finish_ingest(report, "Added")


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
