"""NewsBot: the discord.py client, its start-up and the `newsbot run` / `newsbot sync` entries.

Modelled on discord.py's examples/advanced_startup.py: the bot receives its dependencies (engine,
config, settings store) in the constructor, `setup_hook` loads the cogs as extensions by name
(COGS; each adds its cog, ask_cog also the persistent answer buttons), commands are NOT synced
on start (`newsbot sync` does that), and `run_bot` owns the resources with `async with`. This
module never imports its cogs: what both sides share is in bot/discord_app/shared.py.

For tests against an emulated Discord API, pass `api_base` (and `gateway_url`) to NewsBot,
`run_bot` or `sync_commands`; see `configure_endpoints`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
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
    TookTooLong,
)
from bot.discord_app.permissions import Cooldown, Lane, LaneFull, is_admin
from bot.discord_app.render.spec import CONTENT_LIMIT
from bot.discord_app.render.text import retry_phrase, trim
from bot.discord_app.sharding import ShardPlan
from bot.discord_app.shared import Undelivered
from bot.feeds.following import FeedPoller
from bot.feeds.leader import hold_while, poller_lease
from bot.guilds.settings import GuildSettings, open_guild_settings
from bot.settings import Config
from index.collections import SHARED, guild_collection
from index.errors import NewsbotError

if TYPE_CHECKING:
    from bot.engine import NewsEngine

log = logging.getLogger("newsbot.discord")

T = TypeVar("T")

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY = "wss://gateway.discord.gg/"
COGS = ("bot.discord_app.ask_cog", "bot.discord_app.admin_cog")  # loaded in this order
# admin jobs (adds, feeds, remove, rebuild) run one at a time in their own lane; the next ones
# wait, at most until shortly before their interaction token (15 minutes) runs out
ADMIN_QUEUE = 4
ADMIN_WAIT_S = 12 * 60.0
POLLER_JOIN_S = 30.0  # close waits this long at most for the poller's feed in progress
# close waits this long at most for engine and settings calls still running in worker threads
WORK_JOIN_S = 30.0
# a question arriving while the bot stops (Ctrl-C, SIGTERM)
STOPPING = "I'm restarting; ask again in a minute."
DELIVERY_S = 5.0  # past a question's deadline, for its answer (or its "try again") to be sent
UNDELIVERED_KEPT = 5  # admin summaries kept per server for /news stats when no DM got through
MESSAGE_CONTENT_REFUSED = (
    "Discord refused the Message Content intent: turn on 'Message Content Intent' under "
    "Bot → Privileged Gateway Intents in the developer portal, or set "
    "discord.message_content = false (free-response channels need it)."
)


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


def make_intents(message_content: bool = False) -> discord.Intents:
    """Only the gateway intents the bot uses: GUILDS (the server, channel and role cache),
    GUILD_MESSAGES (mentions of the bot and replies to it) and DIRECT_MESSAGES (questions in
    DMs, answered or refused per discord.allow_dms). Without the privileged Message Content
    intent Discord still sends the content of messages that mention the bot and of DMs, which
    is all the mention path needs; it is asked for only with config.discord.message_content
    (free-response channels). Typing, reactions, voice, presences, members and the rest are
    never subscribed."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = message_content
    return intents


class RunningWork:
    """Counts the blocking calls running in worker threads, so that `close` can wait for
    them: the engine must not be closed under a question still being answered (closing
    SQLite under a running query crashes the process). Calls cancelled before they began
    never count."""

    def __init__(self) -> None:
        self._running = 0
        self._changed = threading.Condition()

    def wrap(self, fn: Callable[..., T], args: tuple, kwargs: dict) -> Callable[[], T]:
        def counted() -> T:
            with self._changed:
                self._running += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()

        return counted

    def wait_done(self, timeout_s: float) -> int:
        """Wait until no call runs, at most `timeout_s`; the calls still running."""
        with self._changed:
            self._changed.wait_for(lambda: self._running == 0, timeout_s)
            return self._running


def require_token(config: Config) -> str:
    token = (config.discord.token or "").strip()
    if not token:
        raise MissingToken()
    return token


@asynccontextmanager
async def lane_turn(
    lane: Lane, busy: str, on_wait: Callable[[], Awaitable[object]] | None = None
) -> AsyncIterator[None]:
    """A slot of `lane` for the block (released with its run time, whatever happens); a full
    queue or a wait past the lane's bound is a Busy refusal: `busy`, and when to come back."""
    try:
        await lane.acquire(on_wait)
    except LaneFull as full:
        raise Busy(f"{busy}; try again in {retry_phrase(full.retry_after)}.") from None
    started = time.monotonic()
    try:
        yield
    finally:
        lane.release(time.monotonic() - started)


