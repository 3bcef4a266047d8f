"""Which entries of a followed feed one poll reads, and what stays for later.

A poll reads at most follow.max_entries_per_poll entries not stored yet. Entries never tried
come first, then failed ones whose back-off is over: an entry whose page is dead waits longer
after each failure and never holds back the entries after it, however many fail. What is left
over is counted ("4,800 entries left for later polls") and read by the next polls.
"""

from __future__ import annotations

from dataclasses import dataclass

from index.feedstate import Backlog, EntryFailure
from index.readers.feeds import FeedEntry


@dataclass(frozen=True)
class EntryPlan:
    listed: list[FeedEntry]  # every entry the feed lists now, one per key
    chosen: list[FeedEntry]  # the ones this poll reads
    waiting: int  # not stored, due, and over this poll's budget
    failures: dict[str, EntryFailure]  # the failures known before this poll


def plan_entries(
    entries: list[FeedEntry], seen: set[str], failures: dict[str, EntryFailure], now: float,
    budget: int,
) -> EntryPlan:
    listed = list({e.key: e for e in reversed(entries)}.values())[::-1]  # first of each key
    fresh = [e for e in listed if e.key not in seen]
    untried = [e for e in fresh if e.key not in failures]
    due = [e for e in fresh if e.key in failures and failures[e.key].next_try <= now]
    candidates = untried + due
    return EntryPlan(listed, candidates[:budget], max(0, len(candidates) - budget), failures)


def after_poll(
    plan: EntryPlan, failed: dict[str, str], stored: set[str], *, now: float,
    interval_s: int, max_backoff_s: int, waiting: int,
) -> tuple[Backlog, int]:
    """The backlog to record (each new failure's next try: two intervals later, doubled
    after each failure in a row, as a failing feed's; at most `max_backoff_s` but never
    sooner than the feed's interval), and how many entries are failing after this poll."""
    longest = max(max_backoff_s, interval_s)
    recorded = {}
    for key, reason in failed.items():
        before = plan.failures.get(key)
        count = (before.failures if before else 0) + 1
        wait = min(interval_s * 2 ** min(count, 30), longest)
        recorded[key] = EntryFailure(count, now + wait, reason[:500])
    listed = {e.key for e in plan.listed}
    failing = {k for k in plan.failures if k in listed and k not in stored} | set(recorded)
    return Backlog(listed=listed, waiting=waiting, failed=recorded), len(failing)


def describe_backlog(waiting: int, failing: int) -> str:
    """'4,800 entries left for later polls, 3 failing (tried again later)', or ''."""
    parts = []
    if waiting:
        parts.append(f"{waiting:,} {'entry' if waiting == 1 else 'entries'} left for later polls")
    if failing:
        parts.append(f"{failing:,} failing (tried again later)")
    return ", ".join(parts)
