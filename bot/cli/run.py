"""The Discord bot from the command line: `newsbot run` runs it, `newsbot sync` registers its
slash commands, `newsbot feedback` lists the feedback given on its answers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from bot.cli.common import TEXT, State, err, out, pass_state


@click.command("feedback")
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


@click.command("run")
@click.option("--shards", "shard_spec", default=None, metavar="IDS", type=TEXT,
              help="Run these gateway shards in this process: ids and ranges like 0-3 or"
                   " 0-1,4 (needs --shard-count). Discord requires sharding past 2,500 servers.")
@click.option("--shard-count", type=int, default=None, metavar="N",
              help="The bot's total number of shards, the same in every process (alone: run"
                   " all N shards here).")
@pass_state
def run(state: State, shard_spec: str | None, shard_count: int | None) -> None:
    """Run the Discord bot (token from DISCORD_TOKEN or the config)."""
    from bot.discord_app.sharding import parse_shards
    from bot.discord_app.startup import run_bot

    shards = parse_shards(shard_spec, shard_count)  # a bad range fails before the model loads
    run_bot(state.config, state.engine, shards=shards)


@click.command("sync")
@click.option("--guild", "guild_id", type=int, default=None,
              help="Sync to this server only (shows up at once). Default: discord.test_guild_id"
                   " from the config if set, else globally.")
@click.option("--global", "globally", is_flag=True,
              help="Sync globally even if discord.test_guild_id is set (up to an hour to show).")
@pass_state
def sync(state: State, guild_id: int | None, globally: bool) -> None:
    """Register the slash commands with Discord (needed once, and after upgrades)."""
    from bot.discord_app.startup import sync_commands

    where, names = sync_commands(state.config, guild_id, globally=globally)
    err.print(f"Synced {len(names)} commands ({', '.join(names)}) to {where}.", highlight=False)
