"""End to end: two Discord servers on one bot keep their articles apart.

The real NewsBot against the Discord emulator, with a real engine (hashing test embedder):
what one server's admin adds is answered from in that server only, and the other server's
admin cannot see it in /news stats, remove it, rebuild it or be answered from it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import NewsEngine
from index.collections import SHARED, guild_collection
from index.embedding import HashingEmbedder
from tests.discord_e2e_helpers import (
    ARTICLES,
    TALKS_QUESTION,
    TALKS_TITLE,
    article_file,
    ask,
    build_world,
    click,
    done_with,
    e2e_config,
    e2e_emulator,
    e2e_no_rate_limits_provoked,
    invoke,
    only_embed,
    rejected,
    seeded_engine,
    synced_bot,
)
from tests.discord_emulator import Channel, DiscordEmulator, Guild, Member, Permission

pytestmark = pytest.mark.asyncio(loop_scope="session")
emulator = e2e_emulator  # a fresh emulator per test; its provoked 429s go to the tally
no_rate_limits_provoked = e2e_no_rate_limits_provoked  # autouse: the module fails on any

SECRET_TITLE = "Zyxcorp agrees to buy Quorbank for 40 billion"
SECRET_URL = "https://news.example/business/zyxcorp-quorbank"
SECRET = article_file(
    SECRET_TITLE,
    """
Zyxcorp agreed on Monday to buy Quorbank for 40 billion dollars, the largest takeover of the
year. The Zyxcorp board said the Quorbank deal would close in March after a vote by
shareholders.
""",
    url=SECRET_URL,
    source="Money Desk",
    published="2024-02-05",
)
SECRET_QUESTION = "How much will Zyxcorp pay for Quorbank?"


def second_server(emu: DiscordEmulator) -> tuple[Guild, Channel, Member, Member]:
    """Server B beside build_world's server A: (the server, its #general, its admin bea
    (Manage Server through the "mods" role), a member ben)."""
    other = emu.add_guild("Elsewhere")
    general = other.add_text_channel("general")
    admin = other.add_member("bea", roles=[other.add_role("mods", Permission.MANAGE_GUILD)])
    return other, general, admin, other.add_member("ben")


async def test_two_servers_never_see_each_others_articles(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    world = build_world(emulator)  # server A: "Newsroom", its admin erin, alice, bob
    other, b_general, b_admin, b_reader = second_server(emulator)  # server B
    a, b = guild_collection(world.guild.id), guild_collection(other.id)

    cfg = e2e_config(tmp_path / "data")
    engine = seeded_engine(cfg, HashingEmbedder())  # the shared collection: ARTICLES
    try:
        async with synced_bot(emulator, engine, cfg, world.guild, other):
            upload = emulator.add_attachment("zyxcorp.md", SECRET)
            added = await invoke(
                emulator,
                "news add-file",
                user=b_admin,
                channel=b_general,
                options={"file": upload},
                until=done_with("Done."),
            )
            (secret_id,) = [x.id for x in engine.store.db.articles_in(b)]
            # Server A's admin: not in A's stats, cannot remove it, rebuild does not touch it.
            stats_a = await invoke(emulator, "news stats", user=world.admin, channel=world.general)
            removed = await invoke(
                emulator,
                "news remove",
                user=world.admin,
                channel=world.general,
                options={"articles": f"{SECRET_URL} {secret_id}"},
            )
            b_passages = engine.store.db.passage_ids_of(engine.store.db.connection(), secret_id)
            rebuilt = await invoke(
                emulator,
                "news rebuild",
                user=world.admin,
                channel=world.general,
                until=done_with("Rebuilt"),
            )
            # Asked in A (by a member and by the admin), it is never the answer or a source.
            asked_in_a = [
                await ask(emulator, SECRET_QUESTION, user=world.alice, channel=world.general),
                await ask(emulator, SECRET_QUESTION, user=world.admin, channel=world.news),
            ]
            # Asked in B, it is; and both servers still get the shared articles.
            asked_in_b = await ask(emulator, SECRET_QUESTION, user=b_reader, channel=b_general)
            shared_in_b = await ask(emulator, TALKS_QUESTION, user=b_reader, channel=b_general)
            shared_in_a = await ask(emulator, TALKS_QUESTION, user=world.bob, channel=world.general)
            # B turns the shared articles off: its questions then see only its own.
            off = await invoke(
                emulator,
                "news shared",
                user=b_admin,
                channel=b_general,
                options={"include": False},
            )
            own_only_b = await ask(emulator, TALKS_QUESTION, user=b_reader, channel=b_general)
            stats_b = await invoke(emulator, "news stats", user=b_admin, channel=b_general)
    finally:
        ids_after = engine.store.db.passage_ids_of(engine.store.db.connection(), secret_id)
        members = engine.store.db.collections_of(secret_id)
        in_a = engine.store.db.articles_in(a)
        engine.close()

    assert added.response.content.startswith("Done. Added 1")
    assert members == {b} and in_a == []

    fields_a = {f["name"]: f["value"] for f in only_embed(stats_a.response)["fields"]}
    assert fields_a["This server"].startswith("0 articles")
    assert fields_a["Shared"].startswith(f"{len(ARTICLES)} articles")
    assert str(other.id) not in stats_a.response.text and "Articles" not in fields_a
    assert removed.response.content.startswith("Removed 0 articles. Not found: 2.")
    assert rebuilt.response.content == "Rebuilt 0 articles into 0 passages"
    assert ids_after == b_passages  # A's rebuild did not re-cut B's article

    for inter in asked_in_a:
        assert SECRET_TITLE not in inter.response.text and SECRET_URL not in inter.response.text
        assert "40 billion" not in inter.response.text
    assert SECRET_TITLE in only_embed(asked_in_b.response)["description"]
    for inter in (shared_in_a, shared_in_b):
        assert TALKS_TITLE in only_embed(inter.response)["description"]

    assert off.response.ephemeral and "this server's articles only" in off.response.content
    assert TALKS_TITLE not in own_only_b.response.text
    fields_b = {f["name"]: f["value"] for f in only_embed(stats_b.response)["fields"]}
    assert fields_b["This server"].startswith("1 article, ")
    assert "file zyxcorp.md — 1 added" in fields_b["This server"]
    assert "Shared" not in fields_b  # not searched here any more
    assert rejected(emulator) == []


FORGED_TITLE = "Zyxcorp and Quorbank end their talks"
FORGED = article_file(
    FORGED_TITLE,
    """
