"""End to end: the real NewsBot (discord.py) against the Discord emulator, with a real engine.

Each test plays one scenario of the bot's life the way Discord users (and a flaky network)
would, and asserts on what Discord recorded: the callbacks, follow-ups, edits and channel
messages the bot sent, their embeds, flags and allowed_mentions, and the bot's own state
(settings, stored answers, feedback) where the scenario is about it.

Most tests use the deterministic HashingEmbedder; the answer-content scenarios (plain /ask and
adding articles by URL and by file) use the real packaged model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from click.testing import CliRunner

from bot.cli import cli
from bot.discord_app.client import NewsBot
from bot.discord_app.errors import NotAdmin
from bot.discord_app.render.answers import COLOR_DECLINED, FOLLOW_UP_HINT
from bot.discord_app.render.text import ZWSP
from bot.engine import NewsEngine
from bot.reader.answer import NOT_FOUND
from bot.settings import Config
from index.collections import guild_collection
from index.embedding import HashingEmbedder
from index.feedstate import FeedBook
from tests.conftest import make_config, make_fast_config
from tests.discord_e2e_helpers import (
    APOLOGY,
    ARTICLES,
    CALLBACK,
    CHANNEL_MESSAGES,
    EDIT_ORIGINAL,
    FINAL_TITLE,
    FLOODS_TITLE,
    FOLLOWUP,
    RATES_TITLE,
    TALKS_QUESTION,
    TALKS_TITLE,
    TALKS_URL,
    WAIT_S,
    BrokenEngine,
    GatedEmbedder,
    LoopbackSite,
    World,
    admin_command,
    article_file,
    ask,
    assert_asks_no_pings,
    assert_pings_nobody,
    assert_within_limits,
    bot_running,
    build_world,
    click,
    done_with,
    e2e_data_dir,
    e2e_emulator,
    e2e_no_rate_limits_provoked,
    e2e_world,
    engine_bot,
    invoke,
    mention,
    news_page,
    only_embed,
    rejected,
    seeded_bot,
    seeded_engine,
    sync_commands,
)
from tests.discord_emulator import (
    DEFAULT_BOT_PERMISSIONS,
    Channel,
    CommandInvocationError,
    DiscordEmulator,
    Message,
    MessageFlags,
    Permission,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")


emulator = e2e_emulator  # a fresh emulator per test; its provoked 429s go to the tally
no_rate_limits_provoked = e2e_no_rate_limits_provoked  # autouse: the module fails on any


SOURCES_SPLIT = "\n\n**Sources**\n"
NOT_HERE = (
    "I don't answer questions in this channel. A server admin can change that with /news channels."
)


def fast_config(data_dir: Path, **sections: dict) -> Config:
    """Test config for the hashing test embedder (conftest.make_fast_config): no per-user
    cooldown unless a test sets one."""
    discord = {"cooldown_s": 0, **sections.pop("discord", {})}
    return make_fast_config(data_dir, discord=discord, **sections)


def real_model_config(data_dir: Path, **sections: dict) -> Config:
    """Test config for the real model: no per-user cooldown, the default answer settings."""
    discord = {"cooldown_s": 0, **sections.pop("discord", {})}
    return make_config(data_dir, discord=discord, **sections)


world = e2e_world
data_dir = e2e_data_dir


@pytest.fixture
def bot_config(data_dir: Path) -> Config:
    return fast_config(data_dir)


@pytest.fixture
def engine(bot_config: Config):
    engine = seeded_engine(bot_config, HashingEmbedder())
    yield engine
    engine.close()


@pytest_asyncio.fixture
async def bot(
    emulator: DiscordEmulator, world: World, engine: NewsEngine, bot_config: Config
) -> AsyncIterator[NewsBot]:
    await sync_commands(emulator, bot_config, world.guild)
    async with bot_running(emulator, engine, bot_config) as running:
        yield running
    assert rejected(emulator) == []


def answer_parts(embed: dict) -> tuple[str, list[str]]:
    """(lead, source lines) of an answer embed's description."""
    lead, _, listing = embed["description"].partition(SOURCES_SPLIT)
    return lead, listing.splitlines()


def first_source(message: Message) -> str:
    """The first line of the source list of the answer in `message`."""
    return answer_parts(only_embed(message))[1][0]


def source_line(n: int, title: str, url: str | None, byline: str) -> str:
    shown = f"[{title}]({url})" if url else title
    return f"**[{n}]** {shown} — {byline}"


async def assert_answered_only_in(
    emulator: DiscordEmulator, world: World, answered: Channel, refused: Channel
) -> None:
    """alice's /ask is refused, privately, in `refused` and answered in public in `answered`."""
    refusal = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=refused)
    assert refusal.response.ephemeral and refusal.response.content == NOT_HERE
    answer = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=answered)
    assert not answer.response.ephemeral and only_embed(answer.response)


# --------------------------------------------------------------------------- 1. /ask


