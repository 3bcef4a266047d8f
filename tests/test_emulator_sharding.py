"""The emulator shards as Discord does: IDENTIFY's shard, which session gets a server's
events and interactions, DMs on shard 0, 4010 / 4011, GET /gateway/bot."""

from __future__ import annotations

from typing import Any

import aiohttp
import discord
import pytest

from tests.discord_emulator import CloseCode, DiscordEmulator, Op, running_client
from tests.test_emulator import SampleBot

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def identify(emu: DiscordEmulator, shard: Any) -> tuple[int | None, list[dict]]:
    """A raw client IDENTIFYs with `shard` (left out when None); (close code or None while
    still open after READY and its GUILD_CREATEs, the dispatches received)."""
    d: dict[str, Any] = {"token": emu.token, "intents": 1, "properties": {}}
    if shard is not None:
        d["shard"] = shard
    url = emu.gateway_url + "?v=10&encoding=json"
    received: list[dict] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        assert (await ws.receive_json())["op"] == Op.HELLO
        await ws.send_json({"op": Op.IDENTIFY, "d": d})
        while True:
            try:
                msg = await ws.receive(timeout=1.0)
            except TimeoutError:
                return None, received  # nothing more: the session stays open
            if msg.type != aiohttp.WSMsgType.TEXT:
                return ws.close_code, received
            received.append(msg.json())


def guild_ids(frames: list[dict]) -> set[int]:
    return {int(f["d"]["id"]) for f in frames if f.get("t") == "GUILD_CREATE"}


async def test_each_shard_gets_only_its_own_servers() -> None:
    async with DiscordEmulator() as emu:
        on = [emu.add_guild(f"g{i}", shard=(i % 3, 3)) for i in range(6)]
        for shard_id in range(3):
            code, frames = await identify(emu, [shard_id, 3])
            assert code is None
            ready = frames[0]
            assert ready["t"] == "READY" and ready["d"]["shard"] == [shard_id, 3]
            mine = {g.id for g in on if (g.id >> 22) % 3 == shard_id}
            assert len(mine) == 2
            assert {int(g["id"]) for g in ready["d"]["guilds"]} == mine
            assert guild_ids(frames) == mine
        emu.raise_for_errors()


@pytest.mark.parametrize(
    "shard", [[2, 2], [-1, 2], [0, 0], [1], [0, "2"], "0,2", [True, 2]], ids=str
)
async def test_an_invalid_shard_is_closed_with_4010(shard: Any) -> None:
    async with DiscordEmulator() as emu:
        emu.add_guild("g")
        code, frames = await identify(emu, shard)
        assert code == CloseCode.INVALID_SHARD
        assert frames == []  # no READY
        assert emu.gateway.identify_count == 0


async def test_too_many_servers_on_one_session_is_4011() -> None:
    async with DiscordEmulator() as emu:
        emu.gateway.max_guilds_per_shard = 2
        for i in range(4):
            emu.add_guild(f"g{i}", shard=(i % 2, 2))
        code, _ = await identify(emu, None)  # unsharded: 4 servers on one session
        assert code == CloseCode.SHARDING_REQUIRED
        code, frames = await identify(emu, [1, 2])  # 2 per shard: accepted
        assert code is None and len(guild_ids(frames)) == 2


async def test_gateway_bot_recommends_shards_and_counts_session_starts() -> None:
    async with DiscordEmulator() as emu:
        emu.add_guild("g")
        headers = {"Authorization": f"Bot {emu.token}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(emu.api_base_url + "/gateway/bot", headers=headers) as r:
                before = await r.json()
            await identify(emu, [0, 1])
            async with http.get(emu.api_base_url + "/gateway/bot", headers=headers) as r:
                after = await r.json()
        assert before["shards"] == 1
        assert before["url"].startswith("ws://")
        limit = before["session_start_limit"]
        assert limit["max_concurrency"] == 1 and limit["total"] == 1000
        assert after["session_start_limit"]["remaining"] == limit["remaining"] - 1


class ShardedSample(SampleBot, discord.AutoShardedClient):
    pass


async def test_events_and_interactions_go_to_the_servers_shard_dms_to_shard_0() -> None:
    async with DiscordEmulator() as emu:
        guilds = [emu.add_guild(f"g{i}", shard=(i, 2)) for i in range(2)]
        channels = [g.add_text_channel("general") for g in guilds]
        members = [g.add_member(f"m{i}") for i, g in enumerate(guilds)]
        client = ShardedSample()
        client.shard_ids, client.shard_count = [0, 1], 2
        async with running_client(emu, client):
            assert {g.id for g in client.guilds} == {g.id for g in guilds}
            for i, (channel, member) in enumerate(zip(channels, members, strict=True)):
                asked = await emu.send_message(channel, member, f"{emu.bot_user.mention} hi")
                await emu.wait_for_reply(asked)
                got = [s for s in emu.gateway.live_sessions if s.buffer and any(
                    f["t"] == "MESSAGE_CREATE" and f["d"]["id"] == str(asked.id)
                    for f in s.buffer
                )]
                assert [s.shard for s in got] == [(i, 2)]
                inter = await emu.invoke_command(
                    "ask", user=member, channel=channel, options={"question": "q"}
                )
                await emu.wait_for_response(inter)
                owners = [s.shard for s in emu.gateway.live_sessions if any(
                    f["t"] == "INTERACTION_CREATE" and f["d"]["id"] == str(inter.id)
                    for f in s.buffer
                )]
                assert owners == [(i, 2)]
            dm = emu.dm_channel(members[1].user)
            asked = await emu.send_message(dm, members[1].user, "hello")
            await emu.wait_for_reply(asked)
            owners = [s.shard for s in emu.gateway.live_sessions if any(
                f["t"] == "MESSAGE_CREATE" and f["d"]["id"] == str(asked.id) for f in s.buffer
            )]
            assert owners == [(0, 2)]
        emu.raise_for_errors()
