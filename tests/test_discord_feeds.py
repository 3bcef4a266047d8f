"""/news follow, /news unfollow and /news feeds in the Discord emulator, against the loopback
feed server of test_following: each server follows feeds into its own collection, a feed two
servers follow is fetched once, a failing feed is reported, and polling runs in `newsbot run`
off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.discord_app.client import NewsBot
from bot.engine import NewsEngine
from bot.settings import Config
from index.embedding import HashingEmbedder
from index.feedstate import FeedBook
from tests.conftest import make_fast_config
from tests.discord_e2e_helpers import (
    World,
    admin_command,
    bot_running,
    build_world,
    rejected,
    sync_commands,
)
from tests.discord_emulator import DiscordEmulator, fixtures
from tests.test_following import FeedServer

pytestmark = pytest.mark.asyncio(loop_scope="session")
emulator = fixtures.emulator


@pytest.fixture
def world(emulator: DiscordEmulator) -> World:
    return build_world(emulator)


@pytest.fixture
def feed() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


def warm_engine(config: Config) -> NewsEngine:
    """An engine whose first write is done (it loads the entity model, seconds on a loaded
    machine), so that /news follow's first fetch answers within the emulator's wait."""
    engine = NewsEngine(config, embedder=HashingEmbedder())
    engine.add_bytes("warm-up.txt", b"Warm-up story\nThe council met on Monday to talk.\n")
    return engine


def config_at(data_dir: Path, **follow: object) -> Config:
    return make_fast_config(
        data_dir, discord={"cooldown_s": 0},
        fetch={"allow_private": True, "timeout_s": 5},
        follow={"check_every_s": 1, **follow},
    )


async def test_follow_lists_and_unfollow_a_feed(
    emulator: DiscordEmulator, world: World, feed: FeedServer, tmp_path: Path
) -> None:
    feed.publish(1)
    feed.publish(2)
    config = config_at(tmp_path / "data")
    engine = warm_engine(config)
    other = emulator.add_guild("Elsewhere")
    try:
        await sync_commands(emulator, config, world.guild)
        async with bot_running(emulator, engine, config) as bot:
            followed = await admin_command(world, "news follow", url=feed.url, every="30m")
            text = followed.response.content
            assert followed.response.ephemeral
            assert text.startswith(f"Following <{feed.url}> every 30m."), text
            assert "2 articles added" in text and "Council story 2" in text

            book = FeedBook(engine.store.db)
            [row] = book.feeds()
            assert row.followers == {f"guild:{world.guild.id}": 1800}
            assert book.feeds(f"guild:{other.id}") == []
            db = engine.store.db
            assert len(db.articles_in(f"guild:{world.guild.id}")) == 2  # this server's own
            assert db.articles_in(f"guild:{other.id}") == []
            assert [a.title for a in db.articles_in("shared")] == ["Warm-up story"]

            listed = await admin_command(world, "news feeds")
            shown = listed.response.content
            assert "1 feed followed" in shown and "every 30m" in shown
            assert "last fetch <t:" in shown and "last new article <t:" in shown

            too_often = await admin_command(world, "news follow", url=feed.url, every="1m")
            assert "5 minutes" in too_often.response.content
            assert book.feeds()[0].interval_s == 1800

            gone = await admin_command(world, "news unfollow", url=feed.url)
            assert gone.response.content.startswith(f"No longer following <{feed.url}>")
            assert book.feeds() == []
            again = await admin_command(world, "news unfollow", url=feed.url)
            assert again.response.content.startswith("This server does not follow")
            assert bot.poll_feeds
        assert rejected(emulator) == []
    finally:
        engine.close()


async def test_a_failing_feed_is_reported_and_polling_runs_in_the_bot(
    emulator: DiscordEmulator, world: World, feed: FeedServer, tmp_path: Path
) -> None:
    feed.publish(1)
    # 5 minutes is the floor; the test moves next_due itself so the running bot's poller sees
    # the feed due at once.
    config = config_at(tmp_path / "data", jitter=0.0)
    engine = warm_engine(config)
    try:
        await sync_commands(emulator, config, world.guild)
        async with bot_running(emulator, engine, config) as bot:
            assert isinstance(bot, NewsBot)
            await admin_command(world, "news follow", url=feed.url, every="5m")
            book = FeedBook(engine.store.db)
            feed.fail_with = 500
            for expected in (1, 2, 3):
                with engine.store.db.transaction() as tx:
                    tx.execute("UPDATE feeds SET next_due = 0")
                for _ in range(200):  # the bot's polling thread picks it up within seconds
                    await asyncio.sleep(0.05)
                    if book.feeds()[0].failures >= expected:
                        break
                assert book.feeds()[0].failures == expected
            listed = await admin_command(world, "news feeds")
            shown = listed.response.content
            assert "**failing** (3 times in a row)" in shown
            assert "last error <t:" in shown and "HTTP 500" in shown
            stats = await admin_command(world, "news stats")
            [embed] = stats.response.embeds
            assert any("Feeds: 1 followed, 1 failing" in f["value"] for f in embed["fields"])

            feed.fail_with = None
            feed.publish(2)
            with engine.store.db.transaction() as tx:
                tx.execute("UPDATE feeds SET next_due = 0")
            for _ in range(200):
                await asyncio.sleep(0.05)
                if book.feeds()[0].failures == 0:
                    break
            assert book.feeds()[0].failures == 0
            titles = {a.title for a in engine.store.db.articles_in(f"guild:{world.guild.id}")}
            assert titles == {"Council story 1", "Council story 2"}
            listed = await admin_command(world, "news feeds")
            assert "failing" not in listed.response.content
        assert rejected(emulator) == []
    finally:
        engine.close()


async def test_a_feed_with_entries_left_and_failing_says_so(
    emulator: DiscordEmulator, world: World, feed: FeedServer, tmp_path: Path
) -> None:
    from tests.test_feed_backlog import dead

    for n in (1, 2, 3):
        feed.publish(n)
    dead(feed, 0)
    dead(feed, 1)  # listed first: they take the first poll's whole budget of two
    config = config_at(tmp_path / "data", max_entries_per_poll=2)
    engine = warm_engine(config)
    try:
        await sync_commands(emulator, config, world.guild)
        async with bot_running(emulator, engine, config):
            followed = await admin_command(world, "news follow", url=feed.url, every="30m")
            text = followed.response.content
            assert "0 articles added, 2 skipped." in text, text
            assert "3 entries left for later polls, 2 failing (tried again later)." in text
            listed = await admin_command(world, "news feeds")
            shown = listed.response.content
            assert "entries not stored yet: 3 waiting, 2 failing (tried again later)" in shown
        assert rejected(emulator) == []
    finally:
        engine.close()