@pytest.mark.model
async def test_ask_in_allowed_channel_answers_with_embed_and_sources(
    emulator: DiscordEmulator, world: World, data_dir: Path, real_embedder
) -> None:
    config = real_model_config(data_dir)
    async with seeded_bot(emulator, config, real_embedder, world.guild):
        allow = await invoke(
            emulator,
            "news channels allow",
            user=world.admin,
            channel=world.news,
            options={"channel": world.news},
        )
        assert allow.response.content.startswith(f"Allowed <#{world.news.id}>.")
        inter = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.news)

    # deferred first ("NewsBot is thinking…", public), then filled in by editing it
    assert inter.callback_type == 5
    assert [kind for kind, _ in inter.log] == ["callback", "edit"]
    answer = inter.response
    assert answer is inter.original and inter.followups == []
    assert answer.history[0]["flags"] & MessageFlags.LOADING
    assert not answer.ephemeral and not answer.loading
    assert answer.content == ""

    embed = only_embed(answer)
    assert embed["title"] == TALKS_QUESTION
    assert embed["footer"]["text"] == FOLLOW_UP_HINT
    lead, sources = answer_parts(embed)
    # the lead is copied from the talks article and cites it as [1]
    assert "Belarus border" in lead and lead.rstrip().endswith("[1]")
    assert set(re.findall(r"\[(\d+)\]", lead)) == {"1"}
    assert sources[0] == source_line(1, TALKS_TITLE, TALKS_URL, "World Desk, 2022-03-01")
    assert [line.split()[0] for line in sources] == [f"**[{n}]**" for n in range(1, 5)]
    assert {FLOODS_TITLE, RATES_TITLE, FINAL_TITLE} <= {
        re.sub(r"^\*\*\[\d\]\*\* \[(.*?)\]\(.*$", r"\1", line) for line in sources[1:]
    }
    assert [b["label"] for b in answer.buttons] == ["Show sources", "Helpful", "Not helpful"]
    edit = emulator.requests_to("PATCH", EDIT_ORIGINAL)[-1]
    assert_asks_no_pings(edit.json)
    assert emulator.requests_to("POST", FOLLOWUP) == []
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 2. refusals


async def test_ask_in_denied_channel_is_refused_ephemerally(
    emulator: DiscordEmulator,
    world: World,
    bot: NewsBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="newsbot.discord")
    deny = await admin_command(world, "news channels deny", channel=world.general)
    assert deny.response.ephemeral
    assert deny.response.content.startswith(f"Denied <#{world.general.id}>.")

    refused = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
    assert refused.callback_type == 4  # answered at once, no "thinking…" first
    assert refused.response.flags & MessageFlags.EPHEMERAL
    assert refused.response.content == NOT_HERE
    assert refused.response.embeds == [] and refused.followups == []

    # other channels still work
    answered = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.random)
    assert answered.callback_type == 5 and only_embed(answered.response)

    # a mention in the denied channel is ignored without a word (logged, not answered)
    asked = await emulator.send_message(
        world.general, world.alice, f"{emulator.bot_user.mention} {TALKS_QUESTION}"
    )
    await emulator.wait_until(
        lambda: any(
            f"message {asked.id}" in r.getMessage() and "NotAllowedHere" in r.getMessage()
            for r in caplog.records
        ),
        timeout=WAIT_S,
        description="the bot to decide about the mention",
    )
    assert [m for m in world.general.history() if m.reference is asked] == []


async def test_ask_outside_the_allow_list_is_refused(
    emulator: DiscordEmulator, world: World, bot: NewsBot
) -> None:
    await admin_command(world, "news channels allow", channel=world.news)
    await assert_answered_only_in(emulator, world, answered=world.news, refused=world.random)
    listed = await admin_command(world, "news channels list")
    assert listed.response.content.startswith(f"I answer only in: <#{world.news.id}>.")


# --------------------------------------------------------------------------- 3. mentions


