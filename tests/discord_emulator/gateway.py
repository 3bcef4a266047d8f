"""The gateway websocket: HELLO / IDENTIFY / READY / RESUME, heartbeats and dispatches.

Model (as on Discord): a *session* is created by IDENTIFY and outlives its websocket
*connection*. Every dispatch gets the session's next sequence number and is kept in the
session's buffer, so when a connection drops the events sent meanwhile are replayed on RESUME
(followed by RESUMED). Closing with 1000/1001 from the client, or ``invalidate_session``,
ends the session. Transport compression ``zlib-stream`` (what discord.py asks for by
default) and ``zstd-stream`` (when the ``zstandard`` package is importable) are supported.

Heartbeats are enforced, as on Discord: a connection that sends no heartbeat (op 1) for
``heartbeat_timeout_factor`` × the HELLO interval (1.5 by default; None turns it off), plus
``heartbeat_grace_s`` (0.5 s) of jitter, is a
zombie and is closed with 4009 Session timed out, which also ends the session, so the client
has to IDENTIFY again. ``Gateway.largest_heartbeat_gap()`` shows a bot that blocks its event
loop long before it is disconnected.

Sharding, as on Discord: IDENTIFY's ``shard`` is ``[shard_id, num_shards]`` (0 <= id <
num_shards; anything else is closed with 4010 Invalid shard); a server belongs to shard
``(guild_id >> 22) % num_shards``, whose session alone gets its READY entry, GUILD_CREATE,
events and interactions; DMs go to shard 0. A session that would hold more than
``max_guilds_per_shard`` servers (2,500 on Discord) is closed with 4011 Sharding required.
``identify_count`` counts session starts (GET /gateway/bot's ``session_start_limit``).

Test controls: ``reconnect()`` (op 7), ``invalidate_session(resumable)`` (op 9),
``drop()`` (abrupt TCP close, no close frame), ``close(code)``, ``request_heartbeat()`` (op 1)
and ``ack_heartbeats = False`` to play a zombie connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from aiohttp import WSMsgType, web

from .intents import PRIVILEGED_INTENTS, Intent
from .models import JSON, Guild
from .recording import Notifier
from .state import EmulatorState

Transform = Callable[["Session", JSON], "JSON | None"]


class Op(IntEnum):
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


class CloseCode:
    UNKNOWN_ERROR = 4000
    UNKNOWN_OPCODE = 4001
    DECODE_ERROR = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    INVALID_SEQ = 4007
    RATE_LIMITED = 4008
    SESSION_TIMED_OUT = 4009
    INVALID_SHARD = 4010
    SHARDING_REQUIRED = 4011
    INVALID_API_VERSION = 4012
    INVALID_INTENTS = 4013
    DISALLOWED_INTENTS = 4014


@dataclass
class ReceivedFrame:
    """A frame the client sent (``op``, ``d``) on connection ``connection_id``."""

    connection_id: int
    op: int
    d: Any
    #: When it arrived (time.monotonic()), e.g. to measure heartbeat gaps.
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class _CloseRequest:
    code: int
    reason: str


def _make_compressor(kind: str | None) -> Callable[[bytes], bytes] | None:
    if kind == "zlib-stream":
        zctx = zlib.compressobj()
        return lambda data: zctx.compress(data) + zctx.flush(zlib.Z_SYNC_FLUSH)
    if kind == "zstd-stream":
        import zstandard  # only requested by discord.py when it can import it too

        sctx = zstandard.ZstdCompressor().compressobj()
        return lambda data: sctx.compress(data) + sctx.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    return None


class Connection:
    """One websocket. Frames go through a queue so dispatching never has to await."""

    def __init__(
        self, conn_id: int, ws: web.WebSocketResponse, request: web.Request, compression: str | None
    ) -> None:
        self.id = conn_id
        self.ws = ws
        self.request = request
        self.path = request.path
        self.compression = compression
        self.session: Session | None = None
        #: The code the socket ended with (from the client's close frame, or our own close).
        self.close_code: int | None = None
        #: Set when the emulator closed the socket itself (``close()``, errors, shutdown).
        self.server_close_code: int | None = None
        self.aborted = False
        #: When the connection last heard a heartbeat (or HELLO was sent), time.monotonic().
        self.last_heartbeat = time.monotonic()
        #: Set when the emulator closed this connection for missing heartbeats.
        self.zombied = False
        self._compress = _make_compressor(compression)
        self._queue: asyncio.Queue[JSON | _CloseRequest] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop(), name=f"emulator-gw-writer-{conn_id}")

    @property
    def open(self) -> bool:
        return not (self.aborted or self.ws.closed)

    def send(self, frame: JSON) -> None:
        if self.open:
            self._queue.put_nowait(frame)

    def close_after_flush(self, code: int, reason: str = "") -> None:
        """Close with ``code`` once every frame queued so far has been written."""
        self._queue.put_nowait(_CloseRequest(code, reason))

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (what a network failure looks like)."""
        self.aborted = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        self._writer.cancel()

    async def close_now(self, code: int, reason: str, timeout: float = 2.0) -> None:
        """Queue a close and wait until it (and everything before it) has been written."""
        self.close_after_flush(code, reason)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)

    def heard_heartbeat(self) -> None:
        self.last_heartbeat = time.monotonic()

    async def stop(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    async def _write_loop(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, _CloseRequest):
                    self.server_close_code = item.code
                    await self.ws.close(code=item.code, message=item.reason.encode())
                    return
                data = json.dumps(item, separators=(",", ":"))
                if self._compress is None:
                    await self.ws.send_str(data)
                else:
                    await self.ws.send_bytes(self._compress(data.encode()))
        except (ConnectionError, RuntimeError):
            return  # socket went away; undelivered dispatches stay in the session buffer


@dataclass(eq=False)
class Session:
    """A gateway session (from IDENTIFY), with its sequence counter and replay buffer."""

    id: str
    intents: int
    identify: JSON = field(repr=False)
    shard: tuple[int, int] = (0, 1)
    seq: int = 0
    buffer: list[JSON] = field(default_factory=list, repr=False)
    connection: Connection | None = field(default=None, repr=False)
    invalidated: bool = False
    presence: JSON | None = field(default=None, repr=False)

    def has_intent(self, intent: int) -> bool:
        return self.intents & intent == intent

    def owns(self, guild: Guild | None) -> bool:
        if guild is None:
            return self.shard[0] == 0  # DMs go to shard 0
        return (guild.id >> 22) % self.shard[1] == self.shard[0]

    def dispatch(self, event: str, data: JSON) -> int:
        self.seq += 1
        frame = {"op": Op.DISPATCH, "t": event, "s": self.seq, "d": data}
        self.buffer.append(frame)
        if self.connection is not None:
            self.connection.send(frame)
        return self.seq


class Gateway:
    """The websocket side of the emulator (one per ``DiscordEmulator``)."""

    def __init__(
        self,
        state: EmulatorState,
        notifier: Notifier,
        *,
        base_url: Callable[[], str],
        heartbeat_interval_ms: int = 41_250,
        privileged_intents: int = int(PRIVILEGED_INTENTS),
        heartbeat_timeout_factor: float | None = 1.5,
        heartbeat_grace_s: float = 0.5,
        max_guilds_per_shard: int = 2500,
    ) -> None:
        self.state = state
        #: More servers than this on one session: closed with 4011 Sharding required.
        self.max_guilds_per_shard = max_guilds_per_shard
        #: Sessions started by IDENTIFY (each one counts against session_start_limit).
        self.identify_count = 0
        self.heartbeat_timeout_factor = heartbeat_timeout_factor
        #: Added to the allowed gap: network and scheduling jitter, as Discord tolerates.
        self.heartbeat_grace_s = heartbeat_grace_s
        self._notifier = notifier
        self._base_url = base_url
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.privileged_intents = privileged_intents
        self.ack_heartbeats = True
        self.sessions: list[Session] = []
        self.connections: list[Connection] = []
        self.received: list[ReceivedFrame] = []
        self.ready_count = 0
        self.resumed_count = 0
        self.invalid_resume_count = 0

    # -- URLs ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """What GET /gateway answers and discord.py's DEFAULT_GATEWAY should be."""
        return f"{self._base_url()}/"

    @property
    def resume_url(self) -> str:
        return f"{self._base_url()}/resume"

    # -- state for tests -----------------------------------------------------------------
    @property
    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions if not s.invalidated]

    @property
    def session(self) -> Session | None:
        """The most recent live session, if any."""
        live = self.live_sessions
        return live[-1] if live else None

    @property
    def open_connections(self) -> list[Connection]:
        return [c for c in self.connections if c.open]

    def frames(self, op: int) -> list[ReceivedFrame]:
        return [f for f in self.received if f.op == op]

    def largest_heartbeat_gap(self, since: float | None = None) -> float:
        """The longest time (s) between two heartbeats on one connection, or from the last
        heartbeat until now on a still-open one: how late the client's event loop let them
        go. ``since`` (a time.monotonic() value) ignores earlier heartbeats."""
        now = time.monotonic()
        open_ids = {c.id for c in self.open_connections}
        by_conn: dict[int, list[float]] = {}
        for frame in self.frames(Op.HEARTBEAT):
            if since is None or frame.at >= since:
                by_conn.setdefault(frame.connection_id, []).append(frame.at)
        gap = 0.0
        for conn_id, times in by_conn.items():
            if conn_id in open_ids:
                times = [*times, now]
            gap = max([gap, *(b - a for a, b in itertools.pairwise(times))])
        return gap

    @property
    def heartbeat_allowed_s(self) -> float:
        """How long a connection may go without a heartbeat before it is closed as a zombie."""
        factor = self.heartbeat_timeout_factor or float("inf")
        return self.heartbeat_interval_ms / 1000 * factor + self.heartbeat_grace_s

    @property
    def zombie_closes(self) -> int:
        """How many connections the emulator closed for missing heartbeats."""
        return sum(1 for c in self.connections if c.zombied)

    async def _watch_heartbeats(self, conn: Connection) -> None:
        """Close ``conn`` with 4009 once it goes too long without a heartbeat."""
        if self.heartbeat_timeout_factor is None:
            return
        allowed = self.heartbeat_allowed_s
        while conn.open:
            left = conn.last_heartbeat + allowed - time.monotonic()
            if left > 0:
                await asyncio.sleep(min(left, 1.0) + 0.001)
                continue
            conn.zombied = True
            if conn.session is not None:
                conn.session.invalidated = True
            self._notifier.notify()
            await conn.close_now(CloseCode.SESSION_TIMED_OUT, "Session timed out")
            return

    # -- dispatching ---------------------------------------------------------------------
    def broadcast(
        self,
        event: str,
        payload: JSON,
        *,
        guild: Guild | None = None,
        intent: int | None = None,
        transform: Transform | None = None,
    ) -> int:
        """Dispatch to every live session that should get it; returns how many did.

        An unavailable guild (an outage) sends nothing but interactions and its own
        GUILD_CREATE / GUILD_DELETE."""
        if (
            guild is not None
            and guild.unavailable
            and event not in ("INTERACTION_CREATE", "GUILD_CREATE", "GUILD_DELETE")
        ):
            return 0
        delivered = 0
        for session in self.live_sessions:
            if not session.owns(guild):
                continue
            if guild is not None and guild.get_member(self.state.bot_user) is None:
                continue
            if intent is not None and not session.has_intent(intent):
                continue
            data = transform(session, payload) if transform is not None else payload
            if data is None:
                continue
            session.dispatch(event, data)
            delivered += 1
        self._notifier.notify()
        return delivered

    # -- test controls -------------------------------------------------------------------
    def _targets(self) -> list[Connection]:
        targets = [c for c in self.open_connections if c.session is not None]
        if not targets:
            raise RuntimeError("no identified gateway connection is open")
        return targets

    async def reconnect(self) -> None:
        """Send op 7 RECONNECT; the client should reconnect and RESUME."""
        for conn in self._targets():
            conn.send({"op": Op.RECONNECT, "d": None, "s": None, "t": None})

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION.

        Not resumable: the session is gone and the client must IDENTIFY again.
        """
        for conn in self._targets():
            if not resumable and conn.session is not None:
                conn.session.invalidated = True
            conn.send({"op": Op.INVALID_SESSION, "d": resumable, "s": None, "t": None})
        self._notifier.notify()

    async def drop(self) -> None:
        """Cut every open connection abruptly (no close frame); sessions stay resumable."""
        for conn in self._targets():
            conn.abort()
        self._notifier.notify()

    async def close(self, code: int = CloseCode.UNKNOWN_ERROR, reason: str = "") -> None:
        """Close every open connection with ``code`` (after flushing queued frames).

        4007 (invalid seq) and 4009 (session timed out) also end the session, as on Discord,
        so the client's RESUME attempt is refused and it must IDENTIFY again.
        """
        for conn in self._targets():
            if code in (CloseCode.INVALID_SEQ, CloseCode.SESSION_TIMED_OUT) and conn.session:
                conn.session.invalidated = True
            conn.close_after_flush(code, reason)

    async def request_heartbeat(self) -> None:
        """Send op 1; the client must answer with a heartbeat right away."""
        for conn in self._targets():
            conn.send({"op": Op.HEARTBEAT, "d": None, "s": None, "t": None})

    async def shutdown(self) -> None:
        for conn in self.open_connections:
            conn.close_after_flush(1001, "emulator shutting down")
        for conn in self.connections:
            await conn.stop()
        for conn in self.connections:
            if not conn.ws.closed:
                conn.abort()

    # -- websocket handler ---------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, compress=False)
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="this is the emulated gateway: connect with a websocket")
        await ws.prepare(request)
        conn = Connection(len(self.connections) + 1, ws, request, request.query.get("compress"))
        self.connections.append(conn)
        self._notifier.notify()
        try:
            if request.query.get("v", "10") != "10":
                await conn.close_now(CloseCode.INVALID_API_VERSION, "Invalid API version")
            elif request.query.get("encoding", "json") != "json":
                await conn.close_now(
                    CloseCode.DECODE_ERROR, "the emulator only speaks encoding=json"
                )
            else:
                conn.send(
                    {
                        "op": Op.HELLO,
                        "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                        "s": None,
                        "t": None,
                    }
                )
                conn.last_heartbeat = time.monotonic()
                watchdog = asyncio.create_task(
                    self._watch_heartbeats(conn), name=f"emulator-gw-heartbeats-{conn.id}"
                )
                try:
                    await self._read_loop(conn)
                finally:
                    watchdog.cancel()
        finally:
            conn.close_code = ws.close_code
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
                client_closed = conn.server_close_code is None and not conn.aborted
                if client_closed and ws.close_code in (1000, 1001):
                    conn.session.invalidated = True  # a clean client close ends the session
            await conn.stop()
            self._notifier.notify()
        return ws

    async def _read_loop(self, conn: Connection) -> None:
        async for msg in conn.ws:
            if msg.type is not WSMsgType.TEXT:
                if msg.type is WSMsgType.BINARY:
                    conn.close_after_flush(CloseCode.DECODE_ERROR, "Decode error")
                continue
            try:
                frame = json.loads(msg.data)
                op, data = int(frame["op"]), frame.get("d")
            except (ValueError, KeyError, TypeError):
                conn.close_after_flush(CloseCode.DECODE_ERROR, "Decode error")
                continue
            self.received.append(ReceivedFrame(conn.id, op, data))
            self._on_frame(conn, op, data)
            self._notifier.notify()

    def _on_frame(self, conn: Connection, op: int, data: Any) -> None:
        if op == Op.HEARTBEAT:
            conn.heard_heartbeat()
            if self.ack_heartbeats:
                conn.send({"op": Op.HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == Op.IDENTIFY:
            self._identify(conn, data)
        elif op == Op.RESUME:
            self._resume(conn, data)
        elif conn.session is None and op in (
            Op.PRESENCE_UPDATE,
            Op.REQUEST_GUILD_MEMBERS,
            Op.VOICE_STATE_UPDATE,
        ):
            conn.close_after_flush(CloseCode.NOT_AUTHENTICATED, "Not authenticated.")
        elif op == Op.PRESENCE_UPDATE:
            assert conn.session is not None
            conn.session.presence = data
        elif op == Op.REQUEST_GUILD_MEMBERS:
            self._member_chunks(conn, data)
        elif op == Op.VOICE_STATE_UPDATE:
            pass
        else:
            conn.close_after_flush(CloseCode.UNKNOWN_OPCODE, "Unknown opcode.")

    def _identify(self, conn: Connection, data: JSON) -> None:
        if conn.session is not None:
            conn.close_after_flush(CloseCode.ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if data.get("token") != self.state.token:
            conn.close_after_flush(CloseCode.AUTHENTICATION_FAILED, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            conn.close_after_flush(CloseCode.INVALID_INTENTS, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            conn.close_after_flush(CloseCode.DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        raw_shard = data.get("shard")
        shard = _valid_shard((0, 1) if raw_shard is None else raw_shard)
        if shard is None:
            conn.close_after_flush(CloseCode.INVALID_SHARD, "Invalid shard.")
            return
        session = Session(
            id=secrets.token_hex(16),
            intents=intents,
            identify=data,
            shard=shard,
            presence=data.get("presence"),
        )
        guilds = [
            g
            for g in self.state.guilds.values()
            if session.owns(g) and g.get_member(self.state.bot_user) is not None
        ]
        if len(guilds) > self.max_guilds_per_shard:
            conn.close_after_flush(CloseCode.SHARDING_REQUIRED, "Sharding is required.")
            return
        self.identify_count += 1
        self.sessions.append(session)
        conn.session, session.connection = session, conn
        ready: JSON = {
            "v": 10,
            "user": self.state.bot_user_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_url,
            "application": {"id": str(self.state.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["discord-emulator"],
        }
        if data.get("shard") is not None:
            ready["shard"] = list(session.shard)
        session.dispatch("READY", ready)
        self.ready_count += 1
        for guild in guilds:
            if not guild.unavailable:
                session.dispatch("GUILD_CREATE", self.guild_create_payload(session, guild))
            elif guild.outage_event is not None:
                session.dispatch(guild.outage_event, guild.unavailable_payload())

    def recommended_shards(self) -> int:
        """GET /gateway/bot's ``shards``: about one per 1,000 servers, as Discord answers."""
        joined = sum(
            1 for g in self.state.guilds.values() if g.get_member(self.state.bot_user) is not None
        )
        return max(1, -(-joined // 1000))

    def guild_create_payload(self, session: Session, guild: Guild) -> JSON:
        """GUILD_CREATE as this session sees it: all members only with GUILD_MEMBERS intent."""
        if session.has_intent(Intent.GUILD_MEMBERS):
            return guild.to_payload()
        return guild.to_payload(members=[guild.bot_member])

    def _resume(self, conn: Connection, data: JSON) -> None:
        session = next((s for s in self.sessions if s.id == data.get("session_id")), None)
        if (
            session is None
            or session.invalidated
            or data.get("token") != self.state.token
            or conn.session is not None
        ):
            self.invalid_resume_count += 1
            conn.send({"op": Op.INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        old = session.connection
        if old is not None and old is not conn:
            old.close_after_flush(CloseCode.UNKNOWN_ERROR, "Session resumed elsewhere")
        conn.session, session.connection = session, conn
        last_seen = data.get("seq") or 0
        for frame in session.buffer:
            if frame["s"] > last_seen:
                conn.send(frame)
        session.dispatch("RESUMED", {"_trace": ["discord-emulator"]})
        self.resumed_count += 1

    def _member_chunks(self, conn: Connection, data: JSON) -> None:
        guild_ids = data.get("guild_id")
        if not isinstance(guild_ids, list):
            guild_ids = [guild_ids]
        for raw_id in guild_ids:
            guild = self.state.guilds.get(int(raw_id))
            if guild is None or conn.session is None:
                continue
            members = list(guild.members.values())
            user_ids = [int(u) for u in data.get("user_ids") or []]
            if user_ids:
                members = [m for m in members if m.user.id in user_ids]
            elif data.get("query"):
                query = str(data["query"]).lower()
                members = [m for m in members if m.user.username.lower().startswith(query)]
            limit = int(data.get("limit") or 0)
            if limit:
                members = members[:limit]
            chunk: JSON = {
                "guild_id": str(guild.id),
                "members": [m.to_payload() for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [str(u) for u in user_ids if guild.get_member(u) is None],
            }
            if data.get("presences"):
                chunk["presences"] = []
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            conn.session.dispatch("GUILD_MEMBERS_CHUNK", chunk)


def _valid_shard(value: Any) -> tuple[int, int] | None:
    """IDENTIFY's ``shard`` as (id, count) when Discord would take it, else None (4010)."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    shard_id, count = value
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (shard_id, count)):
        return None
    if count < 1 or not 0 <= shard_id < count:
        return None
    return shard_id, count
