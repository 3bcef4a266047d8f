"""`newsbot migrate`: copy the SQLite store, and the bot's state, into PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import click

from bot.cli.common import TEXT, State, err, out, pass_state, progress_bar
from index.postgres.passage_indexes import (
    DEFAULT_MEMORY,
    DEFAULT_WORKERS,
    check_memory,
    check_workers,
)


@click.command("migrate")
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