async def test_mention_then_reply_is_a_follow_up_with_context(
    emulator: DiscordEmulator, world: World, bot: NewsBot
) -> None:
    asked, answer = await mention(emulator, world.general, world.alice, TALKS_QUESTION)
    assert answer.reference is asked and not answer.ephemeral
    embed = only_embed(answer)
    lead, sources = answer_parts(embed)
    assert "[1]" in lead and sources[0].startswith(f"**[1]** [{TALKS_TITLE}]")
    post = emulator.requests_to("POST", CHANNEL_MESSAGES)[-1]
    assert_asks_no_pings(post.json)
    assert int(post.json["message_reference"]["message_id"]) == asked.id
    assert emulator.requests_to("POST", "/channels/{channel_id}/typing")
    assert_pings_nobody(answer)  # mention_author=False: the asker is not pinged either

    # the follow-up on its own is too vague to answer (today: declined)...
    _, vague = await mention(emulator, world.general, world.bob, "and how many refugees?")
    vague_lead, _ = answer_parts(only_embed(vague))
    # ...but as a reply to the answer it is about the talks
    follow, reply = await mention(
        emulator, world.general, world.bob, "and how many refugees?", reply_to=answer
    )
    assert reply.reference is follow
    follow_embed = only_embed(reply)
    assert follow_embed["title"] == "and how many refugees?"
    lead, sources = answer_parts(follow_embed)
    assert "[1]" in lead and sources[0].startswith(f"**[1]** [{TALKS_TITLE}]")
    assert vague_lead != lead and (vague_lead.startswith(NOT_FOUND) or "[1]" in vague_lead)
    # the answer is stored before it is sent; its message id just after
    stored = await emulator.wait_until(
        lambda: bot.guild_store.answer_for_message(reply.id), description="the stored answer"
    )
    assert stored.context == TALKS_QUESTION
    assert stored.question == "and how many refugees?" and stored.user_id == world.bob.id

    # replies to an /ask answer (an interaction response) are follow-ups too
    asked_by_command = await ask(
        emulator, "How bad are the floods in Pakistan?", user=world.alice, channel=world.news
    )
    assert first_source(asked_by_command.response).startswith(f"**[1]** [{FLOODS_TITLE}]")
    _, reply = await mention(
        emulator, world.news, world.alice, "and the camps?", reply_to=asked_by_command.response
    )
    assert first_source(reply).startswith(f"**[1]** [{FLOODS_TITLE}]")
    stored = await emulator.wait_until(
        lambda: bot.guild_store.answer_for_message(reply.id), description="the stored answer"
    )
    assert stored.context == "How bad are the floods in Pakistan?"


# --------------------------------------------------------------------------- 4. admin rights


def _leaf_commands(command: dict, prefix: str = "") -> list[str]:
    name = f"{prefix} {command['name']}".strip()
    subs = [o for o in command.get("options") or [] if o["type"] in (1, 2)]
    if not subs:
        return [name]
    return [leaf for sub in subs for leaf in _leaf_commands(sub, name)]


async def test_member_without_rights_is_refused_every_admin_command(
    emulator: DiscordEmulator, world: World, engine: NewsEngine, bot: NewsBot
) -> None:
    # some state to protect
    await admin_command(world, "news channels allow", channel=world.general)
    await admin_command(world, "news askers allow", role=world.readers)
    store = bot.guild_store
    gid = world.guild.id

    def snapshot() -> tuple:
        stats = engine.stats()
        return (
            stats.articles,
            stats.passages,
            stats.last_change,
            store.list_channels(gid),
            store.list_asker_roles(gid),
            store.searches_shared(gid),
            store.thread_per_question(gid),
            store.list_free_channels(gid),
            [a.id for a in engine.store.db.all_articles()],
            FeedBook(engine.store.db).feeds(),
        )

    before = snapshot()
    site = LoopbackSite({"/story": ("text/html", news_page("Never fetched", ["No."] * 3))})
    upload = emulator.add_attachment("sneaky.txt", article_file("Sneaky", "Not added. " * 20))
    news = next(c for c in emulator.state.commands.list(gid) if c["name"] == "news")
    # Discord itself hides /news from alice (default_member_permissions)...
    with pytest.raises(CommandInvocationError, match="cannot see /news"):
        await emulator.invoke_command(
            "news stats", user=world.alice, channel=world.general, options={}
        )
    # ...but a server owner can unhide it in Integrations: the bot must refuse on its own
    with site.serving():
        options = {
            "news add-url": {"urls": site.url("/story")},
            "news add-file": {"file": upload},
            "news feed": {"url": site.url("/feed.xml")},
            "news follow": {"url": site.url("/feed.xml"), "every": "5m"},
            "news unfollow": {"url": site.url("/feed.xml")},
            "news feeds": {},
            "news remove": {"articles": TALKS_URL},
            "news rebuild": {},
            "news stats": {},
            "news shared": {"include": False},
            "news channels allow": {"channel": world.random},
            "news channels deny": {"channel": world.general},
            "news channels list": {},
            "news channels reset": {},
            "news askers allow": {"role": world.editors},
            "news askers deny": {"role": world.readers},
            "news askers list": {},
            "news askers reset": {},
            "news threads": {"enabled": True},
            "news free-response add": {"channel": world.random},
            "news free-response remove": {"channel": world.random},
            "news free-response list": {},
        }
        assert sorted(_leaf_commands(news)) == sorted(options)  # every /news subcommand
        for name, opts in options.items():
            inter = await invoke(
                emulator,
                name,
                user=world.alice,
                channel=world.general,
                options=opts,
                check_permissions=False,
            )
            assert inter.callback_type == 4, name
            assert inter.response.ephemeral, name
            assert inter.response.content == NotAdmin().text, name
            assert inter.followups == [], name
    assert site.requests == []
    assert not emulator.requests_to("GET", "/attachments/{attachment_id}/{filename}")
    assert snapshot() == before


# --------------------------------------------------------------------------- 5. adding


