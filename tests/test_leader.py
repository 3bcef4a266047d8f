"""One feed poller at a time (bot/feeds/leader.py): two holders, one wins; the winner's process
killed, the other takes over. The file lock (SQLite) and the advisory lock (PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from bot.feeds.leader import FileLease, PgLease, hold_while
from tests.conftest import ROOT

TAKEOVER_S = 30.0  # generous: the CI box has 2 busy cores


def file_lease(tmp_path: Path) -> tuple[FileLease, str]:
    path = tmp_path / "feed-poller.lock"
    return FileLease(path), (
        f"from bot.feeds.leader import FileLease; lease = FileLease({str(path)!r})"
    )


def pg_lease(url: str) -> tuple[PgLease, str]:
    return PgLease(url), f"from bot.feeds.leader import PgLease; lease = PgLease({url!r})"


@pytest.fixture(params=["file", "postgres"])
def make_lease(request, tmp_path):
    if request.param == "file":
        return lambda: file_lease(tmp_path)
    url = request.getfixturevalue("pg_url")
    return lambda: pg_lease(url)


def test_two_holders_one_wins(make_lease) -> None:
    first, _ = make_lease()
    second, _ = make_lease()
    assert first.try_acquire()
    assert not second.try_acquire()
    assert first.held() and not second.held()
    first.release()
    assert second.try_acquire()
    assert not first.try_acquire()
    second.release()


def test_the_winners_process_killed_the_other_takes_over(make_lease) -> None:
    lease, setup = make_lease()
    holder = subprocess.Popen(
        [sys.executable, "-c", setup + "\nimport sys, time\nassert lease.try_acquire()\n"
         "print('held', flush=True)\ntime.sleep(600)\n"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        stop, working = threading.Event(), threading.Event()

        def work(lost: threading.Event) -> None:
            working.set()
            lost.wait()

        runner = threading.Thread(
            target=hold_while, args=(lease, stop, work), kwargs={"retry_s": 0.2}, daemon=True
        )
        runner.start()
        assert not working.wait(1.5)  # the other process holds it: no poller here
        holder.kill()
        holder.wait(10)
        killed = time.monotonic()
        assert working.wait(TAKEOVER_S), "no takeover after the holder died"
        assert time.monotonic() - killed < TAKEOVER_S
        stop.set()
        runner.join(10)
        assert not runner.is_alive()
        again, _ = make_lease()  # stopped: the lease is free for the next one
        assert again.try_acquire()
        again.release()
    finally:
        holder.kill()
        holder.wait(10)


class _SessionOutlivesRelease(PgLease):
    """A lease whose connection stays open after release (as a busy server may keep a closed
    session's locks a while): only the explicit unlock can free the lock."""

    kept: ClassVar[list] = []

    def _drop(self) -> None:
        if self._conn is not None:
            self.kept.append(self._conn)
        self._conn = None


def test_release_unlocks_even_while_the_session_lingers(pg_url: str) -> None:
    first = _SessionOutlivesRelease(pg_url)
    second = PgLease(pg_url)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        first.release()
        assert second.try_acquire()
    finally:
        second.release()
        for conn in _SessionOutlivesRelease.kept:
            conn.close()
