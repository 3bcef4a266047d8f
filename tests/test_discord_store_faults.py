"""The Discord side of a store that cannot be reached: the asker gets a short 'try again',
with nothing of the internals, through the central error handling (bot/discord_app/errors.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.discord_app.errors import STORE_UNAVAILABLE
from bot.engine import NewsEngine
from index.embedding import HashingEmbedder
from index.errors import StoreUnavailable
from tests.conftest import make_fast_config
from tests.discord_e2e_helpers import (
    TALKS_QUESTION,
    ask,
    bot_running,
    build_world,
    e2e_emulator,
    e2e_no_rate_limits_provoked,
    mention,
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
