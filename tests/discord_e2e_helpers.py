"""Building blocks for the end-to-end tests of the Discord bot (tests/test_discord_e2e.py).

The real NewsBot (discord.py) runs against the Discord emulator in tests/discord_emulator,
with a real NewsEngine on a temporary data directory. Nothing here mocks the bot: helpers
only set up the world (a server, its channels and members, some articles), start the bot,
drive it the way users do and check what Discord would have shown them.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from bot.discord_app.client import NewsBot
from bot.discord_app.startup import sync_commands_async
from bot.engine import NewsEngine
from bot.settings import Config
from index.embedding import BatchProgress, HashingEmbedder
from tests.conftest import make_fast_config
from tests.discord_emulator import (
    DEFAULT_BOT_PERMISSIONS,
    Channel,
    DiscordAPIError,
    DiscordEmulator,
    Guild,
    Interaction,
    Member,
    Message,
    Permission,
    Role,
    point_discord_py_at,
    running_client,
)
from tests.discord_emulator.validation import validate_message

FOLLOWUP = "/webhooks/{application_id}/{token}"
EDIT_ORIGINAL = "/webhooks/{application_id}/{token}/messages/{message_id}"
CALLBACK = "/interactions/{interaction_id}/{token}/callback"
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
THREADS_ROUTE = "/channels/{channel_id}/messages/{message_id}/threads"
#: What an invite link asks for when the server uses thread per question.
THREAD_BOT_PERMISSIONS = (
    DEFAULT_BOT_PERMISSIONS | Permission.CREATE_PUBLIC_THREADS | Permission.SEND_MESSAGES_IN_THREADS
)
#: What the asker is told when answering failed unexpectedly (a bug, not a refusal).
APOLOGY = re.compile(
    r"Something went wrong on my side \(error id ([0-9a-f]{8})\)\. Please try again later\."
)

# Time allowed for one bot round trip; generous because the CI box has 2 busy cores.
WAIT_S = 20.0

# --------------------------------------------------------------------------- articles


def article_file(
    title: str,
    body: str,
    *,
    url: str | None = None,
    source: str | None = None,
    published: str | None = None,
) -> bytes:
    """A Markdown/plain-text article with front matter, as /news add-file and add_bytes take."""
    meta = [f"title: {title}"]
    if url:
        meta.append(f"url: {url}")
    if source:
        meta.append(f"source: {source}")
    if published:
        meta.append(f"published: {published}")
    return ("---\n" + "\n".join(meta) + "\n---\n" + body.strip() + "\n").encode()


TALKS_TITLE = "Peace talks at the Belarus border end without a ceasefire"
TALKS_URL = "https://news.example/world/belarus-talks"
FLOODS_TITLE = "Monsoon floods in Pakistan leave millions homeless"
RATES_TITLE = "Central bank raises interest rates to 5.25 percent"
FINAL_TITLE = "Harbour City wins the cup final on penalties"

ARTICLES: dict[str, bytes] = {
    "talks.txt": article_file(
        TALKS_TITLE,
        """
Delegations from Russia and Ukraine met for about five hours at the Belarus border on Monday.
The talks ended without a ceasefire, but both sides agreed to a second round of negotiations.
Ukrainian officials said the priority was an immediate end to the shelling of Kyiv and Kharkiv.
The Kremlin repeated its demand that Crimea be recognised as Russian territory.

The United Nations refugee agency said more than 500,000 refugees have fled Ukraine into
Poland, Hungary, Moldova and Romania since the invasion began. Long queues of cars stretched
for kilometres at the Polish border crossings.
""",
        url=TALKS_URL,
        source="World Desk",
        published="2022-03-01",
    ),
    "floods.txt": article_file(
        FLOODS_TITLE,
        """
