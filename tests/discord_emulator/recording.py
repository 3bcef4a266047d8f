"""What the emulator remembers about the bot's traffic, injected faults, and the waiting helper.

* ``RecordedRequest``: one REST request as the bot sent it (method, path, matched route
  template, parsed JSON body, uploaded files), with the status the emulator answered.
* ``Fault``: an injected failure (a 429 with Discord's rate-limit headers, or any error) for
  the next N requests to a route.
* ``Notifier``: tests wait on conditions (``wait_until``) instead of sleeping; every state
  change in the emulator calls ``notify`` and waiting predicates are re-checked.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

JSON = dict[str, Any]
T = TypeVar("T")


@dataclass
class UploadedFile:
    """A file part of a multipart body (``files[n]``)."""

    field_name: str
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class RecordedRequest:
    method: str
    path: str
    #: The matched route template, e.g. ``/channels/{channel_id}/messages``; None if unknown.
    route: str | None
    params: dict[str, str]
    query: dict[str, str]
    #: The JSON body (for multipart: the decoded ``payload_json``); None when there was none.
    json: Any
    files: list[UploadedFile] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    status: int | None = None
    response: Any = field(default=None, repr=False)
    #: The headers the emulator answered with (rate-limit headers included).
    response_headers: dict[str, str] = field(default_factory=dict, repr=False)
    at: float = field(default_factory=time.monotonic, repr=False)

    def matches(self, method: str | None, route: str | None) -> bool:
        return (method is None or self.method == method.upper()) and (
            route is None or self.route == route
        )


@dataclass
class Fault:
    """Answer the next ``remaining`` requests matching (method, route) with this response."""

    method: str
    route: str
    status: int
    body: JSON
    headers: dict[str, str]
    remaining: int
    hits: list[RecordedRequest] = field(default_factory=list)

    def matches(self, method: str, route: str | None) -> bool:
        return self.remaining > 0 and self.method == method and self.route == route


def rate_limit_fault(
    method: str,
    route: str,
    *,
    times: int = 1,
    retry_after: float = 0.05,
    is_global: bool = False,
    bucket: str | None = None,
) -> Fault:
    """A 429 exactly as Discord sends it: JSON body plus Retry-After and X-RateLimit-* headers.

    ``Via`` is set because discord.py treats a 429 without it as a Cloudflare ban (no retry).
    """
    scope = "global" if is_global else "user"
    bucket = bucket or f"emulated:{method.upper()}:{route}"
    headers = {
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Scope": scope,
        "Via": "1.1 google",
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": is_global,
        "code": 0,
    }
    return Fault(method.upper(), route, 429, body, headers, times)


def error_fault(
    method: str,
    route: str,
    *,
    status: int,
    code: int = 0,
    message: str | None = None,
    times: int = 1,
) -> Fault:
    body = {"message": message or f"{status}: emulated error", "code": code}
    return Fault(method.upper(), route, status, body, {}, times)


class Notifier:
    """Wakes waiters whenever something changed, so they can re-check their condition."""

    def __init__(self, poll_interval: float = 0.02) -> None:
        self._waiters: set[asyncio.Future[None]] = set()
        self.poll_interval = poll_interval

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_until(
        self,
        predicate: Callable[[], T],
        *,
        timeout: float = 5.0,
        description: str | Callable[[], str] = "condition",
    ) -> T:
        """Return the first truthy value of ``predicate()``, re-checked after every change
        (and every ``poll_interval`` s, for predicates on the bot's own state).

        Raises ``TimeoutError`` naming ``description`` if it stays falsy for ``timeout`` s.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                text = description() if callable(description) else description
                raise TimeoutError(f"timed out after {timeout}s waiting for {text}")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                # Also re-check now and then: predicates may look at state outside the
                # emulator (the bot's cache, its database) that never calls notify().
                await asyncio.wait_for(waiter, min(remaining, self.poll_interval))
            except TimeoutError:
                continue
            finally:
                self._waiters.discard(waiter)
