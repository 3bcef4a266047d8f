"""Who may do what: admin logic, rate limits, input checks, and the command tree's own gates."""

from __future__ import annotations

import asyncio

import discord
import pytest
from discord import app_commands

from bot.discord_app.admin_jobs import ProgressEditor, check_attachment, parse_http_urls
from bot.discord_app.client import NewsBot
from bot.discord_app.connection import configure_endpoints, current_endpoints, require_token
from bot.discord_app.errors import MissingToken, Refusal
from bot.discord_app.permissions import Cooldown, Lane, LaneFull, is_admin
from bot.settings import Config, DiscordSettings
from index.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- admin


def test_manage_server_is_admin():
    assert is_admin(True)
    assert not is_admin(False)


def test_admin_roles_by_id_only():
    assert is_admin(False, [1, 123456789], [123456789])
    assert not is_admin(False, [5], [123456789])
    assert not is_admin(False, [], [123456789])
    assert not is_admin(False, [5], [])


def test_admin_role_names_are_refused_in_the_config():
    from bot.config import config_from_dict

    with pytest.raises(ConfigError, match=r"discord.admin_roles\[0\].*matched by id only"):
        config_from_dict({"discord": {"admin_roles": ["moderators"]}})
    config = config_from_dict({"discord": {"admin_roles": [123, "456"]}})
    assert config.discord.admin_roles == (123, 456)


# ---------------------------------------------------------------- rate limits


def test_cooldown_per_user():
    clock = Clock()
    cd = Cooldown(10, clock=clock)
    assert cd.hit(1) == 0
    assert cd.retry_after(1) == pytest.approx(10)
    assert cd.hit(1) == pytest.approx(10)  # refused: not re-recorded
    assert cd.hit(2) == 0  # another user is independent
    clock.now += 4
    assert cd.retry_after(1) == pytest.approx(6)
    clock.now += 6
    assert cd.hit(1) == 0


def test_zero_cooldown_never_blocks():
    cd = Cooldown(0, clock=Clock())
    assert cd.hit(1) == 0 and cd.hit(1) == 0


async def test_lane_queues_then_refuses():
    clock = Clock()
    lane = Lane(1, max_waiting=1, max_wait_s=5.0, clock=clock)
    await lane.acquire()
    waited: list[str] = []

    async def note() -> None:
        waited.append("deferred")

    second = asyncio.create_task(lane.acquire(on_wait=note))
    await asyncio.sleep(0)
    assert waited == ["deferred"] and lane.waiting == 1
    with pytest.raises(LaneFull) as full:  # the queue (one place) is taken
        await lane.acquire()
    assert full.value.retry_after >= 2.0
    lane.release(30.0)  # the slot goes straight to the one waiting
    await second
    assert lane.active == 1 and lane.waiting == 0
    assert lane.retry_hint(floor=1) == pytest.approx(30)  # typical job: 30 s
    lane.release(30.0)
    assert lane.active == 0
    with pytest.raises(RuntimeError):
        lane.release()


async def test_lane_wait_is_bounded():
    lane = Lane(1, max_waiting=4, max_wait_s=0.05)
    await lane.acquire()
    with pytest.raises(LaneFull):
        await lane.acquire()  # waited 0.05 s, no slot
    assert lane.waiting == 0  # it left the line
    lane.release()
    await lane.acquire()  # free again at once
    assert lane.active == 1


async def test_lane_without_a_queue_refuses_at_once():
    lane = Lane(2, max_waiting=0)
    await lane.acquire()
    await lane.acquire()
    with pytest.raises(LaneFull):
        await lane.acquire()


# ---------------------------------------------------------------- input checks


def test_only_http_urls_can_be_added():
    assert parse_http_urls("https://a.example/1  <http://b.example/2> https://a.example/1") == [
        "https://a.example/1",
        "http://b.example/2",
    ]
    for bad in ("/etc/passwd", "file:///etc/passwd", "ftp://x/y", "seeds/a.txt", ""):
        with pytest.raises(Refusal):
            parse_http_urls(bad)
    with pytest.raises(Refusal):
        parse_http_urls(" ".join(f"https://e.com/{i}" for i in range(21)))


def test_attachment_type_and_size():
    check_attachment("Report.HTML", 10, 100)
    check_attachment("feed.jsonl", 100, 100)
    with pytest.raises(Refusal, match="not one of them"):
        check_attachment("malware.exe", 10, 100)
    with pytest.raises(Refusal, match="limit"):
        check_attachment("big.txt", 101, 100)


