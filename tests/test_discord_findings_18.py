"""End to end: the Discord findings of issue 18 (items 6 to 13), each replayed against the
emulator with the real NewsBot (discord.py) and a real engine on the hashing test embedder.

Every test here failed on the code before its fix. "Refused" below means a request the
emulator answered with a 4xx other than an injected 429 (`rejected`); Discord counts 401, 403
and 429 answers toward its invalid-request limit (10,000 per 10 minutes, then a ban).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.engine import NewsEngine
from index.collections import guild_collection
from index.embedding import BatchProgress, HashingEmbedder
from tests.conftest import make_fast_config
from tests.discord_e2e_helpers import (
    APOLOGY,
    EDIT_ORIGINAL,
    TALKS_QUESTION,
    THREAD_BOT_PERMISSIONS,
    THREADS_ROUTE,
    WAIT_S,
    BrokenEngine,
    GatedEmbedder,
    World,
    admin_command,
    ask,
    bot_running,
    build_world,
    e2e_config,
    e2e_data_dir,
    e2e_emulator,
    e2e_no_rate_limits_provoked,
    e2e_thread_world,
    engine_bot,
    mention,
    only_embed,
    rejected,
    seeded_bot,
    seeded_engine,
    sync_commands,
)
from tests.discord_emulator import DiscordEmulator, Interaction, Message, Permission

pytestmark = pytest.mark.asyncio(loop_scope="session")
emulator = e2e_emulator
no_rate_limits_provoked = e2e_no_rate_limits_provoked
data_dir = e2e_data_dir
world = e2e_thread_world

TYPING_ROUTE = "/channels/{channel_id}/typing"


async def settle(world: World) -> None:
    """Let the bot finish what it was doing: an admin command's round trip (the gateway's
    events are handled in order), then a moment for work that follows an answer."""
    await admin_command(world, "news stats")
    await asyncio.sleep(0.3)


def bot_posts(emu: DiscordEmulator, channel) -> list[Message]:
    return [m for m in channel.history() if m.author.id == emu.bot_user.id]


# --------------------------------------------------------------------------- 6. threads


async def test_no_thread_where_the_bot_may_not_post_in_threads(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    """The bot may create threads in #general but not post in them: thread per question
    answers in the channel and opens no thread; in a member's thread there, where it cannot
    post, a mention gets no request that Discord would refuse (typing, answer, error)."""
    world.general.set_overwrite(
        world.guild.bot_member, deny=Permission.SEND_MESSAGES_IN_THREADS
    )
    async with seeded_bot(emulator, e2e_config(data_dir), HashingEmbedder(), world.guild):
        await admin_command(world, "news threads", enabled=True)
        by_command = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
        _, by_mention = await mention(emulator, world.general, world.bob, TALKS_QUESTION)
        await settle(world)
        starter = await emulator.send_message(world.general, world.alice, "weekend plans")
        members_thread = await emulator.start_thread(starter, world.alice, "weekend plans")
        await emulator.send_message(
            members_thread, world.bob, f"{emulator.bot_user.mention} {TALKS_QUESTION}"
        )
        await settle(world)
    for answer in (by_command.response, by_mention):
        assert only_embed(answer)["title"] == TALKS_QUESTION
        assert answer.channel is world.general and answer.thread is None
    assert emulator.requests_to("POST", THREADS_ROUTE) == []
    assert bot_posts(emulator, members_thread) == []
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 7. no refusals


@pytest.mark.parametrize("missing", ["CREATE_PUBLIC_THREADS", "VIEW_CHANNEL"])
async def test_thread_per_question_asks_discord_nothing_it_would_refuse(
    emulator: DiscordEmulator, data_dir: Path, missing: str
) -> None:
    world = build_world(emulator, bot_permissions=THREAD_BOT_PERMISSIONS)
    world.general.set_overwrite(world.guild.bot_member, deny=Permission[missing])
    async with seeded_bot(emulator, e2e_config(data_dir), HashingEmbedder(), world.guild):
        await admin_command(world, "news threads", enabled=True)
        answers = [
            (await ask(emulator, TALKS_QUESTION, user=member, channel=world.general)).response
            for member in (world.alice, world.bob, world.admin, world.alice)
        ]
        await settle(world)
    assert [only_embed(a)["title"] for a in answers] == [TALKS_QUESTION] * 4
    assert all(a.thread is None for a in answers)
    assert emulator.requests_to("POST", THREADS_ROUTE) == []
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 8. system messages


async def test_system_messages_are_never_questions(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    """A member starts a thread in a free-response channel: Discord posts a THREAD_CREATED
    system message named after it, which the bot must not take as a question (Discord would
    refuse a reply to it anyway)."""
    config = e2e_config(data_dir, message_content=True)
    async with seeded_bot(emulator, config, HashingEmbedder(), world.guild):
        await admin_command(world, "news free-response add", channel=world.news)
        _, notice = await emulator.start_thread_without_message(
            world.news, world.alice, "Friday game night"
        )
        await settle(world)
        asked = await emulator.send_message(world.news, world.bob, TALKS_QUESTION)
        answer = await emulator.wait_for_reply(asked, timeout=WAIT_S)
        await settle(world)
    assert notice.type == 18
    assert bot_posts(emulator, world.news) == [answer]  # a real question is still answered
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 9. free-response


async def test_free_response_channels_are_not_flooded_with_refusals(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    config = e2e_config(data_dir, message_content=True, cooldown_s=30)
    async with seeded_bot(emulator, config, HashingEmbedder(), world.guild):
        await admin_command(world, "news free-response add", channel=world.news)
        # five chat lines: the first is answered, the others come inside the cooldown
        first = await emulator.send_message(world.news, world.alice, TALKS_QUESTION)
        answer = await emulator.wait_for_reply(first, timeout=WAIT_S)
        for text in ("lol", "anyway", "who's in for pizza?", "ok"):
            await emulator.send_message(world.news, world.alice, text)
        await settle(world)
        # a member without the asker role chats there
        await admin_command(world, "news askers allow", role=world.readers)
        for text in ("hi all", "what happened at the talks?", "nice"):
            await emulator.send_message(world.news, world.bob, text)
        await settle(world)
        quiet = bot_posts(emulator, world.news)
        # mentions and /ask keep their replies
        _, told = await mention(emulator, world.news, world.bob, TALKS_QUESTION)
        cooling = await ask(emulator, "floods?", user=world.alice, channel=world.news)
    assert quiet == [answer] and answer.reference is first
    assert told.content == "In this server only members with an asker role may ask me."
    assert cooling.response.ephemeral
    assert cooling.response.content.startswith("One question at a time")
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 10. token expiry


class SlowAfterRelease(GatedEmbedder):
    """GatedEmbedder whose bulk batches after the release take `batch_s` each: a job that
    goes on well past its interaction token's 15 minutes, reporting progress as it goes."""

    def __init__(self, batch_s: float) -> None:
        super().__init__()
        self.batch_s = batch_s

    def embed(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: BatchProgress | None = None
    ) -> np.ndarray:
        if progress is None:
            return super().embed(texts, batch_size=batch_size)

        def slow(done: int, total: int) -> None:
            if self.release.is_set():
                time.sleep(self.batch_s)
            progress(done, total)

        return super().embed(texts, batch_size=batch_size, progress=slow)


