"""Starting NewsBot: the `newsbot run` and `newsbot sync` entry points, sharded or not, logging,
the gateway's refusals as one line, and SIGTERM closing the bot as Ctrl-C does.

`run_bot` owns the resources with `async with` (discord.py's examples/advanced_startup.py);
commands are NOT synced on start (`newsbot sync` does that). For tests against an emulated
Discord API, pass `api_base` (and `gateway_url`); see bot.discord_app.connection.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.discord_app.client import NewsBot
from bot.discord_app.connection import require_token
from bot.discord_app.errors import LoginRejected
from bot.discord_app.sharding import ShardPlan
from bot.settings import Config
from index.errors import NewsbotError

if TYPE_CHECKING:
    from bot.engine import NewsEngine

log = logging.getLogger("newsbot.discord")

MESSAGE_CONTENT_REFUSED = (
    "Discord refused the Message Content intent: turn on 'Message Content Intent' under "
    "Bot → Privileged Gateway Intents in the developer portal, or set "
    "discord.message_content = false (free-response channels need it)."
)


def setup_logging(level: str = "INFO") -> None:
    """Readable logs on stderr at config.log_level (adds a handler only if none is set)."""
    numeric = logging.getLevelNamesMapping().get(str(level).upper(), logging.INFO)
    root = logging.getLogger()
    if root.handlers:
        root.setLevel(numeric)
        return
    discord.utils.setup_logging(level=numeric, root=True)


class ShardedNewsBot(NewsBot, commands.AutoShardedBot):
    """NewsBot over several gateway shards in one process (discord.py's AutoShardedClient):
    pass `shard_ids` and `shard_count`; each shard is its own connection, and Discord sends
    a server's events and interactions only on the server's shard."""


def make_bot(
    engine: NewsEngine | None, config: Config, *, shards: ShardPlan | None = None, **kwargs: Any
) -> NewsBot:
    """A NewsBot, or a ShardedNewsBot running `shards` when given."""
    if shards is None:
        return NewsBot(engine, config, **kwargs)
    return ShardedNewsBot(
        engine, config, shard_ids=list(shards.ids), shard_count=shards.count, **kwargs
    )


def gateway_refusal(exc: discord.ConnectionClosed, shards: ShardPlan | None) -> NewsbotError:
    """One line for the gateway's refusals of a session; the rest stay as they are."""
    if exc.code == 4010:
        which = shards.describe() if shards else "the shard"
        return NewsbotError(
            f"Discord refused {which} (4010 invalid shard): shard ids must be below "
            "--shard-count, and every process must use the same --shard-count"
        )
    if exc.code == 4011:
        return NewsbotError(
            "Discord requires sharding for this bot (4011: too many servers for one connection)"
            ": run with --shard-count N (about one shard per 1,000 servers; each process "
            "takes its own --shards)"
        )
    raise exc


async def _get_engine(engine: NewsEngine | Callable[[], NewsEngine] | None, config: Config):
    """(engine, whether we made it and must close it). A factory (e.g. the CLI's lazy
    State.engine) or the NewsEngine constructor runs in a thread: loading the model blocks."""
    if engine is None:
        from bot.engine import NewsEngine

        return await asyncio.to_thread(NewsEngine, config), True
    if callable(engine):
        return await asyncio.to_thread(engine), False
    return engine, False


async def run_bot_async(
    config: Config,
    engine: NewsEngine | Callable[[], NewsEngine] | None = None,
    *,
    api_base: str | None = None,
    gateway_url: str | None = None,
    shards: ShardPlan | None = None,
) -> None:
    """Log in, connect, serve until closed (`shards`: those shards, in this process).
    Raises MissingToken / LoginRejected (NewsbotErrors with one clear line) for a missing or
    rejected token, and a NewsbotError for a shard the gateway refuses."""
    token = require_token(config)  # before loading the model: fail fast
    setup_logging(config.log_level)
    engine, own_engine = await _get_engine(engine, config)
    engine.keep_lexical_index()  # built in the background; answers go on meanwhile
    bot: NewsBot | None = None
    try:
        bot = make_bot(engine, config, shards=shards, api_base=api_base, gateway_url=gateway_url)
        async with bot, _stopped_by_sigterm(bot):
            try:
                await bot.start(token)
            except discord.LoginFailure as exc:
                raise LoginRejected() from exc
            except discord.PrivilegedIntentsRequired as exc:
                raise NewsbotError(MESSAGE_CONTENT_REFUSED) from exc
            except discord.ConnectionClosed as exc:
                raise gateway_refusal(exc, shards) from exc
    finally:
        # not under calls still running (bot.close waited for them, within WORK_JOIN_S)
        if own_engine and not (bot is not None and bot.unfinished_work):
            await asyncio.to_thread(engine.close)


@asynccontextmanager
async def _stopped_by_sigterm(bot: NewsBot) -> AsyncIterator[None]:
    """SIGTERM (what systemd, Docker and Kubernetes send to stop a service) closes the bot
    as Ctrl-C does: the questions being answered are delivered, the gateway is told goodbye,
    the feed poller's lease is let go, instead of the process dying where it stands."""
    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()

    def stop() -> None:
        log.info("SIGTERM: stopping")
        task = loop.create_task(bot.close())
        closing.add(task)  # a task nobody holds may be collected before it ends
        task.add_done_callback(closing.discard)

    try:
        loop.add_signal_handler(signal.SIGTERM, stop)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        if closing:
            await asyncio.gather(*closing, return_exceptions=True)


def run_bot(
    config: Config,
    engine: NewsEngine | Callable[[], NewsEngine] | None = None,
    *,
    shards: ShardPlan | None = None,
) -> None:
    """`newsbot run` (blocking): `engine` is a NewsEngine, a factory for one, or None (made
    from config); `shards`: run those gateway shards. Ctrl-C stops cleanly."""
    try:
        asyncio.run(run_bot_async(config, engine, shards=shards))
    except KeyboardInterrupt:
        log.info("stopped")


def main(config: Config) -> int:
    run_bot(config)
    return 0


async def sync_commands_async(
    config: Config,
    guild_id: int | None = None,
    *,
    globally: bool = False,
    api_base: str | None = None,
    gateway_url: str | None = None,
) -> tuple[str, list[str]]:
    """Log in, upload the slash commands, log out; no gateway connection, no engine.

    To one server (guild_id, else config.discord.test_guild_id; shows up at once) unless
    `globally` or neither is set (global commands can take up to an hour to appear).
    Returns (where, command names).
    """
    token = require_token(config)
    target = None if globally else (guild_id or config.discord.test_guild_id)
    async with NewsBot(None, config, api_base=api_base, gateway_url=gateway_url) as bot:
        try:
            await bot.login(token)  # runs setup_hook, which builds the command tree
        except discord.LoginFailure as exc:
            raise LoginRejected() from exc
        if target:
            guild = discord.Object(id=int(target))
            bot.tree.copy_global_to(guild=guild)
            synced = await bot.tree.sync(guild=guild)
            where = f"server {target}"
        else:
            synced = await bot.tree.sync()
            where = "all servers (global; may take up to an hour to appear)"
    names = [c.name for c in synced]
    log.info("synced /%s to %s", ", /".join(names), where)
    return where, names


def sync_commands(
    config: Config, guild_id: int | None = None, *, globally: bool = False
) -> tuple[str, list[str]]:
    """`newsbot sync [--guild ID]` (blocking); see sync_commands_async."""
    return asyncio.run(sync_commands_async(config, guild_id, globally=globally))
