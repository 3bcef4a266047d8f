"""The REST front door: parse, record, authenticate, inject faults, route, answer.

Every HTTP request (except the gateway websocket) goes through ``RestServer.handle``:

1. the body is parsed (JSON, or multipart ``payload_json`` + ``files[n]``);
2. it is recorded as a ``RecordedRequest`` (unknown routes too, in ``unknown_requests``);
3. bot routes need ``Authorization: Bot <token>`` (401 otherwise); webhook, interaction
   and attachment routes don't, as on Discord;
4. an injected ``Fault`` for the route answers instead of the handler (an injected 429 stands
   for Discord's own and spends nothing; 5xx, 403... count as requests);
5. the rate limiter (``ratelimits.py``) counts it against its route bucket, the global limit
   and the invalid-request limit, and answers the 429 itself when one is spent;
6. the handler answers, or raises ``DiscordAPIError`` which becomes Discord's error JSON;
7. the bucket's ``X-RateLimit-*`` headers are added to the answer (as on every Discord
   response of a rate-limited route), and 401/403/429 answers count as invalid requests.

Routes are declared as templates (``/channels/{channel_id}/messages``) relative to
``/api/v10``; those with ``api=False`` live at the server root (attachment downloads).
"""

from __future__ import annotations

import json
import re
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from .ratelimits import RateLimiter
from .recording import Fault, Notifier, RecordedRequest, UploadedFile
from .validation import DiscordAPIError

API_PREFIX = "/api/v10"
COMMON_HEADERS = {"Via": "1.1 google"}


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"
    #: Without the headers every Discord API response has (``Via``): a Cloudflare answer.
    bare: bool = False


Handler = Callable[[RecordedRequest], Awaitable[Reply]]


@dataclass
class RouteSpec:
    method: str
    template: str
    handler: Handler
    auth: bool
    api: bool
    regex: re.Pattern[str]


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


class Router:
    def __init__(self) -> None:
        self.routes: list[RouteSpec] = []

    def add(
        self, method: str, template: str, handler: Handler, *, auth: bool = True, api: bool = True
    ) -> None:
        self.routes.append(
            RouteSpec(method.upper(), template, handler, auth, api, _compile(template))
        )

    @property
    def templates(self) -> set[str]:
        return {r.template for r in self.routes}

    def match(self, method: str, path: str) -> tuple[RouteSpec | None, str | None, dict[str, str]]:
        """(route, template, params); route is None when only the method is wrong."""
        api = path.startswith(API_PREFIX + "/")
        relative = path[len(API_PREFIX) :] if api else path
        wrong_method: tuple[str, dict[str, str]] | None = None
        for spec in self.routes:
            if spec.api != api:
                continue
            found = spec.regex.match(relative)
            if found is None:
                continue
            if spec.method == method:
                return spec, spec.template, found.groupdict()
            wrong_method = wrong_method or (spec.template, found.groupdict())
        if wrong_method is not None:
            return None, wrong_method[0], wrong_method[1]
        return None, None, {}


async def _read_body(request: web.Request) -> tuple[Any, list[UploadedFile]]:
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        files: list[UploadedFile] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "payload_json":
                payload = json.loads(await part.text())
            elif part.filename is not None:
                files.append(
                    UploadedFile(
                        field_name=part.name or "",
                        filename=part.filename,
                        content_type=part.headers.get("Content-Type", "application/octet-stream"),
                        data=bytes(await part.read()),
                    )
                )
        return payload, files
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        return raw.decode("utf-8", "replace"), []


def _to_response(reply: Reply) -> web.Response:
    headers = dict(reply.headers) if reply.bare else {**COMMON_HEADERS, **reply.headers}
    if reply.raw is not None:
        return web.Response(
            status=reply.status, body=reply.raw, headers=headers, content_type=reply.content_type
        )
    if reply.status == 204 or reply.body is None:
        return web.Response(status=reply.status if reply.body is not None else 204, headers=headers)
    # Exactly "application/json" (no charset): discord.py compares the header verbatim.
    headers["Content-Type"] = "application/json"
    return web.Response(status=reply.status, body=json.dumps(reply.body).encode(), headers=headers)


class RestServer:
    """Records and answers every REST call; see the module docstring for the pipeline."""

    def __init__(
        self,
        router: Router,
        notifier: Notifier,
        token: Callable[[], str],
        limiter: RateLimiter | None = None,
    ) -> None:
        self.router = router
        self.limiter = limiter or RateLimiter()
        self._notifier = notifier
        self._token = token
        self.requests: list[RecordedRequest] = []
        self.unknown_requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        #: Exceptions raised inside handlers (emulator bugs); the fixture fails the test on them.
        self.errors: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            payload, files = await _read_body(request)
        except Exception:
            self.errors.append(f"reading {request.method} {request.path}\n{traceback.format_exc()}")
            payload, files = None, []
        spec, template, params = self.router.match(request.method, request.path)
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            route=template,
            params=params,
            query=dict(request.query),
            json=payload,
            files=files,
            headers=dict(request.headers),
        )
        self.requests.append(record)
        reply = await self._answer(spec, template, record, request)
        if spec is not None and spec.api:
            self.limiter.answered(reply.status, reply.headers)
        record.status, record.response = reply.status, reply.body
        record.response_headers = dict(reply.headers)
        self._notifier.notify()
        return _to_response(reply)

    async def _answer(
        self,
        spec: RouteSpec | None,
        template: str | None,
        record: RecordedRequest,
        request: web.Request,
    ) -> Reply:
        if spec is None:
            self.unknown_requests.append(record)
            if template is not None:
                return Reply(405, {"message": "405: Method Not Allowed", "code": 0})
            return Reply(404, {"message": "404: Not Found", "code": 0})
        if spec.auth and request.headers.get("Authorization") != f"Bot {self._token()}":
            return Reply(401, {"message": "401: Unauthorized", "code": 0})
        fault = next((f for f in self.faults if f.matches(record.method, template)), None)
        if fault is not None:
            fault.remaining -= 1
            fault.hits.append(record)
            if fault.status == 429:
                # an injected 429 stands for Discord's own: it spends none of the bucket
                return Reply(fault.status, dict(fault.body), dict(fault.headers))
        verdict = self.limiter.check(record) if spec.api else None
        if verdict is not None and verdict.status is not None:
            if verdict.raw is not None:  # a Cloudflare ban: no Discord headers, no JSON
                return Reply(verdict.status, raw=verdict.raw, content_type="text/plain", bare=True)
            return Reply(verdict.status, verdict.body, dict(verdict.headers))
        limit_headers = verdict.headers if verdict is not None else {}
        if fault is not None:
            return Reply(fault.status, dict(fault.body), {**limit_headers, **fault.headers})
        try:
            reply = await spec.handler(record)
        except DiscordAPIError as exc:
            reply = Reply(exc.status, exc.body())
        except Exception:
            # An emulator bug: answer a non-retried 4xx so the bot fails fast, and remember it.
            self.errors.append(f"{record.method} {record.path}\n{traceback.format_exc()}")
            return Reply(400, {"message": "[discord emulator internal error]", "code": 0})
        reply.headers = {**limit_headers, **reply.headers}
        return reply
