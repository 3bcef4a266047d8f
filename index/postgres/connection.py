"""Connections to PostgreSQL and numbered migrations, shared by everything kept there.

`open_pool` turns an unreachable or refusing server into one StoreError line (no password in
it); its connections carry a statement timeout (a read that waits on a lock held forever or
runs away is cancelled by the server) and TCP keepalives (a dead remote host is noticed).
`migrate` applies a namespace's migrations in order, each in its own transaction, under
an advisory lock, so that processes starting together never apply one twice, and without the
statement timeout (a migration may build an index over the whole store).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from index.errors import StoreError
from index.postgres.conninfo import redact

__all__ = ["migrate", "open_pool", "redact"]

# Every newsbot advisory lock is (this, n): the first key keeps ours apart from other
# applications' locks in the same database.
LOCK_SPACE = 0x6E657773  # "news"
MIGRATION_LOCK = 1


RECONNECT_GIVE_UP_S = 3.0

# TCP keepalives and a user timeout for a server on another host that dies or drops off the
# network without closing its connections: the kernel then gives up on a connection within
# about half a minute (probes after 15 s idle, every 5 s, 3 missed; data unacknowledged for
# 30 s), the call waiting on it fails with StoreUnavailable and the pool replaces it, instead
# of a worker thread waiting for the OS's default of many minutes. libpq ignores them on Unix
# sockets and the loopback never loses a packet, so the tests cannot exercise them; a frozen
# server on a live host (SIGSTOP) is not caught by them either, since its kernel still
# acknowledges: the Discord layer's answer deadline covers that (bot/discord_app/client.py).
# What the URL says wins.
KEEPALIVES = {
    "keepalives": "1", "keepalives_idle": "15", "keepalives_interval": "5",
    "keepalives_count": "3", "tcp_user_timeout": "30000",
}

# A statement of this connection's transaction runs without the statement timeout (writes,
# migrations, and the reads a write makes: they may legitimately run long).
UNBOUNDED = "SET LOCAL statement_timeout = 0"


def timeout_ms(seconds: float | None) -> int:
    """statement_timeout in milliseconds (0: none) for `seconds` (None or 0: none)."""
    if not seconds or seconds <= 0:
        return 0
    return max(1, round(seconds * 1000))


def open_pool(
    url: str, *, max_size: int = 8, timeout_s: float = 10.0,
    configure: Callable[[psycopg.Connection], None] | None = None,
    statement_timeout_s: float | None = None,
) -> ConnectionPool:
    """An open pool of autocommit connections to `url`, checked with one connection.

    Each connection is checked as it is handed out (one round trip), so connections cut by
    a server restart are replaced instead of failing the call after the server is back.
    `statement_timeout_s` (None or 0: none) bounds each statement of each connection, unless
    its transaction says UNBOUNDED; a statement cut by it raises psycopg's QueryCanceled.
    `configure` runs on each new connection."""
    limit = timeout_ms(statement_timeout_s)

    def setup(conn: psycopg.Connection) -> None:
        if limit:  # the session's value, which a transaction's SET LOCAL ends back at
            conn.execute(f"SET statement_timeout = {limit}")
        if configure is not None:
            configure(conn)

    try:
        given = conninfo_to_dict(url)
    except psycopg.Error:  # said below, by the connection attempt, as for any other fault
        given = {}
    extra = {k: v for k, v in KEEPALIVES.items() if k not in given}
    # reconnect_timeout: the pool's own reconnection attempts back off exponentially (1 s,
    # 2 s, 4 s, 8 s, ...) while the server is down, and a caller that arrives while one sleeps
    # waits out the sleep even when the server is back. Bounded at RECONNECT_GIVE_UP_S, an
    # attempt never sleeps more than 2 s, gives up, and the next call starts a fresh one at
    # once, so the pool is back within about 2 s of the server.
    pool = ConnectionPool(
        url, min_size=1, max_size=max_size, open=False, timeout=timeout_s,
        kwargs={"autocommit": True, **extra}, name="newsbot", configure=setup,
        check=ConnectionPool.check_connection,
        reconnect_timeout=min(timeout_s, RECONNECT_GIVE_UP_S),
    )
    try:
        pool.open(wait=True, timeout=timeout_s)
    except Exception as exc:  # PoolTimeout: the reason is in the server's reply or the log
        pool.close()
        reason = _first_line(exc)
        try:  # one direct try says why (the pool only says it timed out)
            psycopg.connect(url, connect_timeout=max(1, int(timeout_s))).close()
        except psycopg.Error as direct:
            reason = _first_line(direct)
        raise StoreError(f"cannot connect to PostgreSQL at {redact(url)}: {reason}") from exc
    return pool


def migrate(
    conn: psycopg.Connection, namespace: str, migrations: Sequence[tuple[str, str]]
) -> list[str]:
    """Apply `migrations` ((name, SQL) in order) of `namespace` not yet applied; their names."""
    applied: list[str] = []
    with conn.transaction():  # the wait for another process's migrations is not cut short
        conn.execute(UNBOUNDED)
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_SPACE, MIGRATION_LOCK))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (namespace TEXT NOT NULL, name TEXT NOT NULL,"
            " at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (namespace, name))"
        )
        done = {
            row[0] for row in conn.execute(
                "SELECT name FROM _migrations WHERE namespace = %s", (namespace,)
            )
        }
        for name, sql in migrations:
            if name in done:
                continue
            with conn.transaction():
                conn.execute(UNBOUNDED)  # e.g. CREATE INDEX over every passage
                conn.execute(sql)  # several statements: psycopg sends them as one query
                conn.execute(
                    "INSERT INTO _migrations (namespace, name) VALUES (%s, %s)", (namespace, name)
                )
            applied.append(name)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, MIGRATION_LOCK))
    return applied


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
