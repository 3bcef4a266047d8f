"""The Discord side of a store that cannot be reached, or that hangs: the asker gets a short
'try again', with nothing of the internals, through the central error handling
(bot/discord_app/errors.py); a question that gets no answer from the store within
discord.answer_timeout_s is given up (its slot and cooldown back), and once the store answers
again so do the questions.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.discord_app.client import NewsBot
from bot.discord_app.errors import STORE_UNAVAILABLE, TOOK_TOO_LONG
from bot.engine import NewsEngine
from bot.guilds.settings import GuildSettings
from bot.guilds.sqlite import SqliteGuildDatabase
from index.embedding import HashingEmbedder
from index.errors import StoreUnavailable
from tests.conftest import backend_config, make_fast_config
from tests.discord_e2e_helpers import (
    ARTICLES,
    TALKS_QUESTION,
    WAIT_S,
    ask,
    bot_running,
    build_world,
    click,
    e2e_emulator,
    e2e_no_rate_limits_provoked,
    mention,
    only_embed,
    running_client,
    seeded_engine,
    sync_commands,
)
from tests.discord_emulator import DiscordEmulator

pytestmark = pytest.mark.asyncio(loop_scope="session")
emulator = e2e_emulator
no_rate_limits_provoked = e2e_no_rate_limits_provoked

LOST = "PostgreSQL at postgresql://newsbot:***@db.internal/news: server closed the connection"


class StoreDownEngine(NewsEngine):
    """A real engine whose store's server has just gone away (what the PostgreSQL backend
    raises when its connection is lost)."""

    def ask(self, question: str, **kwargs: Any):  # type: ignore[override]
        raise StoreUnavailable(LOST)


async def test_a_question_while_the_store_is_unreachable_gets_try_again(
    emulator: DiscordEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="newsbot.discord")
    world = build_world(emulator)
    config = make_fast_config(tmp_path / "data", discord={"cooldown_s": 0})
    engine = StoreDownEngine(config, embedder=HashingEmbedder())
    try:
        await sync_commands(emulator, config, world.guild)
        async with bot_running(emulator, engine, config):
            inter = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
            _, reply = await mention(emulator, world.general, world.bob, TALKS_QUESTION)
    finally:
        engine.close()
    for message in (inter.response, reply):
        assert message.content == STORE_UNAVAILABLE
        assert "PostgreSQL" not in message.text and "db.internal" not in message.text
        assert message.embeds == [] and message.buttons == []
    # the operator's log says what happened, as a warning, not as a bug with a traceback
    records = [r for r in caplog.records if "store is unreachable" in r.getMessage()]
    assert len(records) == 2
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in records)


FOLLOW_UP = "and how many refugees?"


class LostAfterAnswering(GuildSettings):
    """Real settings whose database goes away between sending an answer and recording the
    answer's message id."""

    def set_answer_message(self, key: str, message_id: int) -> None:
        raise StoreUnavailable(LOST)


