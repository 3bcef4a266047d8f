"""NewsBot: the discord.py client, its start-up and the `newsbot run` / `newsbot sync` entries.

Modelled on discord.py's examples/advanced_startup.py: the bot receives its dependencies (engine,
config, settings store) in the constructor, `setup_hook` adds the cogs and the persistent answer
buttons, commands are NOT synced on start (`newsbot sync` does that), and `run_bot` owns the
resources with `async with`.

For tests against an emulated Discord API, pass `api_base` (and `gateway_url`) to NewsBot,
`run_bot` or `sync_commands`; see `configure_endpoints`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.discord_app.errors import (
    Busy,
    LoginRejected,
    MissingToken,
    NewsCommandTree,
    NotAllowedHere,
    Refusal,
)
from bot.discord_app.guild_settings import GuildSettings
from bot.discord_app.permissions import Cooldown, Gate, is_admin
from bot.discord_app.render import retry_phrase
from bot.settings import Config
from index.errors import NewsbotError

if TYPE_CHECKING:
    from bot.engine import NewsEngine

log = logging.getLogger("newsbot.discord")

T = TypeVar("T")

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY = "wss://gateway.discord.gg/"
MAX_QUESTION_CHARS = 500


# --------------------------------------------------------------------------- endpoints, logging


def configure_endpoints(api_base: str | None = None, gateway_url: str | None = None) -> None:
    """Point discord.py at another REST base and gateway (process-wide: discord.py keeps both
    as class attributes, so run one such bot per process at a time).

    `api_base` without a path gets "/api/v10" appended; without `gateway_url` the gateway is
    the same host over ws(s):// at "/". No arguments: back to the real Discord endpoints.
    discord.py IDENTIFYs at DEFAULT_GATEWAY (an unsharded client never asks GET /gateway/bot);
    RESUMEs go to READY's resume_gateway_url.
    """
    if api_base is None and gateway_url is None:
        Route.BASE = DEFAULT_API_BASE
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(DEFAULT_GATEWAY)
        return
    if api_base is not None:
        base = api_base.rstrip("/")
        parts = urlsplit(base)
        if parts.path in ("", "/"):
            base += "/api/v10"
        Route.BASE = base
        if gateway_url is None:
            scheme = "wss" if parts.scheme == "https" else "ws"
            gateway_url = f"{scheme}://{parts.netloc}/"
    if gateway_url is not None:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def current_endpoints() -> tuple[str, str]:
    return Route.BASE, str(DiscordWebSocket.DEFAULT_GATEWAY)


def setup_logging(level: str = "INFO") -> None:
    """Readable logs on stderr at config.log_level (adds a handler only if none is set)."""
    numeric = logging.getLevelNamesMapping().get(str(level).upper(), logging.INFO)
    root = logging.getLogger()
    if root.handlers:
        root.setLevel(numeric)
        return
    discord.utils.setup_logging(level=numeric, root=True)


def make_intents() -> discord.Intents:
    """Default, non-privileged intents: no message_content. Discord still sends the content of
    messages that mention the bot and of DMs, which is all the mention path needs."""
    intents = discord.Intents.default()
    intents.message_content = False
    intents.members = False
    intents.presences = False
    return intents


def require_token(config: Config) -> str:
    token = (config.discord.token or "").strip()
    if not token:
        raise MissingToken()
    return token


# --------------------------------------------------------------------------- the bot


class NewsBot(commands.Bot):
    """The Discord front door. Dependencies are injected:

    engine       a NewsEngine (None only for `sync_commands`, which never calls it)
    config       bot.settings.Config
    guild_store  a GuildSettings; default: one at engine.bot_db_path, opened in setup_hook
    api_base / gateway_url   another Discord API (tests); see configure_endpoints
    """

    def __init__(
        self,
        engine: NewsEngine | None,
        config: Config,
        *,
        guild_store: GuildSettings | None = None,
        api_base: str | None = None,
        gateway_url: str | None = None,
        **client_options: Any,
    ) -> None:
        if api_base is not None or gateway_url is not None:
            configure_endpoints(api_base, gateway_url)
        client_options.setdefault("intents", make_intents())
        super().__init__(
            command_prefix=commands.when_mentioned,  # required by commands.Bot; unused
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=NewsCommandTree,
            **client_options,
        )
        self.engine = engine
        self.config = config
        self._guild_store = guild_store
        self.gate = Gate(config.discord.max_concurrent)
        self.cooldown = Cooldown(config.discord.cooldown_s)
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, config.discord.max_concurrent), thread_name_prefix="newsbot-engine"
        )

    # -- dependencies

    @property
    def guild_store(self) -> GuildSettings:
        if self._guild_store is None:
            raise RuntimeError("the settings store is opened in setup_hook (login) first")
        return self._guild_store

    def require_engine(self) -> NewsEngine:
        if self.engine is None:
            raise RuntimeError("this NewsBot was built without an engine (sync only)")
        return self.engine

    # -- lifecycle

    async def setup_hook(self) -> None:
        from bot.discord_app.admin_cog import AdminCog
        from bot.discord_app.ask_cog import AnswerButton, AskCog

        if self._guild_store is None and self.engine is not None:
            self._guild_store = await asyncio.to_thread(GuildSettings, self.engine.bot_db_path)
        await self.add_cog(AskCog(self))
        await self.add_cog(AdminCog(self))
        ask = self.tree.get_command("ask")
        if ask is not None:  # offer /ask in DMs only when DMs are answered
            ask.allowed_contexts = discord.app_commands.AppCommandContext(
                guild=True, dm_channel=self.config.discord.allow_dms, private_channel=False
            )
        # the answer buttons work for any earlier message, also after a restart
        self.add_dynamic_items(AnswerButton)
        # no tree.sync() here: `newsbot sync` does it once, on purpose

    async def on_ready(self) -> None:
        user = self.user
        log.info(
            "logged in as %s (id %s) in %d server(s)",
            user,
            user.id if user else "?",
            len(self.guilds),
        )

    async def on_message(self, message: discord.Message, /) -> None:
        # no prefix commands; the AskCog listener handles mentions and replies
        return

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- running blocking work

    async def run_engine(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking engine call in the bot's worker threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def db(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a (quick) settings-store call off the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    @asynccontextmanager
    async def engine_slot(self) -> AsyncIterator[None]:
        """One of config.discord.max_concurrent engine slots, or Busy at once (never waits)."""
        if not self.gate.try_acquire():
            raise Busy(
                "I'm busy with other requests right now; try again in "
                f"{retry_phrase(self.gate.retry_hint())}."
            )
        try:
            yield
        finally:
            self.gate.release()

    @asynccontextmanager
    async def cooldown_for(self, user_id: int) -> AsyncIterator[None]:
        """Start the user's cooldown; lift it again if no answer came out (an error), so a
        corrected question is not refused."""
        self.cooldown.hit(user_id)
        try:
            yield
        except BaseException:
            self.cooldown.reset(user_id)
            raise

    # -- who may ask where

    def default_channels_for(self, guild: discord.Guild | None) -> tuple[int, ...]:
        """config.discord.channels that belong to this server (so the defaults of one server
        do not silence another); empty means every channel."""
        wanted = self.config.discord.channels
        if not wanted or guild is None:
            return ()
        return tuple(c for c in wanted if guild.get_channel_or_thread(c) is not None)

    def member_is_admin(self, member: discord.abc.User, manage_guild: bool) -> bool:
        roles = getattr(member, "roles", [])
        return is_admin(
            manage_guild,
            [r.id for r in roles],
            [r.name for r in roles],
            self.config.discord.admin_roles,
        )

    async def check_may_ask(
        self,
        *,
        user: discord.abc.User,
        guild: discord.Guild | None,
        channel_id: int | None,
        parent_id: int | None,
        manage_guild: bool,
        cooldown: bool = True,
    ) -> None:
        """Raise a Refusal (NotAllowedHere for a channel the bot should stay quiet in) unless
        this user may ask here now. Does not take an engine slot or start the cooldown."""
        if guild is None:
            if not self.config.discord.allow_dms:
                raise Refusal("I answer questions only in servers, not in direct messages.")
        else:
            allowed = await self.db(
                self.guild_store.is_channel_allowed,
                guild.id,
                channel_id or 0,
                self.default_channels_for(guild),
                parent_id=parent_id,
            )
            if not allowed:
                raise NotAllowedHere(
                    "I don't answer questions in this channel. "
                    "A server admin can change that with /news channels."
                )
            roles = [r.id for r in getattr(user, "roles", [])]
            if not self.member_is_admin(user, manage_guild) and not await self.db(
                self.guild_store.may_ask, guild.id, roles
            ):
                raise Refusal("In this server only members with an asker role may ask me.")
        wait = self.cooldown.retry_after(user.id) if cooldown else 0.0
        if wait > 0:
            raise Refusal(f"One question at a time: try again in {retry_phrase(wait)}.")


# --------------------------------------------------------------------------- entry points


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
) -> None:
    """Log in, connect, serve until closed. Raises MissingToken / LoginRejected (NewsbotErrors
    with one clear line) for a missing or rejected token."""
    token = require_token(config)  # before loading the model: fail fast
    setup_logging(config.log_level)
    engine, own_engine = await _get_engine(engine, config)
    try:
        async with NewsBot(engine, config, api_base=api_base, gateway_url=gateway_url) as bot:
            try:
                await bot.start(token)
            except discord.LoginFailure as exc:
                raise LoginRejected() from exc
            except discord.PrivilegedIntentsRequired as exc:  # pragma: no cover - none asked
                raise NewsbotError(
                    "Discord refused a privileged intent; this bot needs none."
                ) from exc
    finally:
        if own_engine:
            await asyncio.to_thread(engine.close)


def run_bot(config: Config, engine: NewsEngine | Callable[[], NewsEngine] | None = None) -> None:
    """`newsbot run` (blocking): `engine` is a NewsEngine, a factory for one, or None (made
    from config). Ctrl-C stops cleanly."""
    try:
        asyncio.run(run_bot_async(config, engine))
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
