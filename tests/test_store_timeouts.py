"""A PostgreSQL server that holds a question up (a lock held forever by another session, a
runaway query): the server cancels the read after [store] statement_timeout_s and the asker
gets a short "try again"; writes (an add, a rebuild, the wait for another writer) are never
cut, however long they take. Real engine, real embedded PostgreSQL (tests/pg_server.py).

Every blocking call runs in a thread with a guard (`within`), so that without the timeout a
test fails instead of waiting for good; the locks are always released in a `finally`, which
lets such a thread finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import psycopg

from bot.discord_app.errors import TOOK_TOO_LONG, describe_error
from index.embedding import HashingEmbedder
from index.errors import StoreTimedOut
from index.models import ArticleInput, ReadResult
from index.postgres.connection import LOCK_SPACE
from index.postgres.database import WRITE_LOCK
from tests.test_store_contract import QUESTIONS, corpus, engine_on

T = TypeVar("T")

TIMEOUT_S = 0.3  # [store] statement_timeout_s here
HELD_S = 3 * TIMEOUT_S  # how long a write is kept waiting once it waits: well past the timeout
GUARD_S = 20.0  # a call that has not returned by then is taken to wait for good


@contextmanager
def worker() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True)


def within(future: Future[T], what: str) -> T:
    try:
        return future.result(timeout=GUARD_S)
    except TimeoutError:
        raise AssertionError(f"{what} still waiting after {GUARD_S} s") from None


def cut(pool: ThreadPoolExecutor, call: Callable[[], object], what: str) -> StoreTimedOut:
    """`call` fails with StoreTimedOut (and not by waiting past GUARD_S); the error."""
    started = time.monotonic()
    future = pool.submit(call)
    try:
        within(future, what)
    except StoreTimedOut as exc:
        print(f"{what}: try again after {time.monotonic() - started:.2f} s"
              f" (statement_timeout_s {TIMEOUT_S})")
        return exc
    raise AssertionError(f"{what} was not cut by the statement timeout")


def wait_for_a_lock_wait(url: str) -> None:
    """Until some session of this database waits for a lock (the write under test)."""
    deadline = time.monotonic() + GUARD_S
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            (waiting,) = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND database ="
                " (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the write never waited for the lock")


def new_articles(word: str, n: int) -> list[ArticleInput]:
    return [
        ArticleInput(
            text=f"The {word} committee met for day {i} and published its {word} report.",
            url=f"https://late.example.com/{word}/{i}", title=f"{word.title()} {i}",
            origin=f"https://late.example.com/{word}/{i}",
        )
        for i in range(n)
    ]


def test_a_question_behind_a_lock_held_forever_gets_try_again(pg_url, tmp_path):
    engine = engine_on("postgres", tmp_path, pg_url, store={"statement_timeout_s": TIMEOUT_S})
    engine.add_articles(ReadResult(articles=corpus()))
    assert engine.ask(QUESTIONS[0]).retrieved
    holder = psycopg.connect(pg_url)  # another session, its transaction left open
    holder.execute("LOCK TABLE passages IN ACCESS EXCLUSIVE MODE")
    try:
        with worker() as pool:
            try:
                error = cut(pool, lambda: engine.ask(QUESTIONS[0]), "a question")
            finally:
                holder.rollback()
    finally:
        holder.close()
    message = str(error)
    assert "try again" in message and "\n" not in message and "postgresql://" not in message
    # Discord shows it as the short try-again line, not as a bug with an error id
    assert describe_error(error) == (TOOK_TOO_LONG, None)
    assert describe_error(error, public=True) == (TOOK_TOO_LONG, None)
    # the lock gone, the same engine answers: its pooled connections were not lost
    assert engine.ask(QUESTIONS[0]).retrieved
    engine.close()


def test_writes_wait_as_long_as_they_need_while_questions_are_cut(pg_url, tmp_path):
    engine = engine_on("postgres", tmp_path, pg_url, store={"statement_timeout_s": TIMEOUT_S})
    engine.add_articles(ReadResult(articles=corpus()))
    before = engine.store.db.counts()
    other_writer = psycopg.connect(pg_url)  # another process's write in progress
    maintenance = psycopg.connect(pg_url)  # a session holding the tables (a long job)
    try:
        with worker() as pool:
            try:
                # 1. An add waits for the other writer's lock, far past the timeout; questions
                # meanwhile are answered (they never wait for writers).
                other_writer.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, WRITE_LOCK)
                )
                late = ReadResult(articles=new_articles("tide", 4))
                adding = pool.submit(engine.add_articles, late)
                wait_for_a_lock_wait(pg_url)
                time.sleep(HELD_S)
                assert within(pool.submit(engine.ask, QUESTIONS[1]), "a question").retrieved
                # 2. Its reads and writes then wait for the tables, far past the timeout; a
                # question meanwhile is cut.
                maintenance.execute("LOCK TABLE articles, passages IN ACCESS EXCLUSIVE MODE")
                other_writer.rollback()
                wait_for_a_lock_wait(pg_url)
                time.sleep(HELD_S)
                cut(pool, lambda: engine.ask(QUESTIONS[2]), "a question during the add")
                maintenance.rollback()
                report = within(adding, "the add")
                assert len(report.added) == 4 and not report.skipped
                # 3. A rebuild's transaction waits for a lock on the passages (one that lets
                # readers through), far past the timeout.
                maintenance.execute("LOCK TABLE passages IN SHARE MODE")
                rebuilding = pool.submit(engine.rebuild)
                wait_for_a_lock_wait(pg_url)
                time.sleep(HELD_S)
                assert within(pool.submit(engine.ask, QUESTIONS[3]), "a question").retrieved
                maintenance.rollback()
                rebuilt = within(rebuilding, "the rebuild")
            finally:  # before the pool waits for its threads: they wait for these
                other_writer.rollback()
                maintenance.rollback()
    finally:
        other_writer.close()
        maintenance.close()
    assert rebuilt.articles == before[0] + 4
    assert engine.store.db.counts()[0] == before[0] + 4
    assert engine.ask("What did the tide committee publish?").retrieved
    engine.close()


def test_newsbot_ask_on_postgres_gets_the_statement_timeout_too(pg_url, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from bot.cli import cli

    engine = engine_on("postgres", tmp_path, pg_url)  # the store the command asks
    engine.add_articles(ReadResult(articles=corpus()))
    engine.close()
    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    config = tmp_path / "pg.toml"
    config.write_text(
        f'[store]\nbackend = "postgres"\nurl = "{pg_url}"\nstatement_timeout_s = {TIMEOUT_S}\n'
    )

    def ask() -> None:
        result = CliRunner().invoke(
            cli, ["--data-dir", str(tmp_path / "data"), "--config", str(config),
                  "ask", QUESTIONS[0]],
        )
        if result.exception is not None:
            raise result.exception

    holder = psycopg.connect(pg_url)
    holder.execute("LOCK TABLE passages IN ACCESS EXCLUSIVE MODE")
    try:
        with worker() as pool:
            try:
                error = cut(pool, ask, "newsbot ask")
            finally:
                holder.rollback()
    finally:
        holder.close()
    assert "try again" in str(error)

