"""The Discord emulator against the real discord.py client (no mocks).

A small bot (``SampleBot``) with slash commands, a subcommand group, a button view and an
``on_message`` handler runs against the emulator; each test drives it the way a Discord user
(or a flaky network) would and checks what the bot actually sent over REST and the gateway.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import discord
import pytest
import pytest_asyncio
from discord import app_commands

from tests.discord_emulator import (
    Channel,
    CloseCode,
    CommandInvocationError,
    DiscordEmulator,
    Guild,
    Limit,
    Member,
    MessageFlags,
    Op,
    Permission,
    fixtures,
    running_client,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
emulator = fixtures.emulator  # the emulator fixture, started on a free port per test

FOLLOWUP = "/webhooks/{application_id}/{token}"
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
NO_PINGS = discord.AllowedMentions.none()


class MoreView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="More", custom_id="more")
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        button.disabled = True
        await interaction.response.edit_message(
            content=f"Expanded by {interaction.user.name}", view=self
        )


class SampleBot(discord.Client):
    """A miniature news bot: what the real one will do, in a few lines."""

    def __init__(self, *, message_content: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        super().__init__(intents=intents)
        self.tree = app_commands.CommandTree(self)
        self.seen: list[discord.Message] = []
        self.asked: list[discord.Interaction] = []  # every /ask, to answer again later
        self._add_commands()

    def _add_commands(self) -> None:
        @self.tree.command(name="ask", description="Ask about the news")
        async def ask(interaction: discord.Interaction, question: str) -> None:
            self.asked.append(interaction)
            await interaction.response.defer(thinking=True)
            await interaction.followup.send(
                f"About {question!r}: it happened [1]", view=MoreView(), allowed_mentions=NO_PINGS
            )

        @self.tree.command(name="read", description="Read an uploaded file")
        async def read(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            await interaction.response.send_message(
                f"{file.filename}: {data.decode()}",
                ephemeral=True,
                file=discord.File(io.BytesIO(data.upper()), "upper.txt"),
            )

        news = app_commands.Group(
            name="news",
            description="News settings",
            default_permissions=discord.Permissions(manage_guild=True),
        )
        channels = app_commands.Group(name="channels", description="Allowed channels", parent=news)

        @channels.command(name="allow", description="Allow the bot in a channel")
        async def allow(interaction: discord.Interaction, channel: discord.TextChannel) -> None:
            assert interaction.permissions.manage_guild
            await interaction.response.defer(ephemeral=True)
            await interaction.followup.send(f"Now answering in {channel.mention}", ephemeral=True)

        self.tree.add_command(news)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        if message.author == self.user:
            return
        self.seen.append(message)
        if self.user in message.mentions or message.guild is None:
            await message.channel.typing()  # one POST /typing, like a bot that starts thinking
            await message.reply(f"you said: {message.content}", allowed_mentions=NO_PINGS)


@dataclass
class Scenario:
    guild: Guild
    general: Channel
    alice: Member
    editor: Member


def build_scenario(emu: DiscordEmulator) -> Scenario:
    guild = emu.add_guild("Newsroom")
    general = guild.add_text_channel("general")
    guild.add_text_channel("world-news")
    editors = guild.add_role("editors", Permission.MANAGE_GUILD)
    return Scenario(
        guild, general, guild.add_member("alice"), guild.add_member("erin", roles=[editors])
    )


@pytest.fixture
def world(emulator: DiscordEmulator) -> Scenario:
    return build_scenario(emulator)


@pytest_asyncio.fixture
async def bot(emulator: DiscordEmulator, world: Scenario) -> AsyncIterator[SampleBot]:
    async with running_client(emulator, SampleBot()) as client:
        yield client


async def test_connects_and_caches_guild(
    emulator: DiscordEmulator,
    world: Scenario,
    bot: SampleBot,
) -> None:
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.name == "Newsroom"
    assert {c.name for c in guild.text_channels} == {"general", "world-news"}
    assert {r.name for r in guild.roles} == {"@everyone", "NewsBot", "editors"}
    assert guild.default_role.id == guild.id
    assert guild.me is not None and [r.name for r in guild.me.roles] == ["@everyone", "NewsBot"]
    assert guild.me.guild_permissions.embed_links and not guild.me.guild_permissions.manage_guild
    conn = emulator.gateway.connections[-1]
    # discord.py asks for zlib-stream (zstd-stream if zstandard is installed); both are served
    assert conn.compression == discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    assert bot.user is not None and bot.user.id == emulator.bot_user.id


async def test_command_sync_and_deferred_followup(
    emulator: DiscordEmulator,
    world: Scenario,
    bot: SampleBot,
) -> None:
    sync = emulator.requests_to("PUT", "/applications/{application_id}/commands")
    assert len(sync) == 1
    assert {c["name"] for c in sync[0].json} == {"ask", "read", "news"}

    inter = await emulator.invoke_command(
        "ask", user=world.alice, channel=world.general, options={"question": "rates"}
    )
    await emulator.wait_for_response(inter)
    assert inter.callback_type == 5  # deferred "thinking"...
    answer = inter.response  # ...then the first follow-up filled it in
    assert answer.content == "About 'rates': it happened [1]"
    assert not answer.ephemeral and not answer.loading
    assert answer.allowed_mentions == {"parse": []}
    assert [b["label"] for b in answer.buttons] == ["More"]
    assert inter.followups == []  # it replaced the loading message, no second message


async def test_subcommand_group_with_channel_option(
    emulator: DiscordEmulator,
    world: Scenario,
    bot: SampleBot,
) -> None:
    target = world.guild.channel("world-news")
    with pytest.raises(CommandInvocationError, match="cannot see /news"):
        await emulator.invoke_command(
            "news channels allow",
            user=world.alice,
            channel=world.general,
            options={"channel": target},
        )
    inter = await emulator.invoke_command(
        "news channels allow", user=world.editor, channel=world.general, options={"channel": target}
    )
    data = inter.payload["data"]
    assert data["options"][0]["options"][0]["options"][0]["value"] == str(target.id)
    assert str(target.id) in data["resolved"]["channels"]
    await emulator.wait_for_response(inter)
    assert inter.response.content == f"Now answering in <#{target.id}>"
    assert inter.response.flags & MessageFlags.EPHEMERAL


async def test_attachment_option_download_and_file_upload(
    emulator: DiscordEmulator,
    world: Scenario,
    bot: SampleBot,
) -> None:
    upload = emulator.add_attachment("note.txt", b"breaking news")
    inter = await emulator.invoke_command(
        "read", user=world.alice, channel=world.general, options={"file": upload}
    )
    await emulator.wait_for_response(inter)
    reply = inter.response
    assert reply.content == "note.txt: breaking news" and reply.ephemeral
    assert [(a.filename, a.data) for a in reply.attachments] == [("upper.txt", b"BREAKING NEWS")]
    callback = emulator.requests_to("POST", "/interactions/{interaction_id}/{token}/callback")[-1]
    assert callback.files[0].filename == "upper.txt"  # multipart payload_json + files[0]
    assert emulator.requests_to("GET", "/attachments/{attachment_id}/{filename}")


async def test_on_message_reply_and_dm(
    emulator: DiscordEmulator,
    world: Scenario,
    bot: SampleBot,
) -> None:
    quiet = await emulator.send_message(world.general, world.alice, "no mention here")
    asked = await emulator.send_message(
        world.general, world.alice, f"{emulator.bot_user.mention} what's new?"
    )
    reply = await emulator.wait_for_reply(asked)
    assert reply.content == f"you said: {emulator.bot_user.mention} what's new?"
    assert reply.mentions == []  # allowed_mentions none: nobody pinged
    post = emulator.requests_to("POST", CHANNEL_MESSAGES)[-1]
    assert post.json["allowed_mentions"] == {"parse": []}
    assert int(post.json["message_reference"]["message_id"]) == asked.id
    assert emulator.requests_to("POST", "/channels/{channel_id}/typing")
    assert [m.id for m in bot.seen] == [quiet.id, asked.id]

    dm = emulator.dm_channel(world.alice.user)
    sent = await emulator.send_message(dm, world.alice, "hello in private")
    assert (await emulator.wait_for_reply(sent)).content == "you said: hello in private"


async def test_without_message_content_intent_only_mentions_have_content(
    emulator: DiscordEmulator, world: Scenario
) -> None:
    async with running_client(emulator, SampleBot(message_content=False)) as client:
        await emulator.send_message(world.general, world.alice, "secret")
        asked = await emulator.send_message(
            world.general, world.alice, f"{emulator.bot_user.mention} hi"
        )
        await emulator.wait_for_reply(asked)
        assert [m.content for m in client.seen] == ["", f"<@{emulator.bot_user.id}> hi"]


async def test_button_click_reaches_view(
    emulator: DiscordEmulator,
    world: Scenario,
    bot: SampleBot,
) -> None:
    ask = await emulator.invoke_command(
        "ask", user=world.alice, channel=world.general, options={"question": "x"}
    )
    message = (await emulator.wait_for_response(ask)).response
    click = await emulator.click_button(message, user=world.editor, label="More")
    await emulator.wait_for_response(click)
    assert click.callback_type == 7  # UPDATE_MESSAGE on the clicked message
    assert message.content == "Expanded by erin"
    assert message.button(label="More")["disabled"] is True
    with pytest.raises(CommandInvocationError, match="disabled"):
        await emulator.click_button(message, user=world.alice, label="More")


async def test_rate_limited_followup_is_retried_once(
    emulator: DiscordEmulator,
    world: Scenario,
    bot: SampleBot,
) -> None:
    fault = emulator.rate_limit("POST", FOLLOWUP, retry_after=0.05)
    inter = await emulator.invoke_command(
        "ask", user=world.alice, channel=world.general, options={"question": "slow"}
    )
    await emulator.wait_for_response(inter)
    assert len(fault.hits) == 1 and fault.remaining == 0
    assert [r.status for r in emulator.requests_to("POST", FOLLOWUP)] == [429, 200]
    assert len(inter.messages) == 1 and inter.followups == []
    assert [m.content for m in world.general.history()] == ["About 'slow': it happened [1]"]


async def test_drop_resumes_and_replays_missed_events(
    emulator: DiscordEmulator,
    world: Scenario,
    bot: SampleBot,
) -> None:
    session = emulator.gateway.session
    assert session is not None
    await emulator.gateway.drop()
    missed = await emulator.send_message(
        world.general, world.alice, f"{emulator.bot_user.mention} while you were away"
    )
    await emulator.wait_for_resumed(1)
    assert emulator.gateway.frames(Op.RESUME)[-1].d["session_id"] == session.id
    assert emulator.gateway.connections[-1].path == "/resume"  # READY's resume_gateway_url
    await emulator.wait_for_reply(missed)  # buffered during the outage, replayed on RESUME
    assert emulator.gateway.ready_count == 1
    assert bot.ws is not None
    await emulator.wait_until(
        lambda: bot.ws.sequence == session.seq, description="client sequence to catch up"
    )


async def test_reconnect_and_invalid_session(
    emulator: DiscordEmulator,
    world: Scenario,
    bot: SampleBot,
) -> None:
    await emulator.gateway.reconnect()  # op 7 → close, RESUME
    await emulator.wait_for_resumed(1)
    await emulator.gateway.invalidate_session(resumable=True)  # op 9 true → RESUME
    await emulator.wait_for_resumed(2)
    assert emulator.gateway.ready_count == 1
    await emulator.gateway.invalidate_session(resumable=False)  # op 9 false → new IDENTIFY
    await emulator.wait_for_ready(2)
    assert len(emulator.gateway.live_sessions) == 1
    asked = await emulator.send_message(
        world.general, world.alice, f"{emulator.bot_user.mention} still there?"
    )
    await emulator.wait_for_reply(asked)
    inter = await emulator.invoke_command(
        "ask", user=world.alice, channel=world.general, options={"question": "after"}
    )
    await emulator.wait_for_response(inter)


async def test_discord_limits_and_unknown_routes(
    emulator: DiscordEmulator,
    world: Scenario,
    bot: SampleBot,
) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert too_long.value.code == 50035 and too_long.value.status == 400
    with pytest.raises(discord.NotFound):
        await bot.http.request(discord.http.Route("GET", "/no/such/route"))
    assert [r.path for r in emulator.unknown_requests] == ["/api/v10/no/such/route"]
    emulator.fail("POST", CHANNEL_MESSAGES, status=403, code=50013, message="Missing Permissions")
    with pytest.raises(discord.Forbidden):
        await channel.send("blocked")
    emulator.rate_limit("POST", CHANNEL_MESSAGES, times=2, retry_after=0.01)
    sent = await channel.send("fine")  # the bot's HTTP client waits and retries, twice
    assert [r.status for r in emulator.requests_to("POST", CHANNEL_MESSAGES)][-3:] == [
        429,
        429,
        200,
    ]
    assert world.general.history()[-1].id == sent.id


async def test_short_heartbeats_and_server_side_closes() -> None:
    async with DiscordEmulator(heartbeat_interval_ms=30) as emu:
        guild = emu.add_guild("Small")
        general = guild.add_text_channel("general")
        bob = guild.add_member("bob")
        async with running_client(emu, SampleBot()) as client:
            await emu.wait_until(lambda: len(emu.gateway.frames(Op.HEARTBEAT)) >= 4)
            await emu.gateway.close(CloseCode.UNKNOWN_ERROR)  # 4000: resumable
            await emu.wait_for_resumed(1)
            await emu.gateway.close(CloseCode.SESSION_TIMED_OUT)  # 4009: session is gone
            await emu.wait_for_ready(2)
            assert emu.gateway.invalid_resume_count == 1  # the RESUME was refused with op 9
            asked = await emu.send_message(general, bob, f"{emu.bot_user.mention} ping")
            await emu.wait_for_reply(asked)
            assert client.latency < 1.0
        emu.raise_for_errors()


# --------------------------------------------------------------------------- display and time


async def test_embeds_with_the_same_url_show_only_the_first(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    url = "https://news.example/a"
    # wrong: a long quote split into two embeds that both carry the article's URL
    wrong = await channel.send(
        embeds=[
            discord.Embed(title="[1] Story", url=url, description="> First half."),
            discord.Embed(title="[1] Story (continued)", url=url, description="> Second half."),
            discord.Embed(title="[2] Other", url="https://news.example/b", description="> B."),
        ]
    )
    stored = world.general.messages[wrong.id]
    assert len(stored.embeds) == 3  # Discord accepts it...
    assert [e["title"] for e in stored.displayed_embeds] == ["[1] Story", "[2] Other"]
    assert [e["title"] for e in stored.hidden_embeds] == ["[1] Story (continued)"]
    assert "Second half" not in stored.text  # ...but nobody can read the continuation
    # right: the continuation carries no URL
    right = await channel.send(
        embeds=[
            discord.Embed(title="[1] Story", url=url, description="> First half."),
            discord.Embed(title="[1] Story (continued)", description="> Second half."),
        ]
    )
    shown = world.general.messages[right.id]
    assert shown.hidden_embeds == [] and len(shown.displayed_embeds) == 2
    assert "Second half" in shown.text


async def test_interaction_tokens_expire_after_15_minutes(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    inter = await emulator.invoke_command(
        "ask", user=world.alice, channel=world.general, options={"question": "slow"}
    )
    await emulator.wait_for_response(inter)
    held = bot.asked[-1]
    emulator.advance_time(14 * 60)
    await held.edit_original_response(content="still fine at 14 minutes")
    assert inter.response.content == "still fine at 14 minutes"
    emulator.advance_time(61)  # 15 minutes and a second after the interaction
    with pytest.raises(discord.HTTPException) as late_edit:
        await held.edit_original_response(content="too late")
    assert (late_edit.value.status, late_edit.value.code) == (401, 50027)
    with pytest.raises(discord.HTTPException) as late_followup:
        await held.followup.send("too late", allowed_mentions=NO_PINGS)
    assert late_followup.value.code == 50027
    assert inter.response.content == "still fine at 14 minutes"
    assert [kind for kind, _ in inter.log][-2:] == ["expired-token", "expired-token"]

    # the 3-second deadline for the first response is measured on the same clock: the bot
    # shares this event loop, so it cannot answer before the clock jumps
    late = await emulator.invoke_command(
        "ask", user=world.alice, channel=world.general, options={"question": "late"}
    )
    emulator.advance_time(3.5)
    await emulator.wait_until(
        lambda: any(kind == "late-callback" for kind, _ in late.log), description="the callback"
    )
    assert not late.acknowledged


# --------------------------------------------------------------------------- guild availability


async def test_unavailable_guild_sends_only_interactions_until_it_recovers(
    emulator: DiscordEmulator, world: Scenario
) -> None:
    emulator.guild_outage(world.guild, event="GUILD_CREATE")  # down before the bot connects
    async with running_client(emulator, SampleBot()) as client:
        session = emulator.gateway.session
        assert session is not None
        events = [(f["t"], f["d"]) for f in session.buffer]
        assert ("GUILD_CREATE", {"id": str(world.guild.id), "unavailable": True}) in events
        cached = client.get_guild(world.guild.id)
        assert cached is not None and cached.unavailable and not cached.channels
        # no guild events during the outage...
        seq = session.seq
        await emulator.send_message(world.general, world.alice, f"{emulator.bot_user.mention} hi")
        assert session.seq == seq and client.seen == []
        # ...but interactions arrive, with the member's roles and permissions
        inter = await emulator.invoke_command(
            "ask", user=world.editor, channel=world.general, options={"question": "down?"}
        )
        assert inter.payload["member"]["roles"] == [str(r.id) for r in world.editor.roles]
        assert int(inter.payload["member"]["permissions"]) & Permission.MANAGE_GUILD
        await emulator.wait_for_response(inter)
        assert inter.response.content == "About 'down?': it happened [1]"
        emulator.guild_recovered(world.guild)
        await emulator.wait_until(
            lambda: not client.get_guild(world.guild.id).unavailable, description="GUILD_CREATE"
        )
        assert {c.name for c in client.get_guild(world.guild.id).text_channels} == {
            "general",
            "world-news",
        }
        # an outage while connected: GUILD_DELETE with unavailable: true
        emulator.guild_outage(world.guild)
        await emulator.wait_until(
            lambda: client.get_guild(world.guild.id).unavailable, description="GUILD_DELETE"
        )
        assert session.buffer[-1]["t"] == "GUILD_DELETE"
        assert session.buffer[-1]["d"] == {"id": str(world.guild.id), "unavailable": True}
        emulator.guild_recovered(world.guild)
        # kicked: GUILD_DELETE without unavailable, the guild leaves the cache
        emulator.remove_bot(world.guild)
        await emulator.wait_until(
            lambda: client.get_guild(world.guild.id) is None, description="the guild to go"
        )
        assert session.buffer[-1]["d"] == {"id": str(world.guild.id)}


async def test_interaction_before_guild_create(emulator: DiscordEmulator, world: Scenario) -> None:
    emulator.guild_outage(world.guild, event=None)  # READY lists it; GUILD_CREATE is late
    async with running_client(emulator, SampleBot()) as client:
        session = emulator.gateway.session
        assert session is not None
        assert [f["t"] for f in session.buffer] == ["READY"]
        inter = await emulator.invoke_command(
            "ask", user=world.alice, channel=world.general, options={"question": "early"}
        )
        await emulator.wait_for_response(inter)
        assert client.asked[-1].guild_id == world.guild.id
        assert client.asked[-1].guild is not None and client.asked[-1].guild.unavailable
        emulator.guild_recovered(world.guild)
        await emulator.wait_until(
            lambda: not client.get_guild(world.guild.id).unavailable, description="GUILD_CREATE"
        )


async def test_dms_to_a_user_who_blocks_them_are_refused(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    world.alice.user.accepts_dms = False
    user = await bot.fetch_user(world.alice.id)
    with pytest.raises(discord.Forbidden) as refused:
        await user.send("hello", allowed_mentions=NO_PINGS)
    assert refused.value.code == 50007
    world.alice.user.accepts_dms = True
    sent = await user.send("hello", allowed_mentions=NO_PINGS)
    assert emulator.dm_channel(world.alice.user).messages[sent.id].content == "hello"


async def test_heartbeat_gaps_are_measured() -> None:
    async with DiscordEmulator(heartbeat_interval_ms=50) as emu:
        emu.add_guild("Small")
        async with running_client(emu, SampleBot()):
            await emu.wait_until(lambda: len(emu.gateway.frames(Op.HEARTBEAT)) >= 4)
            gap = emu.gateway.largest_heartbeat_gap()
            assert 0.02 < gap < 1.0
            frames = emu.gateway.frames(Op.HEARTBEAT)
            assert all(a.at <= b.at for a, b in itertools.pairwise(frames))
        emu.raise_for_errors()


# --------------------------------------------------------------------------- strict like Discord

API_ME = "/users/@me"


async def raw_request(
    emu: DiscordEmulator,
    method: str,
    path: str,
    *,
    json: dict | None = None,
    token: str | None = None,
) -> tuple[int, dict[str, str], object]:
    """A client that knows nothing of rate limits: plain aiohttp, no waiting, no retries."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            emu.api_base_url + path,
            json=json,
            headers={"Authorization": f"Bot {token or emu.token}"},
        ) as resp,
    ):
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, dict(resp.headers), body