TRAM_TITLE = "City council approves the new tram line to the airport"
BUDGET_TITLE = "School budget rises by four percent next year"


@pytest.mark.model
async def test_admin_adds_by_url_and_by_file_then_answers_cite_them(
    emulator: DiscordEmulator, world: World, data_dir: Path, real_embedder
) -> None:
    config = real_model_config(data_dir, fetch={"allow_private": True, "timeout_s": 10})
    site = LoopbackSite()
    site.pages["/city/tram-line"] = (
        "text/html; charset=utf-8",
        news_page(
            TRAM_TITLE,
            [
                "The city council voted on Wednesday to build a new tram line from the central "
                "station to the airport, ending a debate that lasted more than ten years.",
                "The line will cost 2.3 billion euros and is due to open in 2029, the transport "
                "department said. Trams will run every six minutes at peak times.",
                "Opponents on the council said the money would be better spent on buses, but the "
                "plan passed by 31 votes to 18 after a long session.",
            ],
        ),
    )
    upload = emulator.add_attachment(
        "budget.md",
        article_file(
            BUDGET_TITLE,
            """
# School budget

The county's school budget will rise by four percent next year, the education committee
decided on Friday. Most of the extra money will pay for forty new teachers and for repairs to
school roofs. Parents' groups welcomed the increase but said class sizes were still too large.
""",
            source="Town Hall Gazette",
            published="2024-03-15",
        ),
    )
    with site.serving():
        async with seeded_bot(emulator, config, real_embedder, world.guild):
            url = site.url("/city/tram-line")
            added = await admin_command(world, "news add-url", urls=url, until=done_with("Done."))
            filed = await admin_command(
                world, "news add-file", file=upload, until=done_with("Done.")
            )
            tram = await ask(
                emulator,
                "When will the tram line to the airport open?",
                user=world.alice,
                channel=world.general,
            )
            budget = await ask(
                emulator,
                "How much will the school budget rise next year?",
                user=world.bob,
                channel=world.general,
            )

    assert site.requests == ["/city/tram-line"]
    for inter in (added, filed):
        assert inter.callback_type == 5 and inter.response.ephemeral  # admin replies are private
        assert inter.response.content.startswith("Done. Added 1 · updated 0")
    assert TRAM_TITLE in added.response.content and url in added.response.content
    assert BUDGET_TITLE in filed.response.content
    assert emulator.requests_to("GET", "/attachments/{attachment_id}/{filename}")

    lead, sources = answer_parts(only_embed(tram.response))
    assert "tram" in lead and lead.rstrip().endswith("[1]")  # copied from the fetched page
    assert sources[0].startswith(f"**[1]** [{TRAM_TITLE}]({url}) — Loopback News")
    lead, sources = answer_parts(only_embed(budget.response))
    assert "budget" in lead and lead.rstrip().endswith("[1]")  # copied from the file
    assert sources[0] == source_line(1, BUDGET_TITLE, None, "Town Hall Gazette, 2024-03-15")
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 6. rebuild


async def test_rebuild_while_questions_keep_being_answered(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    # indexed with the default chunking; the bot then runs with smaller passages, so
    # /news rebuild must re-cut and re-embed everything (the reason to run it); the articles
    # are the server's own, since /news rebuild acts on the server's collection
    seeded_engine(
        fast_config(data_dir), HashingEmbedder(), collection=guild_collection(world.guild.id)
    ).close()
    config = fast_config(data_dir, chunking={"max_words": 25}, model={"batch_size": 4})
    embedder = GatedEmbedder()
    engine = NewsEngine(config, embedder=embedder)
    before = engine.stats()
    try:
        await sync_commands(emulator, config, world.guild)
        async with bot_running(emulator, engine, config):
            rebuild = await emulator.invoke_command(
                "news rebuild", user=world.admin, channel=world.general
            )
            # the rebuild is now embedding, held after its first batch...
            await emulator.wait_until(
                embedder.holding.is_set, timeout=WAIT_S, description="the rebuild to embed"
            )
            await emulator.wait_for_response(
                rebuild, predicate=done_with("Working…"), timeout=WAIT_S
            )
            # ...while three people ask at once
            asks = await asyncio.gather(
                ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general),
                ask(
                    emulator,
                    "What did the central bank do to interest rates?",
                    user=world.bob,
                    channel=world.news,
                ),
                ask(
                    emulator,
                    "Who saved penalties in the cup final?",
                    user=world.admin,
                    channel=world.random,
                ),
            )
            assert not done_with("Rebuilt")(rebuild)  # all answered mid-rebuild
            assert embedder.holding.is_set() and not embedder.release.is_set()
            embedder.release.set()
            await emulator.wait_for_response(
                rebuild, predicate=done_with("Rebuilt"), timeout=WAIT_S
            )
            after_rebuild = await ask(
                emulator,
                "How many people have died in the monsoon floods in Pakistan?",
                user=world.alice,
                channel=world.general,
            )
        after = engine.stats()
    finally:
        embedder.release.set()
        engine.close()

    titles = [TALKS_TITLE, RATES_TITLE, FINAL_TITLE]
    for inter, title in zip(asks, titles, strict=True):
        assert inter.callback_type == 5 and not inter.response.ephemeral
        assert first_source(inter.response).startswith(f"**[1]** [{title}]")
    assert first_source(after_rebuild.response).startswith(f"**[1]** [{FLOODS_TITLE}]")

    assert rebuild.callback_type == 5 and rebuild.response.ephemeral
    summary = rebuild.response.content
    assert summary == f"Rebuilt {after.articles} articles into {after.passages} passages"
    assert after.articles == before.articles == len(ARTICLES)
    assert after.passages > before.passages  # smaller passages now
    assert embedder.bulk_calls == 1
    edits = [e for kind, e in rebuild.log if kind == "edit"]
    assert len(edits) >= 2  # at least one progress edit, then the summary
    shown = [h["content"] for h in rebuild.response.history if h["content"]]
    assert shown and shown[0].startswith("Working…")
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 7. restart


