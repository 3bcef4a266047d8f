"""Work accounting for NewsBot: the blocking calls running in its worker threads (so that
closing waits for them) and a lane's turn (a slot, or a Busy refusal with when to come back)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from bot.discord_app.errors import Busy
from bot.discord_app.permissions import Lane, LaneFull
from bot.discord_app.render.text import retry_phrase

T = TypeVar("T")


class RunningWork:
    """Counts the blocking calls running in worker threads, so that `close` can wait for
    them: the engine must not be closed under a question still being answered (closing
    SQLite under a running query crashes the process). Calls cancelled before they began
    never count."""

    def __init__(self) -> None:
        self._running = 0
        self._changed = threading.Condition()

    def wrap(self, fn: Callable[..., T], args: tuple, kwargs: dict) -> Callable[[], T]:
        def counted() -> T:
            with self._changed:
                self._running += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._changed:
                    self._running -= 1
                    self._changed.notify_all()

        return counted

    def wait_done(self, timeout_s: float) -> int:
        """Wait until no call runs, at most `timeout_s`; the calls still running."""
        with self._changed:
            self._changed.wait_for(lambda: self._running == 0, timeout_s)
            return self._running


@asynccontextmanager
async def lane_turn(
    lane: Lane, busy: str, on_wait: Callable[[], Awaitable[object]] | None = None
) -> AsyncIterator[None]:
    """A slot of `lane` for the block (released with its run time, whatever happens); a full
    queue or a wait past the lane's bound is a Busy refusal: `busy`, and when to come back."""
    try:
        await lane.acquire(on_wait)
    except LaneFull as full:
        raise Busy(f"{busy}; try again in {retry_phrase(full.retry_after)}.") from None
    started = time.monotonic()
    try:
        yield
    finally:
        lane.release(time.monotonic() - started)