async def test_rate_limit_headers_on_every_response_and_discord_py_paces_itself(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    emulator.rate_limiter.route_limits[("POST", CHANNEL_MESSAGES)] = Limit(2, 0.4)
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    # discord.py reads the headers and waits for the window instead of provoking a 429
    await asyncio.gather(*(channel.send(f"burst {i}") for i in range(5)))
    posts = emulator.requests_to("POST", CHANNEL_MESSAGES)
    assert [r.status for r in posts] == [200] * 5
    assert emulator.rate_limiter.provoked == []
    for record in posts:
        headers = record.response_headers
        assert headers["X-RateLimit-Limit"] == "2"
        assert headers["X-RateLimit-Remaining"] in ("0", "1")
        assert float(headers["X-RateLimit-Reset-After"]) <= 0.4
        assert float(headers["X-RateLimit-Reset"]) > time.time() - 1
        assert headers["X-RateLimit-Bucket"] == posts[0].response_headers["X-RateLimit-Bucket"]
    # other routes have buckets (and headers) of their own
    me = emulator.requests_to("GET", API_ME)
    assert me and me[0].response_headers["X-RateLimit-Bucket"] != headers["X-RateLimit-Bucket"]


async def test_a_client_that_ignores_the_headers_gets_429s(
    emulator: DiscordEmulator, world: Scenario
) -> None:
    emulator.rate_limiter.route_limits[("POST", CHANNEL_MESSAGES)] = Limit(2, 5.0)
    path = f"/channels/{world.general.id}/messages"
    other = world.guild.channel("world-news")
    answers = [
        await raw_request(emulator, "POST", path, json={"content": f"m{i}"}) for i in range(3)
    ]
    assert [status for status, _, _ in answers] == [200, 200, 429]
    status, headers, body = answers[2]
    assert headers["X-RateLimit-Scope"] == "user" and int(headers["Retry-After"]) >= 1
    assert headers["X-RateLimit-Remaining"] == "0" and "X-RateLimit-Global" not in headers
    assert body["global"] is False and 0 < body["retry_after"] <= 5.0
    assert [m.content for m in world.general.history()] == ["m0", "m1"]  # the 429 did nothing
    # the limit counts per channel: another channel has its own window
    status, _, _ = await raw_request(
        emulator, "POST", f"/channels/{other.id}/messages", json={"content": "x"}
    )
    assert status == 200
    assert len(emulator.rate_limiter.provoked) == 1


async def test_global_limit_50_per_second(emulator: DiscordEmulator, world: Scenario) -> None:
    emulator.rate_limiter.default_limit = Limit(1000, 1.0)  # only the global limit matters here
    statuses = [(await raw_request(emulator, "GET", API_ME))[0] for _ in range(50)]
    assert statuses == [200] * 50
    status, headers, body = await raw_request(emulator, "GET", API_ME)
    assert status == 429 and headers["X-RateLimit-Global"] == "true"
    assert headers["X-RateLimit-Scope"] == "global" and body["global"] is True


async def test_invalid_requests_end_in_a_cloudflare_ban(
    emulator: DiscordEmulator, world: Scenario
) -> None:
    emulator.rate_limiter.invalid_limit = Limit(3, 600.0)
    for _ in range(3):
        status, _, _ = await raw_request(emulator, "GET", API_ME, token="wrong")
        assert status == 401
    status, headers, body = await raw_request(emulator, "GET", API_ME)  # a valid request now
    assert status == 429 and "Via" not in headers and "1015" in str(body)
    assert len(emulator.rate_limiter.banned) == 1


async def test_reply_needs_read_message_history(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    world.general.set_overwrite(world.guild.bot_member, deny=Permission.READ_MESSAGE_HISTORY)
    asked = await emulator.send_message(world.general, world.alice, "hello")
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as refused:
        await channel.get_partial_message(asked.id).reply("hi", allowed_mentions=NO_PINGS)
    assert refused.value.code == 160002
    sent = await channel.send("hi")  # a plain message is fine
    assert (
        world.general.history()[-1].id == sent.id and world.general.history()[-1].reference is None
    )


async def test_replies_to_system_messages_are_refused(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    """A member starts a thread without a message: Discord posts a THREAD_CREATED system
    message (type 18) named after it in the channel, and refuses replies to it (50035)."""
    thread, notice = await emulator.start_thread_without_message(
        world.general, world.alice, "Friday game night"
    )
    seen = await emulator.wait_until(
        lambda: next((m for m in bot.seen if m.id == notice.id), None),
        description="the system message",
    )
    assert seen.type == discord.MessageType.thread_created and seen.content == "Friday game night"
    assert seen.reference is not None and seen.reference.channel_id == thread.id
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as refused:
        await channel.get_partial_message(notice.id).reply("hi", allowed_mentions=NO_PINGS)
    assert refused.value.status == 400 and refused.value.code == 50035
    assert "Cannot reply to a system message" in str(refused.value)


async def test_without_embed_links_embeds_are_dropped(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    world.general.set_overwrite(world.guild.bot_member, deny=Permission.EMBED_LINKS)
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as empty:
        await channel.send(embed=discord.Embed(description="only an embed"))
    assert empty.value.code == 50006
    await channel.send("text stays", embed=discord.Embed(description="dropped"))
    shown = world.general.history()[-1]
    assert shown.content == "text stays" and shown.embeds == []


async def test_implicit_permissions_without_send_messages(
    emulator: DiscordEmulator, world: Scenario
) -> None:
    world.general.set_overwrite(
        world.alice,
        allow=Permission.EMBED_LINKS | Permission.ATTACH_FILES,
        deny=Permission.SEND_MESSAGES,
    )
    perms = world.alice.permissions_in(world.general)
    assert perms & Permission.VIEW_CHANNEL
    assert not perms & (Permission.EMBED_LINKS | Permission.ATTACH_FILES | Permission.SEND_MESSAGES)
    with pytest.raises(PermissionError):
        await emulator.send_message(world.general, world.alice, "hi")
    world.general.set_overwrite(world.alice, deny=Permission.VIEW_CHANNEL)
    assert world.alice.permissions_in(world.general) == 0  # no View Channel: nothing at all


async def test_timed_out_members_keep_only_view_and_history(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    world.guild.timeout_member(world.alice, 600)
    perms = world.alice.permissions_in(world.general)
    assert perms == Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY
    assert world.alice.to_payload()["communication_disabled_until"] is not None
    with pytest.raises(PermissionError):
        await emulator.send_message(world.general, world.alice, "let me talk")
    with pytest.raises(CommandInvocationError, match="application commands"):
        await emulator.invoke_command(
            "ask", user=world.alice, channel=world.general, options={"question": "x"}
        )
    world.guild.timeout_member(world.alice, None)
    inter = await emulator.invoke_command(
        "ask", user=world.alice, channel=world.general, options={"question": "x"}
    )
    await emulator.wait_for_response(inter)


async def test_command_permission_overrides_from_server_settings(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    editors = world.guild.role("editors")
    news = world.guild.channel("world-news")
    # the owner gives /news to alice, takes it from the editors role, and turns /ask off in
    # #world-news (Server Settings → Integrations)
    emulator.set_command_permissions(world.guild, "news", [(world.alice, True), (editors, False)])
    emulator.set_command_permissions(world.guild, "ask", [(news, False)])
    # alice (no Manage Server) now sees /news: the invocation reaches the bot
    inter = await emulator.invoke_command(
        "news channels allow", user=world.alice, channel=world.general, options={"channel": news}
    )
    assert inter.payload["member"]["user"]["id"] == str(world.alice.id)
    with pytest.raises(CommandInvocationError, match="command settings"):
        await emulator.invoke_command(
            "news channels allow",
            user=world.editor,
            channel=world.general,
            options={"channel": news},
        )
    with pytest.raises(CommandInvocationError, match="disabled in #world-news"):
        await emulator.invoke_command(
            "ask", user=world.editor, channel=news, options={"question": "x"}
        )
    listed = await bot.http.get_guild_application_command_permissions(
        emulator.application_id, world.guild.id
    )
    assert {(p["id"], len(p["permissions"])) for p in listed} == {
        (emulator.state.commands.get("news", None)["id"], 2),
        (emulator.state.commands.get("ask", None)["id"], 1),
    }


async def test_missed_heartbeats_close_the_connection() -> None:
    async with DiscordEmulator(heartbeat_interval_ms=100) as emu:
        guild = emu.add_guild("Small")
        general = guild.add_text_channel("general")
        bob = guild.add_member("bob")
        # a well-behaved client (discord.py) heartbeats on time and is never cut off
        async with running_client(emu, SampleBot()):
            await emu.wait_until(lambda: len(emu.gateway.frames(Op.HEARTBEAT)) >= 10)
            assert emu.gateway.zombie_closes == 0
            assert emu.gateway.largest_heartbeat_gap() < emu.gateway.heartbeat_allowed_s
            asked = await emu.send_message(general, bob, f"{emu.bot_user.mention} ping")
            await emu.wait_for_reply(asked)
        # a client that identifies and then never heartbeats is closed as a zombie (4009)
        url = emu.gateway_url + "?v=10&encoding=json"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            hello = await ws.receive_json()
            assert hello["op"] == Op.HELLO
            await ws.send_json(
                {"op": Op.IDENTIFY, "d": {"token": emu.token, "intents": 1, "properties": {}}}
            )
            started = time.monotonic()
            async for msg in ws:
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
            assert ws.close_code == CloseCode.SESSION_TIMED_OUT
            assert time.monotonic() - started < emu.gateway.heartbeat_allowed_s + 2
        assert emu.gateway.zombie_closes == 1
        emu.raise_for_errors()


async def test_threads_follow_their_parent_channel(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    thread = world.guild.add_thread(world.general, "talks", owner=world.alice)
    await emulator.wait_until(lambda: bot.get_channel(thread.id) is not None)
    cached = bot.get_channel(thread.id)
    assert isinstance(cached, discord.Thread) and cached.parent_id == world.general.id
    asked = await emulator.send_message(thread, world.alice, f"{emulator.bot_user.mention} hi")
    assert (await emulator.wait_for_reply(asked)).channel is thread
    # Send Messages in Threads, from the parent's overwrites, is what counts in a thread
    world.general.set_overwrite(
        world.guild.bot_member,
        allow=Permission.SEND_MESSAGES,
        deny=Permission.SEND_MESSAGES_IN_THREADS,
    )
    with pytest.raises(discord.Forbidden):
        await cached.send("not here")
    await bot.get_channel(world.general.id).send("but here")  # type: ignore[union-attr]


async def test_thread_routes_and_forum_posts(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    asked = await emulator.send_message(world.general, world.alice, "a question")
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    world.general.set_overwrite(world.guild.bot_member, deny=Permission.CREATE_PUBLIC_THREADS)
    with pytest.raises(discord.Forbidden):
        await channel.get_partial_message(asked.id).create_thread(name="about it")
    world.general.set_overwrite(
        world.guild.bot_member,
        allow=Permission.CREATE_PUBLIC_THREADS | Permission.SEND_MESSAGES_IN_THREADS,
    )
    thread = await channel.get_partial_message(asked.id).create_thread(name="  about it  ")
    assert thread.id == asked.id and thread.name == "about it"
    assert asked.thread is not None and emulator.state.channels[thread.id].is_thread
    await thread.send("inside")
    assert [m.content for m in emulator.state.channels[thread.id].history()] == ["inside"]
    with pytest.raises(discord.HTTPException) as twice:
        await channel.get_partial_message(asked.id).create_thread(name="again")
    assert twice.value.code == 160004
    with pytest.raises(discord.HTTPException) as unnamed:
        await channel.get_partial_message(
            (await emulator.send_message(world.general, world.alice, "x")).id
        ).create_thread(name="   ")
    assert unnamed.value.code == 50035

    forum = world.guild.add_forum_channel("ask-the-desk")
    await emulator.wait_until(lambda: bot.get_channel(forum.id) is not None)
    cached = bot.get_channel(forum.id)
    assert isinstance(cached, discord.ForumChannel)
    with pytest.raises(discord.HTTPException) as not_text:
        await bot.http.send_message(forum.id, params=discord.http.handle_message_parameters("x"))
    assert not_text.value.code == 50008
    post = await cached.create_thread(name="Weekly digest", content="first post")
    assert post.thread.parent_id == forum.id and post.message.id == post.thread.id
    user_post, first = await emulator.create_forum_post(
        forum, world.alice, "Question", f"{emulator.bot_user.mention} what happened?"
    )
    reply = await emulator.wait_for_reply(first)
    assert reply.channel is user_post and user_post.parent is forum


async def test_lengths_are_measured_after_trimming(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot
) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("x" * 2000 + "\n\n  ")  # 2,000 characters once trimmed: fine
    assert world.general.history()[-1].content == "x" * 2000
    with pytest.raises(discord.HTTPException) as blank:
        await channel.send("   \n ")
    assert blank.value.code == 50006
    bad_field = discord.Embed(title="t").add_field(name="name", value="  ")
    with pytest.raises(discord.HTTPException) as empty_field:
        await channel.send(embed=bad_field)
    assert empty_field.value.code == 50035
    await channel.send(embed=discord.Embed(title=" " + "t" * 256 + " "))


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"content": "hi", "allowed_mentions": {"parse": []}}, True),
        ({"content": "hi", "allowed_mentions": {"parse": ["user"]}}, False),
        ({"content": "hi", "allowed_mentions": {"parse": "users"}}, False),
        ({"content": "hi", "allowed_mentions": {"users": ["alice"]}}, False),
        ({"content": "hi", "allowed_mentions": {"replied_user": "no"}}, False),
        ({"embeds": [{"description": "d", "color": 0xFFFFFF}]}, True),
        ({"embeds": [{"description": "d", "color": 0x1000000}]}, False),
        ({"embeds": [{"description": "d", "color": -1}]}, False),
        ({"embeds": [{"description": "d", "color": "#ff0000"}]}, False),
    ],
)
async def test_allowed_mentions_and_colours_are_validated(
    emulator: DiscordEmulator, world: Scenario, bot: SampleBot, body: dict, ok: bool
) -> None:
    route = discord.http.Route("POST", CHANNEL_MESSAGES, channel_id=world.general.id)
    if ok:
        await bot.http.request(route, json=body)
        return
    with pytest.raises(discord.HTTPException) as refused:
        await bot.http.request(route, json=body)
    assert refused.value.code == 50035 and refused.value.status == 400