Record monsoon rains have flooded a third of Pakistan, the climate minister said on Tuesday.
More than 1,100 people have died since June and 33 million people have been affected by the
floods. About 400,000 displaced people are sheltering in relief camps run by the army in Sindh
province. Aid agencies warned of cholera outbreaks in the camps.
""",
        url="https://news.example/asia/pakistan-floods",
        source="Asia Desk",
        published="2022-08-30",
    ),
    "rates.txt": article_file(
        RATES_TITLE,
        """
The central bank raised its main interest rate by a quarter point to 5.25 percent on Thursday,
the fourteenth increase in a row. The governor said inflation was still far above the two
percent target. Mortgage lenders are expected to pass on the higher borrowing costs to
homeowners within weeks.
""",
        url="https://news.example/business/rates",
        source="Business Desk",
        published="2023-08-03",
    ),
    "final.txt": article_file(
        FINAL_TITLE,
        """
Harbour City won the cup final on Saturday after beating Riverside 4-3 on penalties. The match
ended 1-1 after extra time in front of 80,000 fans. Goalkeeper Sam Okafor saved two penalties
and was named player of the match.
""",
        url="https://news.example/sport/cup-final",
        source="Sport Desk",
        published="2023-05-20",
    ),
}

TALKS_QUESTION = "What happened at the peace talks at the Belarus border?"


def seeded_engine(
    config: Config,
    embedder: Any,
    articles: dict[str, bytes] | None = None,
    *,
    collection: str = "shared",
) -> NewsEngine:
    """A NewsEngine on config's data dir holding `articles` (default: ARTICLES) in
    `collection` (default: the shared one, which every server searches)."""
    engine = NewsEngine(config, embedder=embedder)
    for name, data in (ARTICLES if articles is None else articles).items():
        report = engine.add_bytes(name, data, collection=collection)
        assert report.added or report.unchanged, (name, report.skipped)
    return engine


# --------------------------------------------------------------------------- embedders


class GatedEmbedder(HashingEmbedder):
    """The hashing test embedder, but bulk embedding for the store (calls that report
    progress: add and rebuild) pauses after its first batch until `release` is set.

    Queries and the answerer's sentence scoring embed without progress and are never held,
    so a rebuild can be caught in the middle, deterministically, while questions go on.
    """

    def __init__(self, *, hold_s: float = 30.0) -> None:
        super().__init__()
        self.hold_s = hold_s
        self.holding = threading.Event()  # a bulk embed is waiting on `release`
        self.release = threading.Event()
        self.bulk_calls = 0

    def embed(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: BatchProgress | None = None
    ) -> np.ndarray:
        if progress is None:
            return super().embed(texts, batch_size=batch_size)
        self.bulk_calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            stop = min(len(texts), start + batch_size)
            out[start:stop] = super().embed(texts[start:stop], batch_size=batch_size)
            progress(stop, len(texts))
            if start == 0 and not self.release.is_set():
                self.holding.set()
                self.release.wait(self.hold_s)  # never hangs the test run for good
        return out


class HeldEngine(NewsEngine):
    """A real engine whose answers to the questions in `hold` wait (in the worker thread)
    until `release` is set, so a test can keep question slots busy for as long as it needs.
    `held` counts the questions waiting right now."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hold: set[str] = set()
        self.release = threading.Event()
        self.held = 0
        self._count = threading.Lock()

    def ask(self, question: str, **kwargs: Any):  # type: ignore[override]
        if question in self.hold and not self.release.is_set():
            with self._count:
                self.held += 1
            try:
                self.release.wait(30)  # never hangs the test run for good
            finally:
                with self._count:
                    self.held -= 1
        return super().ask(question, **kwargs)


class BrokenEngine(NewsEngine):
    """An engine whose answering is broken in an unexpected way (a bug, not a refusal)."""

    def ask(self, question: str, **kwargs: Any):  # type: ignore[override]
        raise RuntimeError("the vector index caught fire")


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    emu: DiscordEmulator
    guild: Guild
    general: Channel
    news: Channel
    random: Channel
    editors: Role
    readers: Role
    admin: Member  # Manage Server through the editors role
    alice: Member
    bob: Member


