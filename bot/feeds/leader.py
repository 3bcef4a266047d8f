"""Leadership for jobs that must run in one process at a time (the feed poller).

Several `newsbot run` processes (each with its shards) share one store, but followed feeds
are polled by exactly one of them. A process polls while it holds a lease:

- PostgreSQL (`PgLease`): a session-level advisory lock, pg_try_advisory_lock(LOCK_SPACE, n),
  on a connection of its own kept open for as long as the process polls. When the process
  dies its connection closes and the server frees the lock; nobody has to notice a timeout.
- SQLite (`FileLease`): an exclusive fcntl lock on a file in data_dir; the kernel frees it
  when the process dies.

The others try again every check interval (`hold_while`) and take over. Both are plain
Python with no Discord in them.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from index.settings import StoreSettings

log = logging.getLogger("newsbot.feeds.leader")

FEED_POLLER_LOCK = 2  # advisory-lock key n of the feed poller (1 is the migrations' lock)


class Lease(Protocol):
    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True while this process holds it."""

    def held(self) -> bool:
        """Whether this process still holds it (a lost database connection loses it)."""

    def release(self) -> None: ...


class FileLease:
    """An exclusive lock on `path` (fcntl), for processes on one machine sharing a data_dir."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for an operator's eyes
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class PgLease:
    """A session-level advisory lock on a dedicated PostgreSQL connection."""

    def __init__(self, url: str, key: int = FEED_POLLER_LOCK) -> None:
        self.url = url
        self.key = key
        self._conn = None  # psycopg.Connection while held

    def try_acquire(self) -> bool:
        import psycopg

        from index.postgres.connection import LOCK_SPACE

        if self.held():
            return True
        self._drop()
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            log.warning("leader: cannot reach PostgreSQL: %s", str(exc).splitlines()[0])
            return False
        try:
            (got,) = conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_SPACE, self.key)
            ).fetchone()
        except psycopg.Error:
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        """A cheap round trip on the lock's connection: lost connection, lost lease."""
        import psycopg

        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            self._drop()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):  # already gone
                conn.close()

    def release(self) -> None:
        # Unlock first: the server frees a closed session's locks only once it notices the
        # session ended, which on a busy machine can come after another process's next try.
        import psycopg

        from index.postgres.connection import LOCK_SPACE

        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):  # a lost connection holds nothing any more
                self._conn.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", (LOCK_SPACE, self.key)
                )
        self._drop()  # closing the session frees its advisory locks in any case


def hold_while(
    lease: Lease,
    stop: threading.Event,
    work: Callable[[threading.Event], None],
    *,
    retry_s: float,
) -> None:
    """Until `stop`: take `lease` (trying again every `retry_s`), then run `work` with an
    event that is set when `stop` is or the lease is lost; on losing it, try again."""
    try:
        while not stop.is_set():
            if not lease.try_acquire():
                stop.wait(retry_s)
                continue
            log.info("leader: this process now runs the feed poller")
            lost = threading.Event()
            watcher = threading.Thread(
                target=_watch, args=(lease, stop, lost, retry_s), name="newsbot-lease",
                daemon=True,
            )
            watcher.start()
            try:
                work(lost)
            finally:
                lost.set()
                watcher.join(retry_s + 5)
    finally:
        lease.release()


def _watch(lease: Lease, stop: threading.Event, lost: threading.Event, every_s: float) -> None:
    """Set `lost` when `stop` is set or the lease is found lost (checked every `every_s`)."""
    while not (stop.wait(every_s) or lost.is_set()):
        if not lease.held():
            log.warning("leader: the lease was lost; another process may take over")
            break
    lost.set()


def poller_lease(store: StoreSettings) -> Lease:
    """The feed poller's lease for this store: an advisory lock in its PostgreSQL database,
    else a file lock in its data_dir."""
    if store.backend.backend == "postgres":
        return PgLease(store.backend.url, FEED_POLLER_LOCK)
    return FileLease(Path(store.data_dir) / "feed-poller.lock")
