"""The bot's own state on each backend (SQLite file, the store's PostgreSQL database):
migrations, channel/role settings, answers, feedback, shared by several processes' stores."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.guilds.postgres import MIGRATIONS as PG_MIGRATIONS
from bot.guilds.settings import (
    GuildSettings,
    answer_from_json,
    answer_to_json,
    channel_allowed,
    open_guild_settings,
)
from bot.guilds.sqlite import MIGRATIONS, SqliteGuildDatabase
from bot.reader.answer import Answer, Citation, Retrieved
from index.errors import StoreUnavailable
from tests.conftest import backend_config

G, OTHER = 1001, 2002


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.sqlite3"


@pytest.fixture
def open_settings(backend: str, backend_url: str | None, tmp_path: Path
                  ) -> Iterator[Callable[..., GuildSettings]]:
    """Opens the bot's state on this test's backend, as a new process would (each call: a
    GuildSettings of its own, on its own connections); all are closed afterwards."""
    settings = backend_config(backend, tmp_path / "data", backend_url).store
    opened: list[GuildSettings] = []

    def open_one(**kwargs: int) -> GuildSettings:
        opened.append(open_guild_settings(settings, **kwargs))
        return opened[-1]

    yield open_one
    for one in opened:
        one.close()


@pytest.fixture
def store(open_settings: Callable[..., GuildSettings]) -> GuildSettings:
    return open_settings()


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


def test_sqlite_migrations_apply_once_and_are_recorded(db_path: Path):
    first = GuildSettings(SqliteGuildDatabase(db_path))
    assert first.schema_version() == MIGRATIONS[-1][0]
    assert first.migrate() == []  # idempotent
    again = GuildSettings(SqliteGuildDatabase(db_path))
    assert again.migrate() == []
    with sqlite3.connect(db_path) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM migrations ORDER BY version")]
    assert versions == [v for v, _ in MIGRATIONS]


def test_an_old_sqlite_file_is_upgraded_keeping_its_data(db_path: Path):
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as conn:  # a file made by a build that only had migration 1
        conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        conn.executescript(MIGRATIONS[0][1])
        conn.execute("INSERT INTO migrations VALUES (1, '2024-01-01')")
        conn.execute("INSERT INTO channel_rules VALUES (?, ?, 1)", (G, 5))
    store = GuildSettings(SqliteGuildDatabase(db_path))
    assert store.schema_version() == MIGRATIONS[-1][0]
    assert store.list_channels(G) == ([5], [])
    store.save_answer("k1", sample_answer())  # the table from migration 2 exists
    assert store.get_answer("k1") is not None


def test_postgres_migrations_apply_once_beside_the_stores(pg_url: str, tmp_path: Path):
    settings = backend_config("postgres", tmp_path / "data", pg_url).store
    openers: list[GuildSettings] = []
    errors: list[BaseException] = []

    def open_one() -> None:  # processes starting together: the migration lock orders them
        try:
            openers.append(open_guild_settings(settings))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == [] and len(openers) == 4
        assert all(o.migrate() == [] for o in openers)
        assert openers[0].schema_version() == int(PG_MIGRATIONS[-1][0].split("_")[0])
        with psycopg.connect(pg_url) as conn:
            names = [r[0] for r in conn.execute(
                "SELECT name FROM _migrations WHERE namespace = 'bot' ORDER BY name"
            )]
        assert names == [name for name, _ in PG_MIGRATIONS]
    finally:
        for o in openers:
            o.close()


def test_settings_survive_reopening(open_settings: Callable[..., GuildSettings]):
    store = open_settings()
    store.allow_channel(G, 10)
    store.deny_channel(G, 11)
    store.allow_asker_role(G, 77)
    store.record_feedback(
        guild_id=G, channel_id=10, user_id=5, question="q", answer="a", helpful=True
    )
    store.save_answer("abc", sample_answer(), message_id=999)
    store.close()

    reopened = open_settings()
    assert reopened.list_channels(G) == ([10], [11])
    assert reopened.list_asker_roles(G) == [77]
    assert len(reopened.list_feedback()) == 1
    assert reopened.answer_for_message(999).key == "abc"


def test_a_change_through_one_opener_is_seen_by_another_at_once(
    open_settings: Callable[..., GuildSettings],
):
    """Two bot processes: each opens the state on its own connections; nothing is cached,
    so what one writes, the other reads on its next call."""
    a, b = open_settings(), open_settings()
    assert b.is_channel_allowed(G, 5, ()) and b.may_ask(G, [1])
    a.deny_channel(G, 5)
    a.allow_asker_role(G, 7)
    a.set_thread_per_question(G, True)
    a.add_free_channel(G, 9)
    a.set_searches_shared(G, False)
    assert not b.is_channel_allowed(G, 5, ())
    assert not b.may_ask(G, [1]) and b.may_ask(G, [7])
    assert b.thread_per_question(G) and b.is_free_channel(G, 9)
    assert b.searches_shared(G) is False
    b.save_answer("k", sample_answer(), guild_id=G, message_id=42)
    a.record_feedback(guild_id=G, channel_id=5, user_id=3, question="q", answer="a",
                      helpful=True, answer_key="k")
    assert a.answer_for_message(42).key == "k"
    assert [f.answer_key for f in b.list_feedback()] == ["k"]


def test_discord_ids_of_64_bits_round_trip(store: GuildSettings):
    big = 1_234_567_890_123_456_789  # a snowflake: past 32 bits
    store.allow_channel(big, big + 1)
    store.allow_asker_role(big, big + 2)
    assert store.list_channels(big) == ([big + 1], [])
    assert store.list_asker_roles(big) == [big + 2]


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


def test_old_answers_are_pruned(open_settings: Callable[..., GuildSettings]):
    store = open_settings(keep_answers=3)
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


def test_a_lost_postgres_server_is_try_again_and_the_settings_come_back(
    embedded_pg, pg_url: str, tmp_path: Path
):
    store = open_guild_settings(backend_config("postgres", tmp_path / "data", pg_url).store)
    try:
        store.deny_channel(G, 5)
        embedded_pg.stop()
        try:
            with pytest.raises(StoreUnavailable) as caught:
                store.is_channel_allowed(G, 5, ())
            assert "try again" in str(caught.value)
            with pytest.raises(StoreUnavailable):
                store.allow_channel(G, 6)
        finally:
            embedded_pg.start()
        assert store.list_channels(G) == ([], [5])  # the pool reconnects; nothing lost
        store.allow_channel(G, 6)
        assert store.list_channels(G) == ([6], [5])
    finally:
        store.close()


def test_newsbot_feedback_reads_the_backend_the_config_names(
    backend: str, backend_url: str | None, tmp_path: Path,
    open_settings: Callable[..., GuildSettings],
):
    from click.testing import CliRunner

    from bot.cli import cli

    open_settings().record_feedback(
        guild_id=G, channel_id=1, user_id=9, question="Who won the vote?", answer="a",
        helpful=False, answer_key="k",
    )
    config = tmp_path / "newsbot.toml"
    config.write_text(
        f'[store]\nbackend = "postgres"\nurl = "{backend_url}"\n' if backend == "postgres" else ""
    )
    result = CliRunner().invoke(
        cli, ["--config", str(config), "--data-dir", str(tmp_path / "data"), "feedback",
              "--json"], catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["question"], row["helpful"], row["guild_id"]) == ("Who won the vote?", False, G)