async def test_progress_edits_stop_when_the_token_expires(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    seeded_engine(
        e2e_config(data_dir), HashingEmbedder(), collection=guild_collection(world.guild.id)
    ).close()
    config = make_fast_config(
        data_dir, discord={"cooldown_s": 0}, chunking={"max_words": 25}, model={"batch_size": 1}
    )
    embedder = SlowAfterRelease(batch_s=0.4)
    engine = NewsEngine(config, embedder=embedder)
    try:
        await sync_commands(emulator, config, world.guild)
        async with bot_running(emulator, engine, config):
            rebuild = await emulator.invoke_command(
                "news rebuild", user=world.admin, channel=world.general
            )
            await emulator.wait_until(embedder.holding.is_set, timeout=WAIT_S)
            emulator.advance_time(16 * 60)  # the 15-minute interaction token runs out
            started = time.monotonic()
            embedder.release.set()
            dm = emulator.dm_channel(world.admin.user)
            by_dm = await emulator.wait_for_message(channel=dm, timeout=WAIT_S)
            took = time.monotonic() - started
    finally:
        embedder.release.set()
        engine.close()
    refused = [r for r in emulator.requests_to("PATCH", EDIT_ORIGINAL) if r.status == 401]
    print(f"\nrebuild went on {took:.1f} s past the token: {len(refused)} refused edit(s)")
    assert took > 4.0  # long enough for two progress edits at least (one per 2 s)
    assert len(refused) <= 1
    assert by_dm.content.startswith("Your /news rebuild in Newsroom has finished")
    assert not any(m.author.id == emulator.bot_user.id for m in world.general.history())
    assert rebuild.original is not None and rebuild.original.ephemeral


# --------------------------------------------------------------------------- 11. /ask failure


def shows(pattern: re.Pattern[str]) -> Callable[[Interaction], bool]:
    return lambda inter: any(pattern.search(m.content) for m in inter.messages)


async def test_an_ask_failure_is_shown_only_to_the_asker(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    config = e2e_config(data_dir)
    seeded_engine(config, HashingEmbedder()).close()
    engine = BrokenEngine(config, embedder=HashingEmbedder())
    async with engine_bot(emulator, engine, config, world.guild):
        failed = await ask(
            emulator, TALKS_QUESTION, user=world.alice, channel=world.general, until=shows(APOLOGY)
        )
        await settle(world)
    told = [m for m in failed.messages if APOLOGY.search(m.content)]
    assert len(told) == 1 and told[0].ephemeral, [(m.content, m.ephemeral) for m in told]
    # the public "thinking…" placeholder never showed the error, and is gone
    original = failed.original
    assert original is not None and not original.ephemeral
    seen = [original.content] + [p.get("content") or "" for p in original.history]
    assert not any("error id" in text or "went wrong" in text for text in seen), seen
    assert original.deleted
    assert not any("error id" in m.text for m in world.general.history())
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 12. a burst


async def test_a_burst_of_mentions_provokes_no_429(
    emulator: DiscordEmulator, data_dir: Path
) -> None:
    world = build_world(emulator)
    members = [world.guild.add_member(f"reader{i}") for i in range(20)]
    config = e2e_config(data_dir, answer_timeout_s=60.0, queue_wait_s=60.0)
    async with seeded_bot(emulator, config, HashingEmbedder(), world.guild):
        started = time.perf_counter()
        asked = await asyncio.gather(
            *(
                emulator.send_message(
                    world.general, m, f"{emulator.bot_user.mention} {TALKS_QUESTION}"
                )
                for m in members
            )
        )
        replies = await asyncio.gather(
            *(emulator.wait_for_reply(a, timeout=60.0) for a in asked)
        )
        took = time.perf_counter() - started
        await settle(world)
    typing = emulator.requests_to("POST", TYPING_ROUTE)
    provoked = [f"{r.method} {r.path}" for r in emulator.rate_limiter.provoked]
    print(
        f"\n20 simultaneous mentions: all answered in {took:.1f} s, {len(typing)} typing "
        f"request(s), {len(provoked)} 429(s)"
    )
    assert provoked == []
    for question, reply in zip(asked, replies, strict=True):
        answers = [m for m in bot_posts(emulator, world.general) if m.reference is question]
        assert answers == [reply] and only_embed(reply)["title"] == TALKS_QUESTION
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 13. thread names


async def test_thread_names_show_names_not_mention_markup(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    async with seeded_bot(emulator, e2e_config(data_dir), HashingEmbedder(), world.guild):
        await admin_command(world, "news threads", enabled=True)
        role = f"<@&{world.readers.id}>"
        _, by_mention = await mention(
            emulator, world.general, world.alice, f"what did {role} and <@{world.bob.id}> say?"
        )
        by_command = await ask(
            emulator, f"what did {role} say in <#{world.news.id}>?", user=world.alice,
            channel=world.general,
        )
        for answer in (by_mention, by_command.response):
            await emulator.wait_until(lambda a=answer: a.thread, timeout=WAIT_S)
    assert by_mention.thread.name == "what did @readers and @bob say?"
    assert by_command.response.thread.name == "what did @readers say in #news?"
    assert rejected(emulator) == []
