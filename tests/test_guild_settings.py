"""The bot's SQLite state: migrations, channel/role settings, answers, feedback."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bot.answer_model import Answer, Citation, Retrieved
from bot.discord_app.guild_settings import (
    MIGRATIONS,
    GuildSettings,
    answer_from_json,
    answer_to_json,
    channel_allowed,
)

G, OTHER = 1001, 2002


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
def store(db_path: Path) -> GuildSettings:
    return GuildSettings(db_path)


def sample_answer(question: str = "What did Putin demand?") -> Answer:
    return Answer(
        question=question,
        answer="He demanded neutrality [1].",
        answered=True,
        citations=[
            Citation(
                n=1,
                title="Talks",
                source=None,
                published=None,
                url=None,
                quote="Putin demanded neutrality.",
                article_id="a1",
            )
        ],
        retrieved=[
            Retrieved(
                url="https://e.com/1",
                title="Talks",
                score=0.87,
                text="Putin demanded.",
                article_id="a1",
                passage_id=4,
                source="AP",
                published="2022-03-01",
            )
        ],
        latency_ms=12.5,
    )


# ---------------------------------------------------------------- migrations and persistence


def test_migrations_apply_once_and_are_recorded(db_path: Path):
    first = GuildSettings(db_path)
    assert first.schema_version() == MIGRATIONS[-1][0]
    assert first.migrate() == []  # idempotent
    again = GuildSettings(db_path)
    assert again.migrate() == []
    with sqlite3.connect(db_path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM migrations ORDER BY version")]
    assert versions == [v for v, _ in MIGRATIONS]


def test_an_old_file_is_upgraded_keeping_its_data(db_path: Path):
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as conn:  # a file made by a build that only had migration 1
        conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        conn.executescript(MIGRATIONS[0][1])
        conn.execute("INSERT INTO migrations VALUES (1, '2024-01-01')")
        conn.execute("INSERT INTO channel_rules VALUES (?, ?, 1)", (G, 5))
    store = GuildSettings(db_path)
    assert store.schema_version() == MIGRATIONS[-1][0]
    assert store.list_channels(G) == ([5], [])
    store.save_answer("k1", sample_answer())  # the table from migration 2 exists
    assert store.get_answer("k1") is not None


def test_settings_survive_reopening_the_file(db_path: Path):
    store = GuildSettings(db_path)
    store.allow_channel(G, 10)
    store.deny_channel(G, 11)
    store.allow_asker_role(G, 77)
    store.record_feedback(
        guild_id=G, channel_id=10, user_id=5, question="q", answer="a", helpful=True
    )
    store.save_answer("abc", sample_answer(), message_id=999)
    del store

    reopened = GuildSettings(db_path)
    assert reopened.list_channels(G) == ([10], [11])
    assert reopened.list_asker_roles(G) == [77]
    assert len(reopened.list_feedback()) == 1
    assert reopened.answer_for_message(999).key == "abc"


# ---------------------------------------------------------------- channels


def test_default_is_every_channel(store: GuildSettings):
    assert store.is_channel_allowed(G, 1, ())
    assert store.is_channel_allowed(G, 2, [])


def test_config_default_channels_apply_when_the_server_set_nothing(store: GuildSettings):
    assert store.is_channel_allowed(G, 10, [10, 20])
    assert not store.is_channel_allowed(G, 30, [10, 20])


def test_allowed_channels_switch_to_an_allow_list(store: GuildSettings):
    store.allow_channel(G, 30)
    assert store.is_channel_allowed(G, 30, [10])
    assert not store.is_channel_allowed(G, 10, [10])  # the server's list replaces the default
    assert not store.is_channel_allowed(G, 99, ())
    assert store.is_channel_allowed(OTHER, 99, ())  # other servers are untouched


def test_denied_channels_are_carved_out_of_the_default(store: GuildSettings):
    store.deny_channel(G, 5)
    assert not store.is_channel_allowed(G, 5, ())
    assert store.is_channel_allowed(G, 6, ())
    store.allow_channel(G, 5)  # switching a rule replaces it
    assert store.list_channels(G) == ([5], [])


def test_threads_follow_their_parent_unless_they_have_a_rule(store: GuildSettings):
    store.allow_channel(G, 10)
    assert store.is_channel_allowed(G, 500, (), parent_id=10)
    assert not store.is_channel_allowed(G, 501, (), parent_id=11)
    store.deny_channel(G, 500)
    assert not store.is_channel_allowed(G, 500, (), parent_id=10)
    assert channel_allowed(600, [], [], [10], parent_id=10)


def test_reset_channels(store: GuildSettings):
    store.allow_channel(G, 1)
    store.deny_channel(G, 2)
    store.allow_channel(OTHER, 3)
    assert store.reset_channels(G) == 2
    assert store.list_channels(G) == ([], [])
    assert store.list_channels(OTHER) == ([3], [])


# ---------------------------------------------------------------- asker roles


def test_asker_roles(store: GuildSettings):
    assert store.may_ask(G, [])  # no roles set: everyone
    assert store.allow_asker_role(G, 7) is True
    assert store.allow_asker_role(G, 7) is False
    store.allow_asker_role(G, 8)
    assert store.list_asker_roles(G) == [7, 8]
    assert store.may_ask(G, [1, 8])
    assert not store.may_ask(G, [1, 2])
    assert store.may_ask(OTHER, [])
    assert store.deny_asker_role(G, 7) is True
    assert store.deny_asker_role(G, 7) is False
    assert store.reset_asker_roles(G) == 1
    assert store.may_ask(G, [])


# ---------------------------------------------------------------- answers and feedback


def test_answers_round_trip(store: GuildSettings):
    answer = sample_answer()
    assert answer_from_json(answer_to_json(answer)) == answer
    store.save_answer("k", answer, context="earlier?", guild_id=G, channel_id=3, user_id=4)
    assert store.answer_for_message(55) is None
    store.set_answer_message("k", 55)
    got = store.answer_for_message(55)
    assert got is not None
    assert (got.key, got.question, got.context, got.guild_id) == (
        "k",
        answer.question,
        "earlier?",
        G,
    )
    assert got.answer == answer
    assert store.get_answer("missing") is None


def test_old_answers_are_pruned(db_path: Path):
    store = GuildSettings(db_path, keep_answers=3)
    for i in range(6):
        store.save_answer(f"k{i}", sample_answer(f"q{i}"))
    assert store.get_answer("k0") is None and store.get_answer("k2") is None
    assert store.get_answer("k5").question == "q5"


def test_feedback_newest_first_with_limit_and_server_filter(store: GuildSettings):
    for i in range(5):
        store.record_feedback(
            guild_id=G if i % 2 else OTHER,
            channel_id=1,
            user_id=i,
            question=f"q{i}",
            answer=f"a{i}",
            helpful=i % 2 == 0,
        )
    items = store.list_feedback(3)
    assert [f.question for f in items] == ["q4", "q3", "q2"]
    assert items[0].helpful is True and items[1].helpful is False
    assert [f.question for f in store.list_feedback(10, guild_id=G)] == ["q3", "q1"]


def test_a_second_vote_on_the_same_answer_replaces_the_first(store: GuildSettings):
    args = dict(guild_id=G, channel_id=1, user_id=9, question="q", answer="a", answer_key="k")
    assert store.record_feedback(helpful=True, **args) is True
    assert store.record_feedback(helpful=False, **args) is False
    (only,) = store.list_feedback()
    assert only.helpful is False and only.answer_key == "k"
    assert store.record_feedback(helpful=True, **{**args, "user_id": 10}) is True
    assert len(store.list_feedback()) == 2


def test_concurrent_writers_from_threads(store: GuildSettings):
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                store.allow_channel(G, n * 100 + i)
                store.record_feedback(
                    guild_id=G, channel_id=n, user_id=i, question="q", answer="a", helpful=True
                )
                store.is_channel_allowed(G, n, ())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list_channels(G)[0]) == 160
    assert len(store.list_feedback(1000)) == 160
