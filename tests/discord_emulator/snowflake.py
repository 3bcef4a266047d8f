"""Snowflake ids and timestamps, as Discord makes them.

A snowflake is ``(milliseconds since the Discord epoch) << 22 | counter``; the ids handed out
here always increase, even when several are made in the same millisecond, so "newer" means
"bigger id" exactly as on Discord.
"""

from __future__ import annotations

import datetime as dt
import time

DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeGenerator:
    """Hands out strictly increasing snowflakes based on the current time."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        if candidate <= self._last:
            candidate = self._last + 1
        self._last = candidate
        return candidate

    def next_on_shard(self, shard_id: int, count: int) -> int:
        """The next id of a server that lands on shard ``shard_id`` of ``count``
        (``(id >> 22) % count``): later milliseconds until it does, still increasing."""
        candidate = self.next()
        while (candidate >> 22) % count != shard_id:
            candidate = ((candidate >> 22) + 1) << 22
        self._last = candidate
        return candidate


def snowflake_datetime(snowflake: int) -> dt.datetime:
    """The creation time encoded in a snowflake (UTC)."""
    return dt.datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, tz=dt.UTC)


def iso(moment: dt.datetime) -> str:
    """ISO-8601 text the way Discord writes timestamps (``+00:00`` offset)."""
    return moment.isoformat()


def now_iso() -> str:
    return iso(dt.datetime.now(tz=dt.UTC))
