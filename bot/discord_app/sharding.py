"""Which gateway shards one `newsbot run` process serves: `--shards 0-3 --shard-count 8`.

Discord sends a server's events and interactions only on the shard `(guild_id >> 22) %
shard_count`, and requires sharding past 2,500 servers per connection. Several processes
each run their own shard ids of one shard count (discord.py's AutoShardedClient with
`shard_ids`); together they must cover 0 .. count-1. Parsing is plain Python and gives one
clear line for every mistake, before the model loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.errors import InputError

MAX_SHARDS = 100_000  # far beyond any bot; a typo'd count fails here, not at Discord

_PART = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class ShardPlan:
    """The shard ids this process runs, of `count` shards in all."""

    ids: tuple[int, ...]
    count: int

    def describe(self) -> str:
        return f"shard(s) {format_ids(self.ids)} of {self.count}"


def shard_of(guild_id: int, count: int) -> int:
    """The shard a server belongs to (Discord's formula)."""
    return (int(guild_id) >> 22) % count


def format_ids(ids: tuple[int, ...]) -> str:
    """(0, 1, 2, 5) -> '0-2,5'."""
    runs: list[str] = []
    start = prev = None
    for i in (*sorted(ids), None):
        if start is not None and (i is None or i != prev + 1):
            runs.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if i is not None and start is None:
            start = i
        prev = i
    return ",".join(runs)


def parse_shards(spec: str | None, count: int | None) -> ShardPlan | None:
    """The plan for `--shards SPEC --shard-count COUNT`; None when neither is given (one
    unsharded connection, as before). SPEC is ids and ranges: '0-3', '5', '0-1,4'. Only
    `--shard-count`: every shard 0 .. COUNT-1 in this process. InputError for a bad one."""
    if spec is None and count is None:
        return None
    if count is None:
        raise InputError("--shards needs --shard-count (the total number of shards of the bot)")
    if count < 1:
        raise InputError(f"--shard-count: must be at least 1, not {count}")
    if count > MAX_SHARDS:
        raise InputError(f"--shard-count: at most {MAX_SHARDS}, not {count}")
    if spec is None:
        return ShardPlan(tuple(range(count)), count)
    ids: set[int] = set()
    for part in spec.split(","):
        match = _PART.match(part)
        if not match:
            raise InputError(
                f"--shards: {part.strip()!r} is not a shard id or range like 0-3 (ids and "
                "ranges, separated by commas)"
            )
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise InputError(
                f"--shards: the range {low}-{high} runs backwards (write {high}-{low})"
            )
        if high >= count:
            raise InputError(
                f"--shards: shard {high} does not exist with --shard-count {count} "
                f"(ids are 0 to {count - 1})"
            )
        ids.update(range(low, high + 1))
    return ShardPlan(tuple(sorted(ids)), count)