def build_world(emu: DiscordEmulator, *, bot_permissions: int | None = None) -> World:
    kwargs = {} if bot_permissions is None else {"bot_permissions": bot_permissions}
    guild = emu.add_guild("Newsroom", **kwargs)
    general = guild.add_text_channel("general")
    news = guild.add_text_channel("news")
    random = guild.add_text_channel("random")
    editors = guild.add_role("editors", Permission.MANAGE_GUILD)
    readers = guild.add_role("readers", mentionable=True)
    return World(
        emu=emu,
        guild=guild,
        general=general,
        news=news,
        random=random,
        editors=editors,
        readers=readers,
        admin=guild.add_member("erin", roles=[editors]),
        alice=guild.add_member("alice", roles=[readers]),
        bob=guild.add_member("bob"),
    )


def e2e_config(data_dir: Path, **discord: object) -> Config:
    """The fast test config (conftest.make_fast_config) with no per-user cooldown unless a
    test sets one, and these [discord] settings."""
    return make_fast_config(data_dir, discord={"cooldown_s": 0, **discord})


@pytest.fixture(name="data_dir")
def e2e_data_dir(tmp_path: Path) -> Path:
    """The bot's data directory. In an e2e module: ``data_dir = e2e_data_dir``."""
    return tmp_path / "data"


@pytest.fixture(name="world")
def e2e_world(emulator: DiscordEmulator) -> World:
    """build_world with the default bot permissions. In an e2e module: ``world = e2e_world``."""
    return build_world(emulator)


@pytest.fixture(name="world")
def e2e_thread_world(emulator: DiscordEmulator) -> World:
    """build_world whose bot may also open and post in threads (thread per question). In an
    e2e module: ``world = e2e_thread_world``."""
    return build_world(emulator, bot_permissions=THREAD_BOT_PERMISSIONS)


def with_token(config: Config, token: str) -> Config:
    return dataclasses.replace(config, discord=dataclasses.replace(config.discord, token=token))


async def sync_commands(emu: DiscordEmulator, config: Config, guild: Guild | None) -> list[str]:
    """`newsbot sync --guild ID` (None: `newsbot sync --global`, needed for DMs) against the
    emulator; the bot never syncs on start."""
    _, names = await sync_commands_async(
        with_token(config, emu.token),
        guild.id if guild is not None else None,
        globally=guild is None,
        api_base=emu.base_url,
    )
    return names


@asynccontextmanager
async def bot_running(
    emu: DiscordEmulator, engine: NewsEngine, config: Config
) -> AsyncIterator[NewsBot]:
    """A NewsBot connected to the emulator until the block ends (then closed, like Ctrl-C)."""
    bot = NewsBot(engine, config, api_base=emu.base_url)
    async with running_client(emu, bot):
        yield bot


@asynccontextmanager
async def seeded_bot(
    emu: DiscordEmulator,
    config: Config,
    embedder: Any,
    guild: Guild,
    articles: dict[str, bytes] | None = None,
) -> AsyncIterator[NewsBot]:
    """engine_bot on a new seeded_engine."""
    async with engine_bot(emu, seeded_engine(config, embedder, articles), config, guild) as bot:
        yield bot


@asynccontextmanager
async def engine_bot(
    emu: DiscordEmulator, engine: NewsEngine, config: Config, *guilds: Guild
) -> AsyncIterator[NewsBot]:
    """synced_bot on `engine`, which is closed when the block ends (or the sync fails)."""
    try:
        async with synced_bot(emu, engine, config, *guilds) as bot:
            yield bot
    finally:
        engine.close()


@asynccontextmanager
async def synced_bot(
    emu: DiscordEmulator, engine: NewsEngine, config: Config, *guilds: Guild
) -> AsyncIterator[NewsBot]:
    """bot_running, commands synced to each of `guilds` first; the engine stays open."""
    for guild in guilds:
        await sync_commands(emu, config, guild)
    async with bot_running(emu, engine, config) as bot:
        yield bot


