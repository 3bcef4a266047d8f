"""Shards: `newsbot run --shards 0-3 --shard-count 8` (bot/discord_app/sharding.py), the
sharded NewsBot against the emulator, and the one-line errors for bad shard flags."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from bot.discord_app.sharding import ShardPlan, format_ids, parse_shards, shard_of
from bot.discord_app.startup import ShardedNewsBot, make_bot, run_bot_async
from index.embedding import HashingEmbedder
from index.errors import InputError, NewsbotError
from tests.conftest import ROOT, make_fast_config
from tests.discord_e2e_helpers import (
    TALKS_QUESTION,
    ask,
    e2e_emulator,
    e2e_no_rate_limits_provoked,
    mention,
    only_embed,
    rejected,
    seeded_engine,
    sync_commands,
    with_token,
)
from tests.discord_emulator import CloseCode, DiscordEmulator, running_client

ASYNC = pytest.mark.asyncio(loop_scope="session")
emulator = e2e_emulator
no_rate_limits_provoked = e2e_no_rate_limits_provoked


# --------------------------------------------------------------------------- the flags


def test_shard_specs() -> None:
    assert parse_shards(None, None) is None
    assert parse_shards("0-3", 8) == ShardPlan((0, 1, 2, 3), 8)
    assert parse_shards("5", 8) == ShardPlan((5,), 8)
    assert parse_shards("0-1, 4,6-7", 8) == ShardPlan((0, 1, 4, 6, 7), 8)
    assert parse_shards(None, 3) == ShardPlan((0, 1, 2), 3)
    assert format_ids((0, 1, 2, 5, 7, 8)) == "0-2,5,7-8"
    assert shard_of(81384788765712384, 17) == 7  # serenity's documented example


@pytest.mark.parametrize(
    ("spec", "count", "says"),
    [
        ("3-1", 8, "runs backwards"),
        ("0-8", 8, "shard 8 does not exist with --shard-count 8"),
        ("9", 8, "shard 9 does not exist"),
        ("0-3", None, "--shards needs --shard-count"),
        ("0", 0, "--shard-count: must be at least 1"),
        (None, -2, "--shard-count: must be at least 1"),
        ("a-b", 4, "is not a shard id or range"),
        ("", 4, "is not a shard id or range"),
    ],
)
def test_bad_shard_flags_are_one_clear_error(spec, count, says) -> None:
    with pytest.raises(InputError, match=says):
        parse_shards(spec, count)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--shards", "3-1", "--shard-count", "8"], "runs backwards"),
        (["--shards", "0-3"], "--shards needs --shard-count"),
        (["--shard-count", "0"], "must be at least 1"),
    ],
)
def test_newsbot_run_refuses_bad_shards_in_one_line(tmp_path: Path, args, says) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "--data-dir",
         str(tmp_path / "data"), "run", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- against Discord


@ASYNC
async def test_a_sharded_bot_answers_in_servers_on_each_of_its_shards(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    # shards 1 and 3 of 4 in this process; a server on shard 0 belongs to another process
    served = {}
    for shard_id in (1, 3):
        guild = emulator.add_guild(f"on shard {shard_id}", shard=(shard_id, 4))
        served[shard_id] = (guild, guild.add_text_channel("news"), guild.add_member("alice"))
    elsewhere = emulator.add_guild("on shard 0", shard=(0, 4))
    elsewhere.add_text_channel("news")
    config = make_fast_config(tmp_path / "data", discord={"cooldown_s": 0})
    engine = seeded_engine(config, HashingEmbedder())
    try:
        await sync_commands(emulator, config, None)  # global: every server
        bot = make_bot(engine, config, shards=parse_shards("1,3", 4), api_base=emulator.base_url)
        assert isinstance(bot, ShardedNewsBot)
        async with running_client(emulator, bot):
            assert sorted(bot.shards) == [1, 3]
            assert {g.id for g in bot.guilds} == {g.id for g, _, _ in served.values()}
            sessions = {s.shard for s in emulator.gateway.live_sessions}
            assert sessions == {(1, 4), (3, 4)}
            for _guild, channel, alice in served.values():
                inter = await ask(emulator, TALKS_QUESTION, user=alice, channel=channel)
                assert only_embed(inter.last_message)["title"] == TALKS_QUESTION
                _, reply = await mention(emulator, channel, alice, TALKS_QUESTION)
                assert only_embed(reply)["title"] == TALKS_QUESTION
            # nobody here serves shard 0: Discord has no session to deliver it to
            with pytest.raises(RuntimeError, match="no live gateway session"):
                await emulator.invoke_command(
                    "ask", user=elsewhere.add_member("bob"),
                    channel=next(iter(elsewhere.channels.values())),
                    options={"question": TALKS_QUESTION},
                )
        assert rejected(emulator) == []
    finally:
        engine.close()


@ASYNC
async def test_an_unsharded_bot_past_the_limit_is_told_to_shard(tmp_path: Path) -> None:
    async with DiscordEmulator() as emu:
        emu.gateway.max_guilds_per_shard = 1
        emu.add_guild("a", shard=(0, 2))
        emu.add_guild("b", shard=(1, 2))
        config = make_fast_config(tmp_path / "data")
        engine = seeded_engine(config, HashingEmbedder(), {})
        root = logging.getLogger()
        level = root.level
        try:
            with pytest.raises(NewsbotError, match=r"requires sharding.*--shard-count"):
                await run_bot_async(with_token(config, emu.token), engine, api_base=emu.base_url)
        finally:
            root.setLevel(level)
            engine.close()
        assert emu.gateway.connections[-1].server_close_code == CloseCode.SHARDING_REQUIRED
