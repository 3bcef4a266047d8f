"""Two bot processes, each with its own shards of one shard count, sharing one store in a real
(embedded) PostgreSQL, against the Discord emulator: each answers the servers on its shards;
the per-server settings live in the shared database (what one process writes is there for
every process, and a change made elsewhere holds in a running bot from its next question);
exactly one polls the followed feeds and, killed, is replaced within its check interval; the
database stopped mid-run gets 'try again', and once it is back the next question is answered
without restarting the bot.

Discord delivers a server's interactions to the one session of its shard only, so no single
server's setting can be written through one process and read through the other here; the
settings test is in two halves, each through a real process: a setting written through
process A lands in the shared database, and a setting written to that database by someone
else (this test, with the same GuildSettings code) is obeyed by the running process B.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from bot.discord_app.errors import STORE_UNAVAILABLE
from bot.guilds.settings import open_guild_settings
from index.collections import SHARED
from index.embedding import HashingEmbedder
from index.feedstate import FeedBook
from index.postgres.connection import LOCK_SPACE
from index.postgres.database import PgDatabase
from tests.conftest import FAST_ANSWER, ROOT, backend_config
from tests.discord_e2e_helpers import (
    TALKS_QUESTION,
    WAIT_S,
    ask,
    e2e_emulator,
    e2e_no_rate_limits_provoked,
    invoke,
    mention,
    only_embed,
    seeded_engine,
    sync_commands,
)
from tests.discord_emulator import DiscordEmulator, Permission
from tests.test_following import FeedServer

pytestmark = pytest.mark.asyncio(loop_scope="session")
emulator = e2e_emulator
no_rate_limits_provoked = e2e_no_rate_limits_provoked

CHECK_EVERY_S = 2  # follow.check_every_s of both processes
LEADER_LINE = "leader: this process now runs the feed poller"
FEED_POLLER_LOCK = 2  # bot/feeds/leader.py's advisory-lock key


@dataclass
class BotProcess:
    """One `newsbot run --shards I --shard-count N` equivalent (tests/bot_process.py)."""

    name: str
    proc: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def leads(self) -> bool:
        return LEADER_LINE in self.text()


def start_bot(name: str, shard: int, count: int, *, api_base: str, token: str, url: str,
              data_dir: Path, log_dir: Path) -> BotProcess:
    params = {
        "config": {
            "store": {"backend": "postgres"},
            "answer": FAST_ANSWER,
            "discord": {"cooldown_s": 0},
            "follow": {"check_every_s": CHECK_EVERY_S, "jitter": 0.0},
            "fetch": {"allow_private": True, "timeout_s": 5},
        },
        "data_dir": str(data_dir), "api_base": api_base,
        "shards": str(shard), "shard_count": count,
    }
    log = log_dir / f"{name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bot_process", json.dumps(params)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
                 "DISCORD_TOKEN": token, "NEWSBOT_DATABASE_URL": url},
        )
    return BotProcess(name, proc, log)


def stop(bot: BotProcess) -> None:
    if bot.proc.poll() is None:
        bot.proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            bot.proc.wait(30)
        except subprocess.TimeoutExpired:
            bot.proc.kill()
            bot.proc.wait(10)


def poller_locks(url: str) -> int:
    """How many sessions hold the feed poller's advisory lock."""
    with psycopg.connect(url) as conn:
        return int(conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s",
            (LOCK_SPACE, FEED_POLLER_LOCK),
        ).fetchone()[0])


@pytest.fixture
def feeds() -> Iterator[tuple[FeedServer, FeedServer]]:
    first, second = FeedServer(), FeedServer()
    yield first, second
    first.http.shutdown()
    second.http.shutdown()