# --------------------------------------------------------------------------- driving


async def invoke(
    emu: DiscordEmulator,
    name: str,
    *,
    user: Member,
    channel: Channel,
    options: dict[str, Any] | None = None,
    until: Callable[[Interaction], bool] | None = None,
    **kwargs: Any,
) -> Interaction:
    """Run /name and wait until the user sees an answer (or `until` holds)."""
    inter = await emu.invoke_command(name, user=user, channel=channel, options=options, **kwargs)
    await emu.wait_for_response(inter, predicate=until, timeout=WAIT_S)
    return inter


async def admin_command(
    world: World,
    name: str,
    *,
    until: Callable[[Interaction], bool] | None = None,
    **options: Any,
) -> Interaction:
    """The server admin runs /name in #general with these options (see invoke)."""
    return await invoke(
        world.emu, name, user=world.admin, channel=world.general, options=options, until=until
    )


async def ask(
    emu: DiscordEmulator,
    question: str,
    *,
    user: Member,
    channel: Channel,
    until: Callable[[Interaction], bool] | None = None,
) -> Interaction:
    """The user runs /ask `question` (see invoke)."""
    return await invoke(
        emu, "ask", user=user, channel=channel, options={"question": question}, until=until
    )


async def mention(
    emu: DiscordEmulator,
    channel: Channel,
    user: Member,
    text: str,
    *,
    reply_to: Message | None = None,
) -> tuple[Message, Message]:
    """A user @mentions the bot (or replies to it); returns (their message, the bot's reply)."""
    content = text if reply_to is not None else f"{emu.bot_user.mention} {text}"
    asked = await emu.send_message(channel, user, content, reply_to=reply_to)
    return asked, await emu.wait_for_reply(asked, timeout=WAIT_S)


async def click(
    emu: DiscordEmulator,
    message: Message,
    label: str,
    *,
    user: Member,
    until: Callable[[Interaction], bool] | None = None,
) -> Interaction:
    """A user clicks the button `label` on `message`; waits like invoke."""
    inter = await emu.click_button(message, user=user, label=label)
    await emu.wait_for_response(inter, predicate=until, timeout=WAIT_S)
    return inter


def done_with(prefix: str) -> Callable[[Interaction], bool]:
    """wait_for_response predicate: the visible response's content starts with `prefix`."""

    def check(inter: Interaction) -> bool:
        return bool(inter.messages) and inter.response.content.startswith(prefix)

    return check


# --------------------------------------------------------------------------- checking


def only_embed(message: Message) -> dict:
    assert len(message.embeds) == 1, message.embeds
    return message.embeds[0]


def assert_within_limits(message: Message) -> None:
    """Discord's message limits (the emulator's validate_message: content, embeds and their
    6,000-character total, fields, footer, components), checked on the message as the
    emulator stored it, so a route or an edit that got past validation shows here too."""
    body = {
        "content": message.content,
        "embeds": message.embeds,
        "components": message.components,
        "flags": message.flags,
    }
    try:
        validate_message(body)
    except DiscordAPIError as error:
        raise AssertionError(f"Discord would reject message {message.id}: {error.errors}") from None


def assert_pings_nobody(message: Message) -> None:
    assert message.mentions == [], message.mentions
    assert message.mention_roles == [], message.mention_roles
    assert message.mention_everyone is False


def assert_asks_no_pings(body: dict) -> None:
    """A message body's allowed_mentions lets nothing ping: no parse, users, roles, reply ping."""
    allowed = body.get("allowed_mentions")
    assert allowed is not None, body
    assert allowed["parse"] == [], allowed
    assert not allowed.get("users") and not allowed.get("roles"), allowed
    assert not allowed.get("replied_user"), allowed