# --------------------------------------------------------------------------- the bot


class NewsBot(commands.Bot):
    """The Discord front door. Dependencies are injected:

    engine       a NewsEngine (None only for `sync_commands`, which never calls it)
    config       bot.settings.Config
    guild_store  a GuildSettings; default: the engine's (bot.guilds.settings.open_guild_settings:
                 SQLite in the data directory, or the store's PostgreSQL database),
                 opened in setup_hook
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
        poll_feeds: bool | None = None,
        **client_options: Any,
    ) -> None:
        if api_base is not None or gateway_url is not None:
            configure_endpoints(api_base, gateway_url)
        client_options.setdefault("intents", make_intents(config.discord.message_content))
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
        self._owns_guild_store = False  # True once setup_hook opened it
        d = config.discord
        # questions: max_concurrent at once, a bounded queue behind them
        self.questions = Lane(d.max_concurrent, max_waiting=d.queue_size, max_wait_s=d.queue_wait_s)
        # admin jobs: their own lane and worker thread, so they never take a question's slot
        self.admin_jobs = Lane(1, max_waiting=ADMIN_QUEUE, max_wait_s=ADMIN_WAIT_S)
        self.cooldown = Cooldown(d.cooldown_s)
        # A question past its deadline leaves its worker thread to finish by itself (a thread
        # cannot be killed); it is then blocked on one round trip to the database, which
        # returns once a frozen server resumes (or fails: the server's own timeouts, TCP
        # keepalives for a dead host, index/postgres/connection.py). Work still queued for a
        # worker when its question gives up is cancelled and never runs, and at most the
        # pool's connections can be blocked that way (other calls give up waiting for one),
        # so stuck workers delay later questions only while the server is away.
        self._executor = ThreadPoolExecutor(
            max_workers=max(1, d.max_concurrent), thread_name_prefix="newsbot-engine"
        )
        self._admin_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsbot-admin")
        self._work = RunningWork()
        self.stopping = False  # set by close: questions already taken are answered first
        self.unfinished_work = 0  # calls still running when close gave up waiting for them
        self.undelivered: dict[int, deque[Undelivered]] = {}
        # Followed feeds: polled in a thread of their own (follow.in_run), never on the loop.
        self.poll_feeds = config.follow.in_run if poll_feeds is None else poll_feeds
        self._poller: FeedPoller | None = None
        self._polling_stop = threading.Event()
        self._polling: threading.Thread | None = None

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

    def require_poller(self) -> FeedPoller:
        if self._poller is None:
            self._poller = FeedPoller(self.require_engine(), self.config.follow)
        return self._poller

    def start_polling(self) -> None:
        """Poll followed feeds in a daemon thread until close (what `newsbot run` does), in
        one process at a time: the others wait for the poller's lease (bot/feeds/leader.py)."""
        if self._polling is not None or self.engine is None:
            return
        poller = self.require_poller()
        self._polling = threading.Thread(
            target=hold_while,
            args=(poller_lease(self.config.store), self._polling_stop, poller.run),
            kwargs={"retry_s": self.config.follow.check_every_s},
            name="newsbot-feeds",
            daemon=True,
        )
        self._polling.start()

    # -- lifecycle

    async def setup_hook(self) -> None:
        if self._guild_store is None and self.engine is not None:
            engine = self.engine
            self._guild_store = await asyncio.to_thread(
                open_guild_settings, engine.config.store, store=engine.store
            )
            self._owns_guild_store = True
        # by name (discord.py's extensions), so this module never imports its cogs; each
        # cog module's setup() adds its cog (ask_cog also the persistent answer buttons)
        for extension in COGS:
            await self.load_extension(extension)
        ask = self.tree.get_command("ask")
        if ask is not None:  # offer /ask in DMs only when DMs are answered
            ask.allowed_contexts = discord.app_commands.AppCommandContext(
                guild=True, dm_channel=self.config.discord.allow_dms, private_channel=False
            )
        if self.poll_feeds:
            self.start_polling()
        # no tree.sync() here: `newsbot sync` does it once, on purpose

    async def on_ready(self) -> None:
        user = self.user
        ids = getattr(self, "shard_ids", None)
        log.info(
            "logged in as %s (id %s) in %d server(s)%s",
            user,
            user.id if user else "?",
            len(self.guilds),
            f" on {ShardPlan(tuple(ids), self.shard_count or 0).describe()}" if ids else "",
        )

    async def on_message(self, message: discord.Message, /) -> None:
        # no prefix commands; the AskCog listener handles mentions and replies
        return

    async def close(self) -> None:
        self._polling_stop.set()  # a poll in progress finishes its feed; no new one starts
        if not self.stopping:
            self.stopping = True
            await self._drain_questions()
        try:
            await super().close()
            if self._polling is not None:
                # the engine is closed after the bot: the poller must be done with it first
                await asyncio.to_thread(self._polling.join, POLLER_JOIN_S)
        finally:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._admin_executor.shutdown(wait=False, cancel_futures=True)
            self.unfinished_work = await asyncio.to_thread(self._work.wait_done, WORK_JOIN_S)
            if self.unfinished_work:
                log.warning("%d engine calls still ran %.0f s after closing; the store is left"
                            " open for the exit to end them", self.unfinished_work, WORK_JOIN_S)
            elif self._owns_guild_store and self._guild_store is not None:
                self._guild_store.close()

    async def _drain_questions(self) -> None:
        """Let the questions already taken (answered or waiting in line) deliver their
        answers before the connection closes; each is bounded by its own deadline
        (answer_timeout_s), and new ones are refused with STOPPING meanwhile."""
        lane = self.questions
        limit = time.monotonic() + self.config.discord.answer_timeout_s + DELIVERY_S
        if lane.active or lane.waiting:
            log.info("stopping: %d questions still being answered", lane.active + lane.waiting)
        while (lane.active or lane.waiting) and time.monotonic() < limit:
            await asyncio.sleep(0.05)

    # -- running blocking work

    async def run_engine(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking engine call for a question in the bot's worker threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._work.wrap(fn, args, kwargs))

    async def run_admin(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking admin job (add, feed, remove, rebuild) in its own worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._admin_executor, self._work.wrap(fn, args, kwargs))

    async def db(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a (quick) settings-store call off the event loop."""
        return await asyncio.to_thread(self._work.wrap(fn, args, kwargs))

    @asynccontextmanager
    async def deadline(self, seconds: float | None = None) -> AsyncIterator[asyncio.Timeout]:
        """The block within `seconds` (default discord.answer_timeout_s), else TookTooLong:
        what a question may take from its arrival to its answer (its wait for a slot
        included), so a database that never answers (a frozen server) gets the asker a
        short "try again", and the question slot and cooldown back, instead of silence.
        Blocking calls inside are abandoned, not stopped (see _executor). The block may
        call `.reschedule(None)` on what it gets, e.g. once the answer is delivered."""
        limit = self.config.discord.answer_timeout_s if seconds is None else seconds
        timeout = asyncio.timeout(limit)
        try:
            async with timeout:
                yield timeout
        except TimeoutError:
            if not timeout.expired():  # someone else's timeout: not ours to describe
                raise
            raise TookTooLong() from None

    @asynccontextmanager
    async def asking(
        self, user_id: int, *, on_wait: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[None]:
        """A question's turn: the user's cooldown starts, then a question slot is taken,
        waiting in the bounded queue if all are busy (`on_wait` runs first, e.g. defer).

        The block must include delivering the answer: the slot is held until it is sent, and
        if anything fails (the engine, or Discord refusing the message) the cooldown is lifted
        again, so the user may simply ask again. A full queue, or a wait past
        discord.queue_wait_s, is a Busy refusal with a time to come back.
        """
        if self.stopping:
            raise Refusal(STOPPING)
        wait = self.cooldown.hit(user_id)
        if wait > 0:
            raise Refusal(f"One question at a time: try again in {retry_phrase(wait)}.")
        try:
            async with lane_turn(
                self.questions, "I'm busy with other questions right now", on_wait
            ):
                yield
        except BaseException:
            self.cooldown.reset(user_id)
            raise

    @asynccontextmanager
    async def admin_job(
        self, *, on_wait: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[None]:
        """The admin lane's one slot (the next jobs wait their turn); never a question slot."""
        async with lane_turn(self.admin_jobs, "Another admin job is still running", on_wait):
            yield

    # -- admin summaries that outlived their reply

    def keep_undelivered(self, guild_id: int, item: Undelivered) -> None:
        kept = self.undelivered.setdefault(guild_id, deque(maxlen=UNDELIVERED_KEPT))
        kept.append(item)

    def take_undelivered(self, guild_id: int) -> list[Undelivered]:
        """The server's undelivered admin summaries, oldest first; they count as shown."""
        return list(self.undelivered.pop(guild_id, ()))

    async def deliver_privately(self, interaction: discord.Interaction, text: str) -> str:
        """An admin's summary whose private reply can no longer be edited (the interaction
        token lasts 15 minutes): by DM to that admin, else kept for /news stats and logged.
        Never in the channel, where everyone would see titles, URLs and skip reasons.
        Returns where it went: "dm" or "stats"."""
        command = interaction.command.qualified_name if interaction.command else "news"
        guild = interaction.guild
        where = f" in {guild.name}" if guild is not None and guild.name else ""
        head = f"Your /{command}{where} has finished (its reply there had expired):\n"
        try:
            await interaction.user.send(trim(head + text, CONTENT_LIMIT))
            return "dm"
        except discord.HTTPException as exc:
            log.warning(
                "undelivered /%s summary for user %s in guild %s (no DM: %s): %s",
                command,
                interaction.user.id,
                interaction.guild_id,
                exc,
                text,
            )
            if interaction.guild_id is not None:
                self.keep_undelivered(
                    interaction.guild_id,
                    Undelivered(interaction.user.id, command, text, time.time()),
                )
            return "stats"

    # -- which articles a question sees

    async def collections_for(self, guild: discord.Guild | None) -> list[str]:
        """The collections a question asked here searches: a server's own, plus the shared
        one unless the server turned it off; a direct message, the shared one."""
        if guild is None:
            return [SHARED]
        own = guild_collection(guild.id)
        if await self.db(self.guild_store.searches_shared, guild.id):
            return [own, SHARED]
        return [own]

    # -- who may ask where

    def default_channels_for(self, guild: discord.Guild | None) -> tuple[int, ...]:
        """config.discord.channels that belong to this server (so the defaults of one server
        do not silence another); empty means every channel.

        While the server is unavailable (no channel cache) it cannot be told which defaults
        are its own, so all of them apply: fail closed rather than answer everywhere."""
        wanted = self.config.discord.channels
        if not wanted or guild is None:
            return ()
        if guild.unavailable:
            return tuple(wanted)
        return tuple(c for c in wanted if guild.get_channel_or_thread(c) is not None)

    def member_is_admin(self, roles: Iterable[int], manage_guild: bool) -> bool:
        """Manage Server (the resolved permission from the interaction), or an admin role id."""
        return is_admin(manage_guild, roles, self.config.discord.admin_roles)

    async def check_may_ask(
        self,
        *,
        user: discord.abc.User,
        guild_id: int | None,
        guild: discord.Guild | None,
        channel_id: int | None,
        parent_id: int | None,
        roles: Iterable[int],
        manage_guild: bool,
        cooldown: bool = True,
    ) -> None:
        """Raise a Refusal (NotAllowedHere for a channel the bot should stay quiet in) unless
        this user may ask here now. Does not take a question slot or start the cooldown.

        Decided from what the interaction or message itself carries (the server and channel
        ids, the member's role ids and resolved permissions), so an unavailable server with
        an empty cache gets the same answer as an available one, or a stricter one."""
        if guild_id is None:
            if not self.config.discord.allow_dms:
                raise Refusal("I answer questions only in servers, not in direct messages.")
        else:
            allowed = await self.db(
                self.guild_store.is_channel_allowed,
                guild_id,
                channel_id or 0,
                self.default_channels_for(guild),
                parent_id=parent_id,
            )
            if not allowed:
                raise NotAllowedHere(
                    "I don't answer questions in this channel. "
                    "A server admin can change that with /news channels."
                )
            roles = list(roles)
            if not self.member_is_admin(roles, manage_guild) and not await self.db(
                self.guild_store.may_ask, guild_id, roles
            ):
                raise Refusal("In this server only members with an asker role may ask me.")
        wait = self.cooldown.retry_after(user.id) if cooldown else 0.0
        if wait > 0:
            raise Refusal(f"One question at a time: try again in {retry_phrase(wait)}.")


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
    shards: ShardPlan | None = None,
) -> None:
    """Log in, connect, serve until closed (`shards`: those shards, in this process).
    Raises MissingToken / LoginRejected (NewsbotErrors with one clear line) for a missing or
    rejected token, and a NewsbotError for a shard the gateway refuses."""
    token = require_token(config)  # before loading the model: fail fast
    setup_logging(config.log_level)
    engine, own_engine = await _get_engine(engine, config)
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
