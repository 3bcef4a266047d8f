"""End to end: the ways of asking besides /ask and a mention in a channel, against the emulator.

* a reply Discord refuses (the bot may not read the channel's history) becomes a plain message;
* thread per question (/news threads): an answer opens a thread, and questions asked in it are
  answered with the thread's earlier questions as context;
* free-response channels (/news free-response): every message is a question, which needs the
  privileged Message Content intent (discord.message_content), off by default;
* the per-user cooldown applies to every way of asking.

Same world and fixtures as tests/test_discord_e2e.py (the real NewsBot, a real engine on the
hashing test embedder, the strict emulator, the suite's zero-429 check).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.discord_app.admin_cog import FREE_RESPONSE_UNAVAILABLE
from bot.discord_app.client import NewsBot
from bot.discord_app.startup import MESSAGE_CONTENT_REFUSED, run_bot_async
from bot.engine import NewsEngine
from index.embedding import HashingEmbedder
from index.errors import NewsbotError
from tests.discord_e2e_helpers import (
    CHANNEL_MESSAGES,
    TALKS_QUESTION,
    TALKS_TITLE,
    THREADS_ROUTE,
    WAIT_S,
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
    mention,
    only_embed,
    rejected,
    seeded_bot,
    seeded_engine,
    sync_commands,
    with_token,
)
from tests.discord_emulator import (
    DiscordEmulator,
    Intent,
    Op,
    Permission,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
emulator = e2e_emulator
no_rate_limits_provoked = e2e_no_rate_limits_provoked
data_dir = e2e_data_dir
world = e2e_thread_world

REFUGEES = "and how many refugees fled?"


@pytest.fixture
def engine(data_dir: Path):
    engine = seeded_engine(e2e_config(data_dir), HashingEmbedder())
    yield engine
    engine.close()


@pytest_asyncio.fixture
async def bot(
    emulator: DiscordEmulator, world: World, engine: NewsEngine, data_dir: Path
) -> AsyncIterator[NewsBot]:
    config = e2e_config(data_dir)
    await sync_commands(emulator, config, world.guild)
    async with bot_running(emulator, engine, config) as running:
        yield running
    assert rejected(emulator) == []


def identified_intents(emu: DiscordEmulator) -> int:
    return emu.gateway.frames(Op.IDENTIFY)[-1].d["intents"]


# --------------------------------------------------------------------------- replies refused


async def test_answer_is_a_plain_message_where_replies_are_refused(
    emulator: DiscordEmulator, world: World, bot: NewsBot
) -> None:
    # the bot may post in #news but not read its history: Discord refuses replies (160002)
    world.news.set_overwrite(world.guild.bot_member, deny=Permission.READ_MESSAGE_HISTORY)
    asked = await emulator.send_message(
        world.news, world.alice, f"{emulator.bot_user.mention} {TALKS_QUESTION}"
    )
    answer = await emulator.wait_for_message(channel=world.news, after=asked, timeout=WAIT_S)
    assert answer.reference is None  # a plain message, not a reply
    assert only_embed(answer)["title"] == TALKS_QUESTION
    assert answer.mentions == []
    stored = await emulator.wait_until(
        lambda: bot.guild_store.answer_for_message(answer.id),
        description="the stored answer",
        timeout=WAIT_S,
    )
    assert stored.question == TALKS_QUESTION
    # a refusal (here: an empty mention) takes the same way out
    empty = await emulator.send_message(world.news, world.bob, emulator.bot_user.mention)
    refusal = await emulator.wait_for_message(channel=world.news, after=empty, timeout=WAIT_S)
    assert refusal.content.startswith("Ask me a question after the mention")
    # and where replies are allowed, answers stay replies
    _, reply = await mention(emulator, world.general, world.alice, TALKS_QUESTION)
    assert reply.reference is not None


async def test_answer_is_text_where_the_bot_may_not_embed(
    emulator: DiscordEmulator, world: World, bot: NewsBot
) -> None:
    # without Embed Links Discord drops a message's embeds: only the buttons would be left
    world.news.set_overwrite(world.guild.bot_member, deny=Permission.EMBED_LINKS)
    asked, answer = await mention(emulator, world.news, world.alice, TALKS_QUESTION)
    assert answer.embeds == [] and answer.reference is asked
    title, _, body = answer.content.partition("\n")
    assert title == f"**{TALKS_QUESTION}**"
    assert "[1]" in body and TALKS_TITLE in body and len(answer.content) <= 2000
    assert [b["label"] for b in answer.buttons] == ["Show sources", "Helpful", "Not helpful"]


# --------------------------------------------------------------------------- thread per question


async def test_thread_per_question_opens_a_thread_and_follow_ups_keep_the_context(
    emulator: DiscordEmulator, world: World, bot: NewsBot
) -> None:
    # off by default: an answer stays in the channel
    plain = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
    assert plain.response.thread is None and not emulator.requests_to("POST", THREADS_ROUTE)

    turned_on = await admin_command(world, "news threads", enabled=True)
    assert turned_on.response.ephemeral
    assert turned_on.response.content.startswith("Thread per question is on")

    inter = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
    answer = inter.response
    thread = await emulator.wait_until(
        lambda: answer.thread, description="the answer's thread", timeout=WAIT_S
    )
    assert thread.id == answer.id and thread.parent is world.general
    assert thread.name == TALKS_QUESTION and thread.owner_id == emulator.bot_user.id

    # a follow-up inside the thread: a mention, answered in the thread, with the context
    follow, reply = await mention(emulator, thread, world.bob, REFUGEES)
    assert reply.channel is thread and reply.reference is follow
    assert only_embed(reply)["title"] == REFUGEES
    stored = await emulator.wait_until(
        lambda: bot.guild_store.answer_for_message(reply.id),
        description="the stored answer",
        timeout=WAIT_S,
    )
    assert stored.context == TALKS_QUESTION
    assert not emulator.requests_to("POST", THREADS_ROUTE)[1:]  # no thread inside a thread

    # /ask inside the thread sees both earlier questions
    later = await ask(emulator, "who met at the border?", user=world.alice, channel=thread)
    assert only_embed(later.response)
    stored = await emulator.wait_until(
        lambda: bot.guild_store.answer_for_message(later.response.id),
        description="the stored answer",
        timeout=WAIT_S,
    )
    assert stored.context == f"{TALKS_QUESTION} {REFUGEES}"

    # a mention in the channel opens a thread too; a thread follows its channel's rules
    _, by_mention = await mention(emulator, world.news, world.alice, "How bad are the floods?")
    assert (
        await emulator.wait_until(lambda: by_mention.thread, description="a thread", timeout=WAIT_S)
    ).parent is world.news
    await admin_command(world, "news channels deny", channel=world.general)
    refused = await ask(emulator, "still there?", user=world.bob, channel=thread)
    assert refused.response.ephemeral
    assert refused.response.content.startswith("I don't answer questions in this channel")
    await admin_command(world, "news threads", enabled=False)
    off = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.random)
    assert off.response.thread is None


# --------------------------------------------------------------------------- free-response


async def test_free_response_channel_answers_every_message(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    config = e2e_config(data_dir, message_content=True, cooldown_s=120)
    async with seeded_bot(emulator, config, HashingEmbedder(), world.guild):
        assert identified_intents(emulator) & Intent.MESSAGE_CONTENT
        added = await admin_command(world, "news free-response add", channel=world.news)
        assert added.response.content == f"Every message is a question in: <#{world.news.id}>"
        asked = await emulator.send_message(world.news, world.bob, TALKS_QUESTION)
        answer = await emulator.wait_for_reply(asked, timeout=WAIT_S)
        assert only_embed(answer)["title"] == TALKS_QUESTION
        # elsewhere, a message without a mention is still not a question
        chatter = await emulator.send_message(world.general, world.bob, TALKS_QUESTION)
        # the cooldown covers every way of asking: a second message is not answered (and,
        # people chatting there, gets no refusal either)
        again = await emulator.send_message(world.news, world.bob, "and the refugees?")
        by_command = await ask(emulator, "floods?", user=world.bob, channel=world.general)
        assert by_command.response.content.startswith("One question at a time")
        listed = await admin_command(world, "news free-response list")
        assert f"<#{world.news.id}>" in listed.response.content
        removed = await admin_command(world, "news free-response remove", channel=world.news)
        assert removed.response.content.startswith("No free-response channels")
        quiet = await emulator.send_message(world.news, world.alice, TALKS_QUESTION)
        _, last = await mention(emulator, world.news, world.alice, "floods?")  # after quiet
        assert only_embed(last)
    replies_to = {m.reference.id for m in emulator.state.all_messages() if m.reference}
    assert {chatter.id, again.id, quiet.id}.isdisjoint(replies_to)
    assert {r.status for r in emulator.requests_to("POST", CHANNEL_MESSAGES)} == {200}


async def test_free_response_needs_the_message_content_intent(
    emulator: DiscordEmulator, world: World, bot: NewsBot
) -> None:
    assert not identified_intents(emulator) & Intent.MESSAGE_CONTENT  # off by default
    for name, options in (
        ("news free-response add", {"channel": world.news}),
        ("news free-response remove", {"channel": world.news}),
        ("news free-response list", {}),
    ):
        inter = await admin_command(world, name, **options)
        assert inter.response.ephemeral and inter.response.content == FREE_RESPONSE_UNAVAILABLE
    assert bot.guild_store.list_free_channels(world.guild.id) == []
    # without the intent, Discord sends no content for a plain message: nothing to answer
    quiet = await emulator.send_message(world.news, world.alice, TALKS_QUESTION)
    _, answer = await mention(emulator, world.news, world.alice, TALKS_QUESTION)
    assert only_embed(answer)["title"] == TALKS_QUESTION
    assert all(m.reference is not quiet for m in emulator.state.all_messages())


async def test_message_content_refused_by_the_portal_is_one_clear_line(
    data_dir: Path,
) -> None:
    # the intent is on in the config but not in the developer portal: Discord closes 4014
    async with DiscordEmulator(privileged_intents=0) as emu:
        build_world(emu)
        engine = seeded_engine(e2e_config(data_dir), HashingEmbedder())
        config = with_token(e2e_config(data_dir, message_content=True), emu.token)
        root = logging.getLogger()
        level = root.level
        try:
            with pytest.raises(NewsbotError) as refused:
                await run_bot_async(config, engine, api_base=emu.base_url)
        finally:
            root.setLevel(level)  # run_bot_async sets up logging for `newsbot run`
            engine.close()
        assert str(refused.value) == MESSAGE_CONTENT_REFUSED
        frames = emu.gateway.frames(Op.IDENTIFY)
        assert frames and frames[-1].d["intents"] & Intent.MESSAGE_CONTENT
        assert emu.gateway.connections[-1].server_close_code == 4014