async def test_channel_settings_survive_a_restart(
    emulator: DiscordEmulator, world: World, bot_config: Config
) -> None:
    await sync_commands(emulator, bot_config, world.guild)
    engine = seeded_engine(bot_config, HashingEmbedder())
    try:
        async with bot_running(emulator, engine, bot_config):
            await admin_command(world, "news channels deny", channel=world.general)
        engine.close()
        # a new process: a new engine and a new bot on the same data directory
        engine = NewsEngine(bot_config, embedder=HashingEmbedder())
        async with bot_running(emulator, engine, bot_config) as second:
            assert second.guild_store.list_channels(world.guild.id) == ([], [world.general.id])
            await assert_answered_only_in(
                emulator, world, answered=world.random, refused=world.general
            )
            await admin_command(world, "news channels allow", channel=world.news)
        async with bot_running(emulator, engine, bot_config):
            await assert_answered_only_in(
                emulator, world, answered=world.news, refused=world.random
            )
            listed = await admin_command(world, "news channels list")
    finally:
        engine.close()
    assert listed.response.content.startswith(
        f"I answer only in: <#{world.news.id}>.\nNever in: <#{world.general.id}>."
    )
    assert emulator.gateway.ready_count == 3  # three separate logins
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 8. resume


async def test_dropped_gateway_resumes_and_answers_again(
    emulator: DiscordEmulator, world: World, bot: NewsBot
) -> None:
    first = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
    assert only_embed(first.response)
    session = emulator.gateway.session
    assert session is not None
    await emulator.gateway.drop()
    missed = await emulator.send_message(
        world.general, world.bob, f"{emulator.bot_user.mention} Who won the cup final?"
    )
    await emulator.wait_for_resumed(1, timeout=WAIT_S)
    assert emulator.gateway.ready_count == 1  # resumed, not re-identified
    assert emulator.gateway.session is session
    reply = await emulator.wait_for_reply(missed, timeout=WAIT_S)  # replayed after RESUME
    assert first_source(reply).startswith(f"**[1]** [{FINAL_TITLE}]")
    again = await ask(
        emulator,
        "What did the central bank do to interest rates?",
        user=world.alice,
        channel=world.general,
    )
    assert first_source(again.response).startswith(f"**[1]** [{RATES_TITLE}]")


# --------------------------------------------------------------------------- 9. 429


async def test_rate_limited_follow_up_is_retried_and_arrives_once(
    emulator: DiscordEmulator, world: World, bot: NewsBot
) -> None:
    fault = emulator.rate_limit("PATCH", EDIT_ORIGINAL, times=1, retry_after=0.2)
    inter = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
    assert len(fault.hits) == 1 and fault.remaining == 0
    assert [r.status for r in emulator.requests_to("PATCH", EDIT_ORIGINAL)] == [429, 200]
    assert len(inter.messages) == 1 and inter.followups == []
    answers = [m for m in world.general.history() if m.author.id == emulator.bot_user.id]
    assert answers == [inter.response] and only_embed(answers[0])

    # the same for an answer to a mention (a channel message)
    fault = emulator.rate_limit("POST", CHANNEL_MESSAGES, times=1, retry_after=0.2)
    asked, reply = await mention(
        emulator, world.general, world.bob, "Who saved penalties in the cup final?"
    )
    assert len(fault.hits) == 1
    assert [r.status for r in emulator.requests_to("POST", CHANNEL_MESSAGES)] == [429, 200]
    assert [m for m in world.general.history() if m.reference is asked] == [reply]

    # and for an admin reply, which edits the deferred original (PATCH @original)
    fault = emulator.rate_limit("PATCH", EDIT_ORIGINAL, times=1, retry_after=0.2)
    stats = await admin_command(world, "news stats")
    assert len(fault.hits) == 1
    assert [r.status for r in emulator.requests_to("PATCH", EDIT_ORIGINAL)][-2:] == [429, 200]
    assert len(stats.messages) == 1 and stats.response.ephemeral
    assert only_embed(stats.response)["title"] == "News index"


