"""index/postgres/connection.py against a real PostgreSQL (tests/pg_server.py)."""

from __future__ import annotations

import threading

import pytest

from index.errors import StoreError
from index.postgres.connection import migrate, open_pool, redact


def test_an_unreachable_server_is_one_line_without_the_password():
    with pytest.raises(StoreError) as caught:
        open_pool("postgresql://bot:hunter2@127.0.0.1:1/news", timeout_s=1)
    message = str(caught.value)
    assert message.startswith("cannot connect to PostgreSQL at postgresql://bot:***@127.0.0.1:1")
    assert "\n" not in message and "hunter2" not in message
    assert redact("postgresql://a@h/db") == "postgresql://a@h/db"


def test_migrations_apply_once_in_order_even_from_processes_starting_together(pg_url):
    steps = [
        ("001_items", "CREATE TABLE items (n INT); INSERT INTO items VALUES (1)"),
        ("002_more", "INSERT INTO items VALUES (2)"),
    ]
    pool = open_pool(pg_url, max_size=4)
    applied: list[list[str]] = []

    def start() -> None:
        with pool.connection() as conn:
            applied.append(migrate(conn, "test", steps))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with pool.connection() as conn:
        assert [r[0] for r in conn.execute("SELECT n FROM items ORDER BY n")] == [1, 2]
        assert migrate(conn, "test", [*steps, ("003_last", "INSERT INTO items VALUES (3)")]) == [
            "003_last"
        ]
        # another namespace keeps its own numbering
        assert migrate(conn, "other", [("001_items", "SELECT 1")]) == ["001_items"]
    pool.close()
    assert sorted(applied, key=len) == [[], [], [], ["001_items", "002_more"]]


def test_a_failed_migration_leaves_nothing_half_applied(pg_url):
    pool = open_pool(pg_url)
    with pool.connection() as conn:
        with pytest.raises(Exception, match="no_such_table"):
            broken = "CREATE TABLE t (n INT); INSERT INTO no_such_table VALUES (1)"
            migrate(conn, "test", [("001", broken)])
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
        assert migrate(conn, "test", [("001", "CREATE TABLE t (n INT)")]) == ["001"]
    pool.close()
