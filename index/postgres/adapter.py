"""sqlite3's small API on psycopg: `execute` with `?` placeholders, `fetchone`, `fetchall`,
`rowcount`, `executemany`, so the SQLite repository's SQL (index/sqlite/) runs on PostgreSQL
unchanged; and the errors of a lost connection or a cancelled statement, as the store's
short StoreUnavailable and StoreTimedOut."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import PoolTimeout

from index.errors import StoreTimedOut, StoreUnavailable
from index.postgres.connection import UNBOUNDED

if TYPE_CHECKING:
    from index.postgres.database import PgDatabase

UNAVAILABLE = "the database is unavailable just now; try again in a moment"
TIMED_OUT = (
    "the database took too long to answer ([store] statement_timeout_s); try again in a moment"
)

def pg_sql(sql: str) -> str:
    """sqlite3's `?` placeholders as psycopg's `%s` (no SQL here holds a literal `?`)."""
    return sql.replace("%", "%%").replace("?", "%s")


@contextmanager
def unavailable_as_error() -> Iterator[None]:
    """A lost or refused connection, as StoreUnavailable (short, no URL, no password); a
    statement the server cancelled for the statement (or lock) timeout, as StoreTimedOut."""
    try:
        yield
    except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable) as exc:
        raise StoreTimedOut(TIMED_OUT) from exc
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
        raise StoreUnavailable(UNAVAILABLE) from exc


class Result:
    """What a statement returned, read whole (the connection goes back to the pool)."""

    def __init__(self, rows: list[tuple], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple]:
        return self.rows

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.rows)


class PgConnection:
    """One psycopg connection (inside a transaction) with sqlite3's execute."""

    def __init__(self, raw: psycopg.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with unavailable_as_error():
            cur = self.raw.execute(pg_sql(sql), tuple(params))
            rows = cur.fetchall() if cur.description else []
            return Result(rows, cur.rowcount)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in seq]
        if not rows:
            return
        with unavailable_as_error(), self.raw.cursor() as cur:
            cur.executemany(pg_sql(sql), rows)


class Borrowing:
    """`Database.connection()` for reads: each statement borrows a pooled connection (and,
    inside a Store write, runs in a transaction of its own without the statement timeout)."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

    @contextmanager
    def _borrowed(self) -> Iterator[PgConnection]:
        with unavailable_as_error(), self.db.pool.connection() as raw:
            if not self.db.is_unbounded():
                yield PgConnection(raw)
                return
            with raw.transaction():
                raw.execute(UNBOUNDED)
                yield PgConnection(raw)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with self._borrowed() as conn:
            return conn.execute(sql, params)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        with self._borrowed() as conn:
            conn.executemany(sql, seq)
