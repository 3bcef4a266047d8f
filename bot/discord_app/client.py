"""NewsBot: the discord.py client the cogs work through (shared.NewsBotLike): its dependencies,
its lifecycle, the lanes and worker threads its questions and admin jobs run in, and who may
ask where.

Modelled on discord.py's examples/advanced_startup.py: the bot receives its dependencies (engine,
config, settings store) in the constructor, and `setup_hook` loads the cogs as extensions by
name (COGS; each adds its cog, ask_cog also the persistent answer buttons). This module never
imports its cogs: what both sides share is in bot/discord_app/shared.py. Starting it (`newsbot
run`, `newsbot sync`, shards) is bot/discord_app/startup.py; where it connects,
bot/discord_app/connection.py; counting its running work, bot/discord_app/work.py.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord.ext import commands

from bot.discord_app.connection import configure_endpoints, make_intents
from bot.discord_app.errors import NewsCommandTree, NotAllowedHere, Refusal, TookTooLong
from bot.discord_app.permissions import Cooldown, Lane, is_admin
from bot.discord_app.render.spec import CONTENT_LIMIT
from bot.discord_app.render.text import retry_phrase, trim
from bot.discord_app.sharding import ShardPlan
from bot.discord_app.shared import Undelivered
from bot.discord_app.work import RunningWork, lane_turn
from bot.feeds.following import FeedPoller
from bot.feeds.leader import hold_while, poller_lease
from bot.guilds.settings import GuildSettings, open_guild_settings
from bot.settings import Config
from index.collections import SHARED, guild_collection

if TYPE_CHECKING:
    from bot.engine import NewsEngine

log = logging.getLogger("newsbot.discord")

T = TypeVar("T")

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