async def test_two_processes_share_the_store_settings_and_one_feed_poller(
    emulator: DiscordEmulator, embedded_pg, pg_url: str, tmp_path: Path,
    feeds: tuple[FeedServer, FeedServer],
) -> None:
    first_feed, second_feed = feeds
    servers = {}
    for shard in (0, 1):
        guild = emulator.add_guild(f"on shard {shard}", shard=(shard, 2))
        editors = guild.add_role("editors", Permission.MANAGE_GUILD)
        servers[shard] = (guild, guild.add_text_channel("general"),
                          guild.add_text_channel("news"), guild.add_member("alice"),
                          guild.add_member("erin", roles=[editors]))
    # The shared store: seeded here, one feed followed (due at once).
    config = backend_config("postgres", tmp_path / "seed", pg_url)
    engine = seeded_engine(config, HashingEmbedder())
    try:
        FeedBook(engine.store.db).follow(first_feed.url, SHARED, 3600, now=time.time())
        await sync_commands(emulator, config, None)  # global: every server
    finally:
        engine.close()

    bots = [
        start_bot(name, shard, 2, api_base=emulator.base_url, token=emulator.token, url=pg_url,
                  data_dir=tmp_path / name, log_dir=tmp_path)
        for name, shard in (("a", 0), ("b", 1))
    ]
    by_shard = dict(enumerate(bots))
    settings = open_guild_settings(config.store)
    try:
        await emulator.wait_until(
            lambda: {s.shard for s in emulator.gateway.live_sessions} == {(0, 2), (1, 2)},
            timeout=180, description="both processes' shards connected",
        )
        # Each process answers the server on its shard (Discord sends it there only).
        for shard, (_guild, general, news, alice, _erin) in servers.items():
            inter = await invoke(emulator, "ask", user=alice, channel=news,
                                 options={"question": TALKS_QUESTION},
                                 until=lambda i: bool(i.messages))
            assert only_embed(inter.last_message)["title"] == TALKS_QUESTION, shard
            _, reply = await mention(emulator, general, alice, TALKS_QUESTION)
            assert only_embed(reply)["title"] == TALKS_QUESTION, shard

        # Settings: written through process A, they are in the shared database ...
        guild_a, _, news_a, alice_a, erin_a = servers[0]
        denied = await invoke(emulator, "news channels deny", user=erin_a, channel=news_a,
                              options={"channel": news_a})
        assert denied.response.content, denied.log
        assert settings.list_channels(guild_a.id) == ([], [news_a.id])
        refused = await ask(emulator, TALKS_QUESTION, user=alice_a, channel=news_a)
        assert "don't answer questions in this channel" in refused.response.content
        # ... and one written there by anyone holds in the running process B at once.
        guild_b, _, news_b, alice_b, _ = servers[1]
        settings.deny_channel(guild_b.id, news_b.id)
        refused = await ask(emulator, TALKS_QUESTION, user=alice_b, channel=news_b)
        assert "don't answer questions in this channel" in refused.response.content
        assert settings.reset_channels(guild_b.id) == 1  # and back: answered again
        inter = await invoke(emulator, "ask", user=alice_b, channel=news_b,
                             options={"question": TALKS_QUESTION},
                             until=lambda i: bool(i.messages))
        assert only_embed(inter.last_message)["title"] == TALKS_QUESTION

        # One feed poller: exactly one process took the lease and polled the feed.
        await emulator.wait_until(lambda: first_feed.feed_requests(), timeout=WAIT_S,
                                  description="the first feed polled")
        leaders = [b for b in bots if b.leads()]
        assert len(leaders) == 1, [b.text()[-2000:] for b in bots]
        assert poller_locks(pg_url) == 1
        (leader,) = leaders
        (other,) = [b for b in bots if b is not leader]
        leader.proc.kill()  # SIGKILL: no goodbye, its session's locks go with its connection
        killed_at = time.monotonic()
        leader.proc.wait(10)
        db = PgDatabase(pg_url, 2)  # the shared store, as another process opens it
        try:
            FeedBook(db).follow(second_feed.url, SHARED, 3600, now=time.time())
        finally:
            db.close()
        await emulator.wait_until(lambda: other.leads() and second_feed.feed_requests(),
                                  timeout=WAIT_S, description="the other process polling")
        took_over_s = time.monotonic() - killed_at
        print(f"takeover after SIGKILL: {took_over_s:.1f} s (check interval {CHECK_EVERY_S} s)")
        assert took_over_s < CHECK_EVERY_S + 8  # its next check, with slack for a busy machine
        assert poller_locks(pg_url) == 1

        # The database away mid-run: 'try again'; back: answered, the bot never restarted.
        shard = next(s for s, b in by_shard.items() if b is other)
        _guild, general, _news, alice, _ = servers[shard]
        embedded_pg.stop()
        try:
            _, reply = await mention(emulator, general, alice, TALKS_QUESTION)
            assert reply.content == STORE_UNAVAILABLE
            inter = await ask(emulator, TALKS_QUESTION, user=alice, channel=general)
            assert inter.response.content == STORE_UNAVAILABLE
        finally:
            embedded_pg.start()
        _, reply = await mention(emulator, general, alice, TALKS_QUESTION)
        assert only_embed(reply)["title"] == TALKS_QUESTION
        assert other.proc.poll() is None
    finally:
        settings.close()
        for bot in bots:
            stop(bot)



async def test_sigterm_stops_a_bot_process_as_ctrl_c_does(
    emulator: DiscordEmulator, embedded_pg, pg_url: str, tmp_path: Path
) -> None:
    """SIGTERM (what systemd, Docker and Kubernetes send to stop a service) is a clean stop:
    the gateway is told goodbye (a 1000/1001 close, which ends the session at Discord at
    once) and the process exits 0, instead of dying where it stands (-15)."""
    emulator.add_guild("one server", shard=(0, 1)).add_text_channel("general")
    config = backend_config("postgres", tmp_path / "seed", pg_url)
    seeded_engine(config, HashingEmbedder()).close()
    bot = start_bot("a", 0, 1, api_base=emulator.base_url, token=emulator.token, url=pg_url,
                    data_dir=tmp_path / "a", log_dir=tmp_path)
    try:
        await emulator.wait_until(lambda: bool(emulator.gateway.live_sessions), timeout=180,
                                  description="the process's shard connected")
        (session,) = emulator.gateway.live_sessions
        bot.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(bot.proc.wait, 60)
    finally:
        stop(bot)
    assert code == 0, bot.text()[-3000:]
    assert "SIGTERM: stopping" in bot.text()
    closed = [c for c in emulator.gateway.connections if c.session is session]
    assert closed and closed[-1].close_code in (1000, 1001), [c.close_code for c in closed]
    assert session.invalidated