def initial_response_s(emu: DiscordEmulator, inter: Interaction) -> float:
    """Seconds from the interaction's dispatch to the bot's callback (Discord allows 3)."""
    calls = [
        r
        for r in emu.requests_to("POST", CALLBACK)
        if r.params.get("interaction_id") == str(inter.id) and r.status in (200, 204)
    ]
    assert calls, f"no accepted callback for interaction {inter.id}"
    return calls[0].at + emu.time_offset - inter.created_at


def rejected(emu: DiscordEmulator) -> list[str]:
    """Requests the emulator refused (other than injected rate limits): should be none."""
    return [
        f"{r.method} {r.path} -> {r.status}: {r.response}"
        for r in emu.requests
        if r.status is not None and r.status >= 400 and r.status != 429
    ]


# --------------------------------------------------------------------------- rate limits


@dataclass
class RateLimitTally:
    """The 429s the bot provoked across the whole e2e suite (the emulator's own rate limits,
    not the ones a test injects with emu.rate_limit). Normal operation must provoke none."""

    tests: int = 0
    requests: int = 0
    provoked: list[str] = field(default_factory=list)  # "test: METHOD path (scope)"
    excused: list[str] = field(default_factory=list)  # from provokes_rate_limits tests

    def add(self, test: str, emu: DiscordEmulator, *, excused: bool) -> None:
        self.tests += 1
        self.requests += len(emu.requests)
        lines = [
            f"{test}: {r.method} {r.path} ({r.response_headers.get('X-RateLimit-Scope')})"
            for r in emu.rate_limiter.provoked
        ]
        (self.excused if excused else self.provoked).extend(lines)

    def summary(self) -> str:
        return (
            f"Discord e2e: {self.tests} tests, {self.requests} REST requests, "
            f"{len(self.provoked)} 429s provoked in normal operation"
            + (f" ({len(self.excused)} more in provokes_rate_limits tests)" if self.excused else "")
        )


RATE_LIMITS = RateLimitTally()


@pytest_asyncio.fixture(name="emulator")
async def e2e_emulator(request: pytest.FixtureRequest) -> AsyncIterator[DiscordEmulator]:
    """A fresh emulator per test, discord.py pointed at it; the 429s the bot provoked go to
    the suite's tally (RATE_LIMITS). In an e2e module: ``emulator = e2e_emulator``."""
    async with DiscordEmulator() as emu:
        with point_discord_py_at(emu):
            yield emu
    emu.raise_for_errors()
    excused = request.node.get_closest_marker("provokes_rate_limits") is not None
    RATE_LIMITS.add(request.node.nodeid, emu, excused=excused)


@pytest.fixture(scope="module", autouse=True)
def e2e_no_rate_limits_provoked() -> Iterator[None]:
    """Fails the run if a test of the module made the bot hit a Discord rate limit in normal
    operation (a test that does it on purpose is marked provokes_rate_limits). In an e2e
    module: ``no_rate_limits_provoked = e2e_no_rate_limits_provoked``."""
    before = len(RATE_LIMITS.provoked)
    yield
    provoked = RATE_LIMITS.provoked[before:]
    assert provoked == [], f"the bot provoked {len(provoked)} 429(s): {provoked}"


# --------------------------------------------------------------------------- a web server


@dataclass
class LoopbackSite:
    """A real HTTP server on 127.0.0.1 serving fixed pages, in a background thread."""

    pages: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path: (type, body)
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @contextmanager
    def serving(self) -> Iterator[LoopbackSite]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                page = site.pages.get(self.path.split("?")[0])
                if page is None:
                    self.send_error(404)
                    return
                kind, body = page
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, name="loopback-site", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


def news_page(title: str, paragraphs: Sequence[str], *, site_name: str = "Loopback News") -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title>"
        f'<meta property="og:title" content="{title}">'
        f'<meta property="og:site_name" content="{site_name}">'
        f'<meta property="article:published_time" content="2024-04-02T09:00:00Z">'
        f"</head><body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1>{body}"
        f"</article></body></html>"
    ).encode()