# --------------------------------------------------------------------------- 10. no pings


async def test_mentions_in_articles_never_ping(emulator: DiscordEmulator, data_dir: Path) -> None:
    # the bot may ping @everyone here, and the role is mentionable: only the bot holds back
    world = build_world(
        emulator, bot_permissions=DEFAULT_BOT_PERMISSIONS | Permission.MENTION_EVERYONE
    )
    alice, bob, readers = world.alice, world.bob, world.readers
    pings = f"@everyone @here <@{alice.id}> <@!{bob.id}> <@&{readers.id}>"
    prank = article_file(
        f"Prank alert to @everyone and <@{alice.id}> at the council",
        f"""
A prankster sent a message saying {pings} to the council's chat on Monday evening. The prank
message at the council told {pings} that the town hall was closing for good. Officials said
the council chat would be moderated from now on.
""",
        url="https://news.example/local/prank",
        source="Local Desk",
    )
    upload = emulator.add_attachment("prank.md", prank)
    question = "What did the prank message at the council say?"
    async with seeded_bot(emulator, fast_config(data_dir), HashingEmbedder(), world.guild):
        added = await admin_command(world, "news add-file", file=upload, until=done_with("Done."))
        inter = await ask(emulator, question, user=alice, channel=world.general)
        _, reply = await mention(emulator, world.general, bob, question)
        shown = await click(emulator, inter.response, "Show sources", user=alice)

    raw = ("@everyone", "@here", f"<@{alice.id}>", f"<@!{bob.id}>", f"<@&{readers.id}>")
    assert "@\u200beveryone" in added.response.content  # the title, in plain content
    messages = [added.response, inter.response, reply, shown.response]
    for message in messages:
        assert_pings_nobody(message)
        for token in raw:
            assert token not in message.text, (token, message.text)
    assert f"@{ZWSP}everyone" in only_embed(inter.response)["description"]
    assert f"@{ZWSP}here" in shown.response.embeds[0]["description"]
    assert "[1]" in only_embed(reply)["description"]

    # every message body the bot sent asked Discord not to ping anyone
    bodies = [r.json for r in emulator.requests_to("POST", FOLLOWUP)]
    bodies += [r.json for r in emulator.requests_to("POST", CHANNEL_MESSAGES)]
    bodies += [
        r.json["data"]
        for r in emulator.requests_to("POST", CALLBACK)
        if r.json["type"] in (4, 7)  # callbacks that carry a message
    ]
    bodies += [r.json for r in emulator.requests_to("PATCH", EDIT_ORIGINAL)]
    assert len(bodies) >= 5
    for body in bodies:
        assert_asks_no_pings(body)
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- 11. limits


def _long_articles(n: int) -> dict[str, bytes]:
    """n articles, each a 400-character title and a single 5,000-character sentence (so one
    5,000-character passage), with long URLs and source names."""
    words = (
        "harbour bridge council budget river tunnel ferry station tram vote mayor repair steel "
        "cable toll traffic"
    ).split()
    out = {}
    for i in range(n):
        rng = random.Random(i)
        title = f"Bridge report {i}: " + " ".join(rng.choice(words) for _ in range(80))
        body = f"The harbour bridge repair number {i} " + " ".join(
            rng.choice(words) + ("," if rng.random() < 0.1 else "") for _ in range(900)
        )
        out[f"bridge{i}.md"] = article_file(
            title[:400],
            body[:5000] + " end",
            url=f"https://news.example/bridge/{i}?q=" + "x" * 300,
            source="City Desk " + "S" * 200,
            published=f"2024-01-{i % 28 + 1:02d}",
        )
    return out