def test_missing_token_is_a_config_error_with_instructions():
    with pytest.raises(MissingToken) as info:
        require_token(Config(discord=DiscordSettings(token="  ")))
    assert isinstance(info.value, ConfigError)
    assert "Reset Token" in str(info.value) and "DISCORD_TOKEN" in str(info.value)
    assert require_token(Config(discord=DiscordSettings(token=" abc "))) == "abc"


# ---------------------------------------------------------------- progress throttling


async def test_progress_edits_are_throttled_and_show_the_latest():
    shown: list[str] = []

    async def edit(text: str) -> None:
        shown.append(text)

    loop = asyncio.get_running_loop()
    editor = ProgressEditor(edit, loop, interval=0.2)
    async with editor:

        def worker() -> None:  # the engine calls Progress from its thread
            for i in range(1, 101):
                editor.report("embedding", i, 100)

        await asyncio.to_thread(worker)
        await asyncio.sleep(0.35)
    assert 1 <= len(shown) <= 3
    assert shown[-1] == "Working… embedding: 100/100 (100%)"
    editor.report("late", 1, 1)  # after the block: ignored, no error


# ---------------------------------------------------------------- the command tree


@pytest.fixture
async def built_bot():
    bot = NewsBot(None, Config())
    await bot._async_setup_hook()
    await bot.setup_hook()
    yield bot
    await bot.close()


async def test_bot_cannot_ping_and_needs_no_privileged_intent(built_bot: NewsBot):
    mentions = built_bot.allowed_mentions
    assert mentions is not None
    assert mentions.to_dict() == {"parse": []}
    assert not built_bot.intents.message_content
    assert not built_bot.intents.members and not built_bot.intents.presences
    assert built_bot.intents.guild_messages and built_bot.intents.dm_messages


async def test_news_group_is_guild_only_and_hidden_from_non_admins(built_bot: NewsBot):
    news = built_bot.tree.get_command("news")
    assert isinstance(news, app_commands.Group)
    payload = news.to_dict(built_bot.tree)
    assert payload["default_member_permissions"] == discord.Permissions(manage_guild=True).value
    assert payload["contexts"] == [0]
    names = sorted(
        c.qualified_name for c in news.walk_commands() if isinstance(c, app_commands.Command)
    )
    assert names == [
        "news add-file",
        "news add-url",
        "news askers allow",
        "news askers deny",
        "news askers list",
        "news askers reset",
        "news channels allow",
        "news channels deny",
        "news channels list",
        "news channels reset",
        "news feed",
        "news feeds",
        "news follow",
        "news free-response add",
        "news free-response list",
        "news free-response remove",
        "news rebuild",
        "news remove",
        "news shared",
        "news stats",
        "news threads",
        "news unfollow",
    ]
    # every /news command is also checked inside the bot (server owners can lift the default)
    for cmd in news.walk_commands():
        if isinstance(cmd, app_commands.Command):
            assert cmd.binding is not None
            own_check = type(cmd.binding).interaction_check
            assert own_check is not discord.ext.commands.Cog.interaction_check


async def test_ask_is_offered_in_dms_only_when_dms_are_answered(built_bot: NewsBot):
    ask = built_bot.tree.get_command("ask")
    payload = ask.to_dict(built_bot.tree)
    assert payload["contexts"] == [0]  # default config: allow_dms = False
    assert [o["name"] for o in payload["options"]] == ["question", "source", "since", "until"]
    assert payload["options"][0]["required"] is True

    dm_bot = NewsBot(None, Config(discord=DiscordSettings(allow_dms=True)))
    await dm_bot._async_setup_hook()
    await dm_bot.setup_hook()
    try:
        assert dm_bot.tree.get_command("ask").to_dict(dm_bot.tree)["contexts"] == [0, 1]
    finally:
        await dm_bot.close()


def test_endpoints_can_point_at_an_emulator():
    before = current_endpoints()
    try:
        configure_endpoints("http://127.0.0.1:8080", "ws://127.0.0.1:8080/gateway")
        assert current_endpoints() == (
            "http://127.0.0.1:8080/api/v10",
            "ws://127.0.0.1:8080/gateway",
        )
        configure_endpoints("http://127.0.0.1:9000/")  # the gateway follows the host
        assert current_endpoints() == (
            "http://127.0.0.1:9000/api/v10",
            "ws://127.0.0.1:9000/",
        )
        configure_endpoints()
        assert current_endpoints() == (
            "https://discord.com/api/v10",
            "wss://gateway.discord.gg/",
        )
    finally:
        configure_endpoints(*before)
