"""Who may administer the bot in a server, and the per-user/overall rate limits. Pure."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


def is_admin(
    manage_guild: bool,
    role_ids: Iterable[int] = (),
    role_names: Iterable[str] = (),
    admin_roles: Iterable[str | int] = (),
) -> bool:
    """Manage Server, or a role listed in config.discord.admin_roles (by id or by name).

    Names compare case-insensitively; an entry made only of digits is read as a role id.
    """
    if manage_guild:
        return True
    wanted_ids: set[int] = set()
    wanted_names: set[str] = set()
    for entry in admin_roles:
        text = str(entry).strip()
        if not text:
            continue
        if text.isdigit():
            wanted_ids.add(int(text))
        else:
            wanted_names.add(text.lstrip("@").casefold())
    if wanted_ids & {int(r) for r in role_ids}:
        return True
    return bool(wanted_names & {n.casefold() for n in role_names})


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


class Gate:
    """A non-blocking bound on engine jobs at once: try_acquire() or be told to come back.

    Used from the event loop only (no locking needed). retry_hint() estimates when a slot frees
    from recent job durations.
    """

    def __init__(self, limit: int, *, clock: Callable[[], float] = time.monotonic):
        self.limit = max(1, int(limit))
        self.clock = clock
        self.active = 0
        self._started: list[float] = []
        self._recent: list[float] = []  # durations of the last jobs

    def try_acquire(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        self._started.append(self.clock())
        return True

    def release(self) -> None:
        if self.active <= 0:
            raise RuntimeError("Gate.release() without acquire")
        self.active -= 1
        if self._started:
            began = self._started.pop(0)
            self._recent = [*self._recent[-9:], self.clock() - began]

    def retry_hint(self, floor: float = 5.0) -> float:
        if not self._recent:
            return floor
        typical = sorted(self._recent)[len(self._recent) // 2]
        elapsed = self.clock() - self._started[0] if self._started else 0.0
        return max(floor, typical - elapsed)