async def test_very_long_sources_stay_within_discord_limits(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    config = fast_config(
        data_dir,
        search={"top_k": 20, "per_article": 1},
        chunking={"max_words": 400},
        answer={"min_similarity": 0.0},
    )
    question = "What is happening with the harbour bridge repair? " + "Please explain. " * 25
    articles = _long_articles(24)
    async with seeded_bot(emulator, config, HashingEmbedder(), world.guild, articles) as bot:
        inter = await ask(emulator, question.strip(), user=world.alice, channel=world.general)
        _, reply = await mention(emulator, world.general, world.bob, question.strip())
        shown = await click(
            emulator,
            inter.response,
            "Show sources",
            user=world.alice,
            until=lambda i: len(i.messages) >= 2,
        )
        stored = bot.guild_store.answer_for_message(inter.response.id)

    # the answer really was huge
    assert stored is not None
    answer = stored.answer
    assert len(answer.citations) == 20
    assert min(len(c.title) for c in answer.citations) >= 399
    assert min(len(c.quote) for c in answer.citations) >= 5000
    assert len(answer.answer) > 4096

    for message in (inter.response, reply):
        embed = only_embed(message)
        assert_within_limits(message)  # the 6,000-character embed total among them
        assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
        _, sources = answer_parts(embed)
        assert sources[0].startswith("**[1]** [Bridge report")
        assert sources[-1].startswith("…and ") and sources[-1].endswith(" more")
    passages = shown.messages
    assert 2 <= len(passages) <= 5
    for message in passages:
        assert message.ephemeral and 1 <= len(message.embeds) <= 10
        assert_within_limits(message)
    texts = [e["description"] for m in passages for e in m.embeds]
    assert all(t.startswith("> ") or t.startswith("…and ") for t in texts)
    assert rejected(emulator) == []  # Discord (the emulator) accepted every message


# --------------------------------------------------------------------------- 12. buttons


async def test_buttons_show_sources_and_record_feedback(
    emulator: DiscordEmulator,
    world: World,
    data_dir: Path,
    engine: NewsEngine,
    bot_config: Config,
) -> None:
    await sync_commands(emulator, bot_config, world.guild)
    async with bot_running(emulator, engine, bot_config) as bot:
        inter = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
        answer = inter.response
        shown = await click(emulator, answer, "Show sources", user=world.bob)
        votes = []
        for user, label in (
            (world.alice, "Helpful"),
            (world.bob, "Helpful"),
            (world.alice, "Not helpful"),
        ):
            votes.append((await click(emulator, answer, label, user=user)).response)
        feedback = bot.guild_store.list_feedback()
        stored = bot.guild_store.answer_for_message(answer.id)
    # the buttons still work after a restart (persistent custom ids)
    async with bot_running(emulator, engine, bot_config):
        again = await click(emulator, answer, "Show sources", user=world.alice)

    # Show sources: the quoted passages, privately, one embed per source
    sources = shown.response
    assert shown.callback_type == 4 and sources.ephemeral
    assert stored is not None
    assert len(sources.embeds) == len(stored.answer.citations)
    first = sources.embeds[0]
    assert first["title"] == f"[1] {TALKS_TITLE}" and first["url"] == TALKS_URL
    assert first["description"].startswith("> Delegations from Russia and Ukraine met")
    assert first["footer"]["text"] == "World Desk, 2022-03-01"
    assert all(e["description"].startswith("> ") for e in sources.embeds)
    assert again.response.embeds == sources.embeds

    # feedback: private thanks; one vote per user and answer, a second click replaces it
    assert [v.content for v in votes] == [
        "Thanks for the feedback!",
        "Thanks for the feedback!",
        "Thanks, I've updated your feedback.",
    ]
    assert all(v.ephemeral for v in votes)
    by_user = {f.user_id: f for f in feedback}
    assert set(by_user) == {world.alice.id, world.bob.id}
    assert by_user[world.alice.id].helpful is False and by_user[world.bob.id].helpful is True
    for row in feedback:
        assert row.question == TALKS_QUESTION
        assert row.answer == stored.answer.answer and "[1]" in row.answer
        assert row.guild_id == world.guild.id and row.channel_id == world.general.id

    result = CliRunner().invoke(
        cli,
        ["--data-dir", str(data_dir), "feedback", "--json"],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {(r["user_id"], r["helpful"], r["question"]) for r in rows} == {
        (world.alice.id, False, TALKS_QUESTION),
        (world.bob.id, True, TALKS_QUESTION),
    }
    assert rejected(emulator) == []


# --------------------------------------------------------------------------- more


async def test_direct_messages_are_refused_unless_allowed(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    dm = emulator.dm_channel(world.alice.user)
    closed = fast_config(data_dir)
    engine = seeded_engine(closed, HashingEmbedder())
    try:
        await sync_commands(emulator, closed, None)  # global commands: DMs see only those
        async with bot_running(emulator, engine, closed):
            asked = await emulator.send_message(dm, world.alice, TALKS_QUESTION)
            refusal = await emulator.wait_for_reply(asked, timeout=WAIT_S)
            # Discord does not offer /ask in DMs then; if a client sent it anyway:
            with pytest.raises(CommandInvocationError, match="not available in DMs"):
                await emulator.invoke_command(
                    "ask", user=world.alice, channel=dm, options={"question": TALKS_QUESTION}
                )
            forced = await invoke(
                emulator,
                "ask",
                user=world.alice,
                channel=dm,
                options={"question": TALKS_QUESTION},
                check_permissions=False,
            )
        opened = fast_config(data_dir, discord={"allow_dms": True})
        await sync_commands(emulator, opened, None)
        async with bot_running(emulator, engine, opened):
            asked_again = await emulator.send_message(dm, world.alice, TALKS_QUESTION)
            answer = await emulator.wait_for_reply(asked_again, timeout=WAIT_S)
            dm_ask = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=dm)
    finally:
        engine.close()
    text = "I answer questions only in servers, not in direct messages."
    assert refusal.content == text and refusal.embeds == []
    assert forced.response.ephemeral and forced.response.content == text
    for message in (answer, dm_ask.response):
        assert first_source(message).startswith(f"**[1]** [{TALKS_TITLE}]")
    assert rejected(emulator) == []


async def test_declined_question_lists_the_closest_articles(
    emulator: DiscordEmulator, world: World, bot: NewsBot
) -> None:
    inter = await ask(
        emulator, "Who won the chess olympiad in 1850?", user=world.alice, channel=world.general
    )
    embed = only_embed(inter.response)
    assert embed["color"] == COLOR_DECLINED
    lead, _, listing = embed["description"].partition("\n\n**Closest articles:**\n")
    assert lead == NOT_FOUND
    lines = listing.splitlines()
    assert lines and all(line.startswith("• [") for line in lines)
    titles = {re.sub(r"^• \[(.*?)\]\(.*$", r"\1", line) for line in lines}
    assert titles <= {TALKS_TITLE, FLOODS_TITLE, RATES_TITLE, FINAL_TITLE} and len(titles) >= 2
    assert "[1]" not in embed["description"]


async def test_per_user_cooldown_says_when_to_try_again(
    emulator: DiscordEmulator, world: World, data_dir: Path
) -> None:
    config = fast_config(data_dir, discord={"cooldown_s": 120})
    penalties = "Who saved penalties in the cup final?"
    async with seeded_bot(emulator, config, HashingEmbedder(), world.guild):
        first = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
        second = await ask(emulator, penalties, user=world.alice, channel=world.general)
        other = await ask(emulator, penalties, user=world.bob, channel=world.general)
        _, by_mention = await mention(emulator, world.general, world.alice, penalties)
    assert only_embed(first.response)
    refusal = second.response
    assert second.callback_type == 4 and refusal.ephemeral
    match = re.fullmatch(r"One question at a time: try again in (\d+) s\.", refusal.content)
    assert match and 60 <= int(match.group(1)) <= 120
    assert only_embed(other.response)  # the cooldown is per user
    assert re.fullmatch(r"One question at a time: try again in \d+ s\.", by_mention.content)
    assert_pings_nobody(by_mention)


async def test_news_stats_for_an_admin(world: World, bot: NewsBot, engine: NewsEngine) -> None:
    inter = await admin_command(world, "news stats")
    assert inter.callback_type == 5 and inter.response.ephemeral
    embed = only_embed(inter.response)
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    stats = engine.stats()
    assert embed["title"] == "News index"
    # The server's own collection (empty) and the shared one it searches; no store-wide
    # counts, which would include other servers' articles.
    assert fields["This server"].startswith("0 articles, 0 passages")
    assert fields["Shared"].startswith(f"{len(ARTICLES)} articles, {stats.passages} passages")
    assert "Articles" not in fields and "Passages" not in fields
    assert fields["Model"] == "hashing-test-embedder"
    assert fields["Index"] == "flat, 256 dims"
    assert str(stats.data_dir) not in inter.response.text  # the host's paths stay private


async def test_unexpected_engine_error_shows_an_error_id_that_is_logged(
    emulator: DiscordEmulator,
    world: World,
    bot_config: Config,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="newsbot.discord")
    engine = BrokenEngine(bot_config, embedder=HashingEmbedder())
    async with engine_bot(emulator, engine, bot_config, world.guild):
        inter = await ask(
            emulator,
            TALKS_QUESTION,
            user=world.alice,
            channel=world.general,
            until=lambda i: any("error id" in m.content for m in i.messages),
        )
        _, reply = await mention(emulator, world.general, world.bob, TALKS_QUESTION)
        await emulator.wait_until(lambda: inter.original.deleted, timeout=WAIT_S)

    ids = []
    for message in (inter.response, reply):
        match = APOLOGY.fullmatch(message.content)
        assert match, message.content
        ids.append(match.group(1))
        assert message.embeds == [] and message.buttons == []
        assert "caught fire" not in message.text  # no internals shown to users
    # the deferral was public: the apology goes to the asker alone, the placeholder is removed
    assert inter.callback_type == 5 and inter.original is not None and inter.original.deleted
    assert inter.response.ephemeral and inter.followups == [inter.response]
    assert [kind for kind, _ in inter.log] == ["callback", "edit", "followup", "delete"]
    assert ids[0] != ids[1]
    for eid in ids:
        records = [r for r in caplog.records if eid in r.getMessage()]
        assert len(records) == 1 and records[0].levelno == logging.ERROR
        assert records[0].exc_info and isinstance(records[0].exc_info[1], RuntimeError)


async def test_bot_messages_are_never_rejected_by_discord(
    emulator: DiscordEmulator, world: World, bot: NewsBot
) -> None:
    """A short tour of everyday use; the emulator validates every body like Discord."""
    inter = await ask(emulator, TALKS_QUESTION, user=world.alice, channel=world.general)
    _, reply = await mention(emulator, world.general, world.bob, "How bad are the floods?")
    for message in (inter.response, reply):
        assert_within_limits(message)
    assert rejected(emulator) == []
    assert emulator.unknown_requests == []
