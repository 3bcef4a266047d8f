"""The passages' secondary indexes, for loads that build them after the rows: which they are,
how to drop them, and how to build them again.

A row inserted into `passages` goes into each of its indexes at once, the HNSW graph one
vector at a time; a bulk load (`newsbot migrate` into an empty store, the benchmarks' loader
benchmarks/pgbulk.py) is far faster without them, building each afterwards in one pass with
a large `maintenance_work_mem` and parallel workers. Which indexes there are is whatever the
store's own migrations (schema.py) and `PgDatabase.ensure_dimension` made, read from the
catalog with each one's own definition (pg_get_indexdef), so what is built again is exactly
what the store has, names, operator classes, storage parameters and partial predicates
included, and an index a later migration adds needs nothing here. The primary key stays.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from index.errors import InputError, StoreError

if TYPE_CHECKING:  # psycopg is imported where it is used: the CLI reads the defaults here
    import psycopg

DEFAULT_MEMORY = "1GB"
DEFAULT_WORKERS = 4  # PostgreSQL caps it by max_parallel_workers and max_worker_processes
MAX_WORKERS = 64

_SIZE = re.compile(r"\s*(\d+)\s*(kB|MB|GB|TB)\s*", re.IGNORECASE)
_KB = {"kb": 1, "mb": 2**10, "gb": 2**20, "tb": 2**30}
_MAX_KB = 2**31 - 1  # PostgreSQL's largest maintenance_work_mem (in kB, 64-bit servers)


@dataclass(frozen=True)
class SecondaryIndex:
    name: str
    definition: str  # its CREATE INDEX statement, as the catalog gives it


def check_memory(value: str, option: str = "--maintenance-work-mem") -> str:
    """A maintenance_work_mem as PostgreSQL spells it ("1GB"), from what an operator typed."""
    match = _SIZE.fullmatch(value or "")
    kb = int(match.group(1)) * _KB[match.group(2).lower()] if match else 0
    if not match or not 2**10 <= kb <= _MAX_KB:
        raise InputError(
            f"{option}: {value!r} is not a memory size from 1MB to 2047GB such as 512MB or 4GB"
        )
    unit = match.group(2).upper().replace("KB", "kB")
    return f"{int(match.group(1))}{unit}"


def check_workers(value: int, option: str = "--maintenance-workers") -> int:
    if not 0 <= value <= MAX_WORKERS:
        raise InputError(f"{option}: {value} is not a number of workers from 0 to {MAX_WORKERS}")
    return value


def maintenance_settings(memory: str, workers: int, *, local: bool = True) -> list[str]:
    """The settings an index build runs under: SET LOCAL (this transaction only) or SET
    (the session's, for builds outside a transaction)."""
    scope = "SET LOCAL" if local else "SET"
    return [
        f"{scope} maintenance_work_mem = '{check_memory(memory)}'",
        f"{scope} max_parallel_maintenance_workers = {check_workers(int(workers))}",
    ]


def secondary_indexes(conn: psycopg.Connection, table: str = "passages") -> list[SecondaryIndex]:
    """The indexes of `table` (as the search path finds it) that back no constraint."""
    rows = conn.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE i.indrelid = to_regclass(%s)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        " ORDER BY c.relname",
        (table,),
    ).fetchall()
    return [SecondaryIndex(str(name), str(sql)) for name, sql in rows]


def drop_secondary_indexes(conn: psycopg.Connection) -> list[SecondaryIndex]:
    """Drop the passages' secondary indexes (an ACCESS EXCLUSIVE lock on passages, held to
    the end of the transaction); what `build_indexes` makes again."""
    indexes = secondary_indexes(conn)
    for index in indexes:
        conn.execute(f'DROP INDEX "{index.name}"')
    return indexes


def build_indexes(
    conn: psycopg.Connection, indexes: list[SecondaryIndex], *, memory: str = DEFAULT_MEMORY,
    workers: int = DEFAULT_WORKERS, progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Build `indexes` in the current transaction, with `memory` and `workers` for it alone
    (`progress`: "building index NAME", 0 of 1 then 1 of 1). A server short of memory (or of
    shared memory for the parallel workers) is a StoreError that says so, not a lost
    connection."""
    import psycopg

    for sql in maintenance_settings(memory, workers):
        conn.execute(sql)
    for index in indexes:
        stage = f"building index {index.name}"
        if progress is not None:
            progress(stage, 0, 1)
        try:
            conn.execute(index.definition)
        except psycopg.errors.OperationalError as exc:
            if not (exc.sqlstate or "").startswith(("53", "54")):  # resources, limits
                raise
            first = str(exc).strip().splitlines()[0]
            raise StoreError(
                f"building the index {index.name} failed ({first}); nothing was written:"
                " try a smaller --maintenance-work-mem or fewer --maintenance-workers"
            ) from exc
        if progress is not None:
            progress(stage, 1, 1)
