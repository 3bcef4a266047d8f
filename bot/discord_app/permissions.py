"""Who may administer the bot in a server, the per-user cooldown and the lanes (bounded
queues) that engine work waits in. No discord import."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager


def is_admin(
    manage_guild: bool, role_ids: Iterable[int] = (), admin_roles: Iterable[int] = ()
) -> bool:
    """Manage Server, or a role whose *id* is in config.discord.admin_roles.

    Never by name: anyone allowed to create roles could make one with a listed name.
    """
    if manage_guild:
        return True
    wanted = {int(r) for r in admin_roles}
    return bool(wanted & {int(r) for r in role_ids})


class Cooldown:
    """At most one question per user every `seconds` (the clock is injectable for tests)."""

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = 10_000,
    ):
        self.seconds = max(0.0, float(seconds))
        self.clock = clock
        self.max_users = max_users
        self._last: dict[int, float] = {}

    def retry_after(self, user_id: int) -> float:
        """Seconds the user must still wait (0 when they may ask now). Does not record."""
        last = self._last.get(user_id)
        if last is None or self.seconds <= 0:
            return 0.0
        return max(0.0, last + self.seconds - self.clock())

    def hit(self, user_id: int) -> float:
        """Record a question now if allowed; returns 0 when recorded, else the wait left."""
        wait = self.retry_after(user_id)
        if wait > 0:
            return wait
        now = self.clock()
        self._last[user_id] = now
        if len(self._last) > self.max_users:  # forget users whose cooldown has run out
            self._last = {u: t for u, t in self._last.items() if t + self.seconds > now}
        return 0.0

    def reset(self, user_id: int) -> None:
        self._last.pop(user_id, None)


class LaneFull(Exception):
    """No slot, and no room (or no time left) to wait for one; `retry_after` is a guess."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"busy; retry after {retry_after:.1f} s")
        self.retry_after = retry_after


class Lane:
    """At most `slots` jobs at once; up to `max_waiting` more wait in line (first come, first
    served) for at most `max_wait_s` seconds each; anyone else is told to come back later
    (LaneFull with an estimate from recent job durations).

    Used from the event loop only (no locking needed).
    """

    def __init__(
        self,
        slots: int,
        *,
        max_waiting: int = 0,
        max_wait_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slots = max(1, int(slots))
        self.max_waiting = max(0, int(max_waiting))
        self.max_wait_s = max(0.0, float(max_wait_s))
        self.clock = clock
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._recent: list[float] = []  # durations of the last jobs

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    def retry_hint(self, floor: float = 2.0) -> float:
        """Seconds until a newcomer would likely get a slot."""
        typical = sorted(self._recent)[len(self._recent) // 2] if self._recent else floor
        rounds = (self.waiting + 1) / self.slots
        return max(floor, typical * rounds)

    async def acquire(self, on_wait: Callable[[], Awaitable[object]] | None = None) -> None:
        """Take a slot, waiting in line if needed (`on_wait` runs once before waiting)."""
        if self.active < self.slots and not self.waiting:
            self.active += 1
            return
        if self.waiting >= self.max_waiting or self.max_wait_s <= 0:
            raise LaneFull(self.retry_hint())
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(ticket)
        try:
            if on_wait is not None:
                await on_wait()
            await asyncio.wait({ticket}, timeout=self.max_wait_s)
        except BaseException:
            self._leave(ticket)
            raise
        if not (ticket.done() and not ticket.cancelled()):
            self._leave(ticket)
            raise LaneFull(self.retry_hint())
        # release() handed its slot to this ticket; `active` already counts it

    def _leave(self, ticket: asyncio.Future[None]) -> None:
        if ticket.done() and not ticket.cancelled():
            self.release()  # a slot was handed over just as we gave up: pass it on
            return
        ticket.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(ticket)

    def release(self, duration: float | None = None) -> None:
        if self.active <= 0:
            raise RuntimeError("Lane.release() without acquire")
        if duration is not None:
            self._recent = [*self._recent[-9:], duration]
        while self._waiters:
            ticket = self._waiters.popleft()
            if not ticket.done():
                ticket.set_result(None)  # the slot goes straight to the next in line
                return
        self.active -= 1

    @asynccontextmanager
    async def slot(
        self, on_wait: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[None]:
        await self.acquire(on_wait)
        started = self.clock()
        try:
            yield
        finally:
            self.release(self.clock() - started)