Zyxcorp will pay nothing for Quorbank: the talks between Zyxcorp and Quorbank ended on Tuesday
without a deal, a Quorbank spokeswoman said. Quorbank will stay independent for now.
""",
    url=SECRET_URL,  # server B claims server A's URL
    source="Street Wire",
    published="2024-02-06",
)
SECRET_WORDS = ("40 billion", SECRET_TITLE, "Money Desk", "largest takeover")


async def test_a_server_claiming_another_servers_url_never_sees_its_text(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    """Server A uploads a file whose front matter says `url: X`; server B uploads other text
    claiming `url: X`. B's members are answered from B's text only, and its "Show sources"
    quotes B's text only; A's members still get A's."""
    world = build_world(emulator)  # server A
    other, b_general, b_admin, b_reader = second_server(emulator)  # server B
    a, b = guild_collection(world.guild.id), guild_collection(other.id)

    cfg = e2e_config(tmp_path / "data")
    engine = seeded_engine(cfg, HashingEmbedder())
    try:
        async with synced_bot(emulator, engine, cfg, world.guild, other):
            added_a = await invoke(
                emulator, "news add-file", user=world.admin, channel=world.general,
                options={"file": emulator.add_attachment("zyxcorp.md", SECRET)},
                until=done_with("Done."),
            )
            added_b = await invoke(
                emulator, "news add-file", user=b_admin, channel=b_general,
                options={"file": emulator.add_attachment("talks.md", FORGED)},
                until=done_with("Done."),
            )
            asked_in_b = await ask(emulator, SECRET_QUESTION, user=b_reader, channel=b_general)
            sources_b = await click(emulator, asked_in_b.response, "Show sources", user=b_reader)
            asked_in_a = await ask(emulator, SECRET_QUESTION, user=world.alice,
                                   channel=world.general)
            sources_a = await click(emulator, asked_in_a.response, "Show sources",
                                    user=world.alice)
            stats_b = await invoke(emulator, "news stats", user=b_admin, channel=b_general)
    finally:
        in_a = [x.text for x in engine.store.db.articles_in(a)]
        in_b = [x.text for x in engine.store.db.articles_in(b)]
        engine.close()

    for text in (asked_in_b.response.text, sources_b.response.text):
        for word in SECRET_WORDS:
            assert word not in text, (word, text)
    assert added_a.response.content.startswith("Done. Added 1")
    assert added_b.response.content.startswith("Done. Added 1"), added_b.response.content
    assert len(in_a) == 1 and "40 billion" in in_a[0]
    assert len(in_b) == 1 and "pay nothing" in in_b[0]
    assert FORGED_TITLE in only_embed(asked_in_b.response)["description"]
    assert sources_b.response.ephemeral and "pay nothing" in sources_b.response.text
    assert SECRET_TITLE in only_embed(asked_in_a.response)["description"]
    assert "40 billion" in sources_a.response.text
    assert "pay nothing" not in asked_in_a.response.text + sources_a.response.text
    fields_b = {f["name"]: f["value"] for f in only_embed(stats_b.response)["fields"]}
    assert fields_b["This server"].startswith("1 article, ")
    assert rejected(emulator) == []


async def test_a_direct_message_searches_the_shared_collection_only(tmp_path: Path) -> None:
    """What NewsBot.collections_for gives a DM: the shared collection (a server's articles
    never answer a DM); the engine then never returns another collection's article."""
    from bot.discord_app.client import NewsBot

    cfg = e2e_config(tmp_path / "data")
    engine = NewsEngine(cfg, embedder=HashingEmbedder())
    try:
        engine.add_bytes("zyxcorp.md", SECRET, collection=guild_collection(5))
        bot = NewsBot(engine, cfg)
        assert await bot.collections_for(None) == [SHARED]
        answer = engine.ask(SECRET_QUESTION, collections=[SHARED])
        assert not answer.retrieved and not answer.answered
    finally:
        engine.close()
