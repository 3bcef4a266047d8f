"""Discord's REST rate limits, as the API applies them (developer docs, "Rate Limits").

* **Per-route buckets.** Every API route has a bucket (``X-RateLimit-Bucket``, one per method
  and route template) counted separately per top-level resource in the path (channel_id,
  guild_id, webhook id + token, interaction id + token). Every response on such a route
  carries ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (epoch seconds) /
  ``-Reset-After`` (seconds) / ``-Bucket``; once a window's requests are spent, the next
  request is answered ``429`` with ``Retry-After``, ``X-RateLimit-Scope: user`` and Discord's
  JSON body, and the handler never runs. The limits below are the ones Discord is known to
  apply (5 messages per 5 s per channel, reactions 1 per 0.25 s, follow-ups 5 per 2 s per
  interaction token); Discord asks clients to read them from the headers, and discord.py does.
* **The global limit**: 50 requests per second per bot across all routes, except the
  interaction endpoints (callbacks and the interaction webhooks), which Discord exempts.
  Exceeded: ``429`` with ``X-RateLimit-Global: true`` and ``X-RateLimit-Scope: global``.
* **The invalid-request limit**: 10,000 responses with status 401, 403 or 429 (429s of scope
  ``shared`` excepted) per 10 minutes, after which Cloudflare bans the client: every request
  gets a plain ``429`` without Discord's ``Via`` header (discord.py reports that as a
  Cloudflare ban). Both numbers are settable, so a test can reach the ban quickly.

``RateLimiter.record_provoked`` keeps every 429 the limiter itself produced (not the ones a
test injected with ``emu.rate_limit``), so a test suite can check that the bot never provokes
one in normal operation.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from dataclasses import dataclass, field

from .recording import RecordedRequest

JSON = dict


@dataclass(frozen=True)
class Limit:
    requests: int
    per_s: float


REACTION = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"
#: Routes Discord exempts from the global limit (interaction callbacks and webhooks).
INTERACTION_ROUTES = (
    "/interactions/{interaction_id}/{token}/callback",
    "/webhooks/{application_id}/{token}",
    "/webhooks/{application_id}/{token}/messages/{message_id}",
)
ROUTE_LIMITS: dict[tuple[str, str], Limit] = {
    ("POST", "/channels/{channel_id}/messages"): Limit(5, 5.0),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"): Limit(5, 5.0),
    ("DELETE", "/channels/{channel_id}/messages/{message_id}"): Limit(5, 1.0),
    ("PUT", REACTION): Limit(1, 0.25),
    ("DELETE", REACTION): Limit(1, 0.25),
    ("POST", "/webhooks/{application_id}/{token}"): Limit(5, 2.0),
    ("PATCH", "/webhooks/{application_id}/{token}/messages/{message_id}"): Limit(5, 2.0),
    ("POST", "/channels/{channel_id}/messages/{message_id}/threads"): Limit(10, 10.0),
    ("POST", "/channels/{channel_id}/threads"): Limit(10, 10.0),
}
DEFAULT_LIMIT = Limit(5, 1.0)
#: The path parameters that make a separate counter of the same bucket.
MAJOR_PARAMS = ("channel_id", "guild_id", "application_id", "interaction_id", "token")
GLOBAL_LIMIT = Limit(50, 1.0)
INVALID_LIMIT = Limit(10_000, 600.0)
#: Requests that arrive this close to a window's reset count in the next window: a client
#: that sleeps exactly Reset-After must not be punished for the clock's resolution.
GRACE_S = 0.01


def bucket_hash(method: str, template: str) -> str:
    return hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:16]


@dataclass
class _Window:
    limit: Limit
    remaining: int
    resets_at: float  # time.monotonic()


@dataclass
class Verdict:
    """What the limiter says about one request: headers to add, or a 429 to answer."""

    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None  # 429 when refused
    body: JSON | None = None
    raw: bytes | None = None
    scope: str | None = None


def _reset_headers(limit: Limit, remaining: int, reset_after: float) -> dict[str, str]:
    reset_after = math.ceil(max(0.0, reset_after) * 1000 - 1e-6) / 1000  # never promise too early
    return {
        "X-RateLimit-Limit": str(limit.requests),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
    }


def _too_many(retry_after: float, *, scope: str, is_global: bool) -> tuple[dict[str, str], JSON]:
    retry_after = math.ceil(max(0.001, retry_after) * 1000 - 1e-6) / 1000
    headers = {"Retry-After": str(max(1, math.ceil(retry_after))), "X-RateLimit-Scope": scope}
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": is_global,
    }
    return headers, body


class RateLimiter:
    """The three limits of the module docstring, for one bot token."""

    def __init__(
        self,
        *,
        route_limits: dict[tuple[str, str], Limit] | None = None,
        default_limit: Limit = DEFAULT_LIMIT,
        global_limit: Limit = GLOBAL_LIMIT,
        invalid_limit: Limit = INVALID_LIMIT,
        enabled: bool = True,
    ) -> None:
        self.route_limits = dict(ROUTE_LIMITS if route_limits is None else route_limits)
        self.default_limit = default_limit
        self.global_limit = global_limit
        self.invalid_limit = invalid_limit
        self.enabled = enabled
        self._windows: dict[tuple[str, str, tuple[str, ...]], _Window] = {}
        self._global: deque[float] = deque()
        self._invalid: deque[float] = deque()
        #: The 429s this limiter answered (per-route and global), never the injected ones.
        self.provoked: list[RecordedRequest] = []
        #: Requests refused because the client is banned for too many invalid requests.
        self.banned: list[RecordedRequest] = []

    def limit_for(self, method: str, template: str) -> Limit:
        return self.route_limits.get((method, template), self.default_limit)

    # -- before the handler --------------------------------------------------------------
    def check(self, record: RecordedRequest) -> Verdict:
        """Count ``record`` against its limits; a Verdict with status 429 refuses it."""
        if not self.enabled or record.route is None:
            return Verdict()
        now = time.monotonic()
        if self._invalid_count(now) >= self.invalid_limit.requests:
            self.banned.append(record)
            return Verdict(status=429, raw=b"error code: 1015", scope="cloudflare")
        if record.route not in INTERACTION_ROUTES:
            sent = self._global
            while sent and sent[0] <= now - self.global_limit.per_s:
                sent.popleft()
            if len(sent) >= self.global_limit.requests:
                retry = sent[0] + self.global_limit.per_s - now
                headers, body = _too_many(retry, scope="global", is_global=True)
                self.provoked.append(record)
                return Verdict(headers=headers, status=429, body=body, scope="global")
            sent.append(now)
        method, template = record.method, record.route
        limit = self.limit_for(method, template)
        major = tuple(record.params.get(p, "") for p in MAJOR_PARAMS)
        key = (method, template, major)
        window = self._windows.get(key)
        if window is None or now >= window.resets_at - GRACE_S:
            window = _Window(limit, limit.requests, now + limit.per_s)
            self._windows[key] = window
        bucket = {"X-RateLimit-Bucket": bucket_hash(method, template)}
        if window.remaining <= 0:
            retry = window.resets_at - now
            headers, body = _too_many(retry, scope="user", is_global=False)
            self.provoked.append(record)
            return Verdict(
                headers={**_reset_headers(limit, 0, retry), **bucket, **headers},
                status=429,
                body=body,
                scope="user",
            )
        window.remaining -= 1
        return Verdict(
            headers={**_reset_headers(limit, window.remaining, window.resets_at - now), **bucket}
        )

    # -- after the answer ----------------------------------------------------------------
    def answered(self, status: int, headers: dict[str, str]) -> None:
        """Count an invalid request (401, 403, or 429 other than scope ``shared``)."""
        if status in (401, 403) or (status == 429 and headers.get("X-RateLimit-Scope") != "shared"):
            self._invalid.append(time.monotonic())

    def _invalid_count(self, now: float) -> int:
        while self._invalid and self._invalid[0] <= now - self.invalid_limit.per_s:
            self._invalid.popleft()
        return len(self._invalid)

    @property
    def invalid_count(self) -> int:
        return self._invalid_count(time.monotonic())