async def test_a_store_lost_right_after_answering_leaves_the_answer_alone(
    emulator: DiscordEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer was delivered; recording its message id then fails. The channel sees the
    answer and nothing after it (no public "store unreachable" under it, no private one
    after /ask); the operator's log has the warning; a reply to the answer still follows
    up on it."""
    caplog.set_level(logging.INFO, logger="newsbot.discord")
    world = build_world(emulator)
    config = make_fast_config(tmp_path / "data", discord={"cooldown_s": 0})
    engine = seeded_engine(config, HashingEmbedder())
    settings = LostAfterAnswering(SqliteGuildDatabase(tmp_path / "bot.db"))

    async def logged(count: int) -> None:
        await emulator.wait_until(
            lambda: len([
                r for r in caplog.records if r.getMessage().startswith("bookkeeping after answer")
            ]) >= count or None,
            timeout=WAIT_S, description=f"{count} bookkeeping warnings logged",
        )

    try:
        await sync_commands(emulator, config, world.guild)
        bot = NewsBot(engine, config, guild_store=settings, api_base=emulator.base_url)
        async with running_client(emulator, bot):
            _, answered = await mention(emulator, world.general, world.bob, TALKS_QUESTION)
            await logged(1)
            inter = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
            await logged(2)
            _, follow_up = await mention(
                emulator, world.general, world.bob, FOLLOW_UP, reply_to=answered
            )
            await logged(3)
            key = follow_up.button(label="Show sources")["custom_id"].rsplit(":", 1)[1]
            follow_up_stored = settings.get_answer(key)
    finally:
        engine.close()
        settings.close()
    assert only_embed(answered)["title"] == TALKS_QUESTION
    assert only_embed(inter.response)["title"] == TALKS_QUESTION and inter.followups == []
    # answered as a follow-up of the first (found from the answer's embed, since its
    # message id was never recorded): the first question is its context
    assert only_embed(follow_up)["title"] == FOLLOW_UP
    assert follow_up_stored is not None and follow_up_stored.context == TALKS_QUESTION
    mine = [m for m in emulator.state.all_messages() if m.author.id == emulator.bot_user.id]
    assert [m.id for m in mine] == [answered.id, inter.response.id, follow_up.id]
    records = [r for r in caplog.records if r.getMessage().startswith("bookkeeping after")]
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in records)
    assert "store is unreachable" in records[0].getMessage()


class FrozenAnswers(GuildSettings):
    """Real settings whose stored answers cannot be read while `frozen` is set: the read
    blocks (in its worker thread, as one from a frozen database server does) until `thaw`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frozen = threading.Event()
        self.thaw = threading.Event()

    def get_answer(self, key: str):  # type: ignore[no-untyped-def]
        if self.frozen.is_set():
            self.thaw.wait(30)  # never hangs the test run for good
        return super().get_answer(key)


async def test_an_answer_button_while_the_store_hangs_gets_try_again_in_time(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    """"Show sources" and the feedback buttons read the stored answer: on a store that never
    answers, the one who clicked gets a private "took too long" within Discord's 3 s (the
    emulator refuses a later first response, as Discord does), not "This interaction
    failed"; once it answers again the buttons work."""
    world = build_world(emulator)
    config = make_fast_config(tmp_path / "data", discord={"cooldown_s": 0})
    engine = seeded_engine(config, HashingEmbedder())
    settings = FrozenAnswers(SqliteGuildDatabase(tmp_path / "bot.db"))
    try:
        await sync_commands(emulator, config, world.guild)
        bot = NewsBot(engine, config, guild_store=settings, api_base=emulator.base_url)
        async with running_client(emulator, bot):
            _, answered = await mention(emulator, world.general, world.bob, TALKS_QUESTION)
            settings.frozen.set()
            try:
                pressed = [
                    await click(emulator, answered, label, user=world.alice)
                    for label in ("Show sources", "Helpful")
                ]
            finally:
                settings.thaw.set()
            settings.frozen.clear()
            sources = await click(emulator, answered, "Show sources", user=world.alice)
    finally:
        settings.thaw.set()
        engine.close()
        settings.close()
    for inter in pressed:
        assert inter.response.content == TOOK_TOO_LONG and not inter.response.embeds
        assert inter.response.flags & 64  # private
    assert sources.response.embeds and sources.response.flags & 64


# -- a store that hangs ------------------------------------------------------------------------
DEADLINE_S = 1.5  # discord.answer_timeout_s here
# Long enough for the deadline and the reply on a busy machine, and short enough that a bot
# without the deadline (it would never reply) fails the test quickly.
REPLY_WAIT_S = 12.0


class FrozenStoreEngine(NewsEngine):
    """A real engine whose answering blocks (in the worker thread, as a call to a frozen
    database server does) until `thaw` is set; `calls` counts the asks that ran, `stuck`
    those blocked right now."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.thaw = threading.Event()
        self.calls = 0
        self.stuck = 0
        self._count = threading.Lock()

    def ask(self, question: str, **kwargs: Any):  # type: ignore[override]
        with self._count:
            self.calls += 1
            self.stuck += 1
        try:
            self.thaw.wait(30)  # never hangs the test run for good
        finally:
            with self._count:
                self.stuck -= 1
        return super().ask(question, **kwargs)


def took_too_long(message) -> bool:
    return message.content == TOOK_TOO_LONG and not message.embeds and not message.buttons


async def test_a_question_the_store_never_answers_gets_try_again_and_its_slot_back(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    """One question slot and one worker thread (max_concurrent 1), and a long cooldown: the
    asker hears "took too long" after the deadline, and may ask again at once; a question
    whose engine call was still queued behind the stuck worker gives up too, and that call
    never runs; once the store answers, the stuck worker finishes and the next question is
    answered."""
    world = build_world(emulator)
    config = make_fast_config(
        tmp_path / "data",
        discord={"answer_timeout_s": DEADLINE_S, "max_concurrent": 1, "cooldown_s": 600},
    )
    engine = FrozenStoreEngine(config, embedder=HashingEmbedder())
    for name, data in ARTICLES.items():
        engine.add_bytes(name, data)
    try:
        await sync_commands(emulator, config, world.guild)
        async with bot_running(emulator, engine, config) as bot:
            try:
                asked = await emulator.send_message(
                    world.general, world.alice, f"{emulator.bot_user.mention} {TALKS_QUESTION}"
                )
                reply = await emulator.wait_for_reply(asked, timeout=REPLY_WAIT_S)
                assert took_too_long(reply)
                assert bot.questions.active == 0  # the slot is free, its worker still stuck
                assert engine.stuck == 1
                # the same asker at once (the cooldown was lifted); its engine call waits for
                # the only worker, and is dropped when the question gives up
                inter = await emulator.invoke_command(
                    "ask", user=world.alice, channel=world.general,
                    options={"question": TALKS_QUESTION},
                )
                await emulator.wait_for_response(
                    inter, predicate=lambda i: bool(i.messages) and took_too_long(i.response),
                    timeout=REPLY_WAIT_S,
                )
                assert bot.questions.active == 0
            finally:
                engine.thaw.set()
            await emulator.wait_until(
                lambda: engine.stuck == 0, timeout=WAIT_S, description="the stuck worker done"
            )
            _, answered = await mention(emulator, world.general, world.alice, TALKS_QUESTION)
            assert only_embed(answered)["title"] == TALKS_QUESTION
            assert engine.calls == 2  # the first question and the last: the queued one never ran
    finally:
        engine.thaw.set()
        engine.close()


async def test_a_frozen_database_server_gets_try_again_and_then_answers_again(
    emulator: DiscordEmulator, embedded_pg, pg_url: str, tmp_path: Path
) -> None:
    """Every process of the embedded PostgreSQL stopped (SIGSTOP): it accepts connections and
    never answers, so no timeout of its own fires. A mention gets "took too long" after the
    deadline, and /ask within Discord's 3 s for its acknowledgement (the deadline is longer);
    resumed, the same bot answers both without a restart."""
    world = build_world(emulator)
    config = backend_config(
        "postgres", tmp_path / "data", pg_url,
        # past Discord's 3 s: /ask's checks before its acknowledgement have a bound of their own
        discord={"answer_timeout_s": 4.0, "cooldown_s": 0},
        follow={"in_run": False},  # no feed poller borrowing connections meanwhile
    )
    engine = seeded_engine(config, HashingEmbedder())
    try:
        await sync_commands(emulator, config, world.guild)
        async with bot_running(emulator, engine, config) as bot:
            _, answered = await mention(emulator, world.general, world.bob, TALKS_QUESTION)
            assert only_embed(answered)["title"] == TALKS_QUESTION
            # its bookkeeping after the reply done too, so the pool holds an idle connection
            await emulator.wait_until(
                lambda: bot.guild_store.answer_for_message(answered.id), timeout=WAIT_S,
                description="the answer's message id stored",
            )
            await asyncio.sleep(0.5)
            with embedded_pg.frozen():
                asked = await emulator.send_message(
                    world.general, world.alice, f"{emulator.bot_user.mention} {TALKS_QUESTION}"
                )
                reply = await emulator.wait_for_reply(asked, timeout=REPLY_WAIT_S)
                inter = await emulator.invoke_command(
                    "ask", user=world.bob, channel=world.general,
                    options={"question": TALKS_QUESTION},
                )
                await emulator.wait_for_response(inter, timeout=REPLY_WAIT_S)
                assert bot.questions.active == 0
            print(f"/ask while frozen: {inter.response.content!r}")
            # the mention's first call took the idle connection, whose check never returns
            assert took_too_long(reply)
            # /ask's checks then wait for another connection: an idle one never answers
            # either (took too long), or the pool opens a new one, which never completes,
            # and gives up after its 2 s (unreachable); both within Discord's 3 s
            assert inter.response.content in (TOOK_TOO_LONG, STORE_UNAVAILABLE)
            assert not inter.response.embeds and inter.response.flags & 64  # private
            _, answered = await mention(emulator, world.general, world.alice, TALKS_QUESTION)
            assert only_embed(answered)["title"] == TALKS_QUESTION
            inter = await ask(emulator, TALKS_QUESTION, user=world.bob, channel=world.general)
            assert only_embed(inter.response)["title"] == TALKS_QUESTION
    finally:
        engine.close()
