"""A guarded HTTP GET for content from strangers' URLs.

- every hop (the first request and each redirect, followed by hand) goes through
  netguard.resolve, and the socket connects to one of the addresses checked there, never to a
  name resolved again; the Host header and TLS server name still carry the host name;
- one deadline covers the whole fetch: connecting, TLS, every redirect and every read of the
  headers and body (each socket read waits only for the time left);
- the body is capped at max_bytes (raw and decompressed); the content type is checked before
  the body is read.
Proxy environment variables are ignored on purpose: a proxy would resolve names itself.
"""

from __future__ import annotations

import dataclasses
import http.client
import io
import socket
import ssl
import time
import zlib
from dataclasses import dataclass
from urllib.parse import quote, urljoin

from index.errors import FetchRefused, InputError
from index.readers.netguard import AddressPolicy, Target, allow_all, public_only, resolve
from index.settings import FetchSettings

PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml", "text/plain"})
FEED_TYPES = frozenset(
    {
        "application/rss+xml", "application/atom+xml", "application/rdf+xml",
        "application/xml", "text/xml", "application/feed+xml",
    }
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
# Characters kept as they are when a path is percent-encoded for the request line.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~?"


@dataclass(frozen=True)
class Fetched:
    url: str  # the final URL, after redirects
    content_type: str  # lower-case media type without parameters
    charset: str | None
    body: bytes
    status: int = 200  # 304: not modified since the validators sent (body empty)
    etag: str | None = None  # the response's validators, for the next conditional request
    last_modified: str | None = None


@dataclass(frozen=True)
class Validators:
    """What a conditional GET sends: the ETag and Last-Modified of the last copy read."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        sent = {}
        if self.etag:
            sent["If-None-Match"] = self.etag
        if self.last_modified:
            sent["If-Modified-Since"] = self.last_modified
        return sent


def default_policy(fetch: FetchSettings) -> AddressPolicy:
    return allow_all if fetch.allow_private else public_only


def get(
    url: str,
    fetch: FetchSettings,
    *,
    accept: frozenset[str],
    policy: AddressPolicy | None = None,
    tls: ssl.SSLContext | None = None,
    validators: Validators | None = None,
) -> Fetched:
    """GET `url` within the limits of `fetch`; FetchRefused or InputError when that fails.

    With `validators` the request is conditional: a 304 answer comes back as a Fetched with
    status 304 and no body, having cost one round trip and nothing else.
    """
    policy = policy or default_policy(fetch)
    deadline = time.monotonic() + fetch.timeout_s
    current = url.strip()
    for _hop in range(fetch.max_redirects + 1):
        target = resolve(current, policy)
        try:
            outcome = _request(target, fetch, accept, deadline, tls, validators)
        except TimeoutError as exc:
            raise InputError(f"timed out after {fetch.timeout_s:g} s") from exc
        except ssl.SSLError as exc:
            raise InputError(f"TLS failed: {exc.reason or exc}") from exc
        except http.client.HTTPException as exc:
            problem = type(exc).__name__
            raise InputError(f"the server sent a broken HTTP response ({problem})") from exc
        except OSError as exc:
            raise InputError(f"could not connect: {exc.strerror or exc}") from exc
        if isinstance(outcome, str):
            current = urljoin(current, outcome)
            continue
        return dataclasses.replace(outcome, url=current)
    raise FetchRefused(f"too many redirects (more than {fetch.max_redirects})")


def _request(
    target: Target,
    fetch: FetchSettings,
    accept: frozenset[str],
    deadline: float,
    tls: ssl.SSLContext | None,
    validators: Validators | None = None,
) -> str | Fetched:
    """One request: the Location of a redirect, or what was fetched (its url still empty)."""
    conn, sock = _connect(target, deadline, tls)
    try:
        conn.request(
            "GET",
            quote(target.path, safe=_PATH_SAFE),
            headers={
                "User-Agent": fetch.user_agent,
                "Accept": ", ".join(sorted(accept)) + ", */*;q=0.1",
                "Accept-Encoding": "gzip, deflate",
                "Connection": "close",
                **(validators.headers() if validators else {}),
            },
        )
        response = conn.getresponse()
        etag = response.getheader("ETag")
        last_modified = response.getheader("Last-Modified")
        if response.status == 304 and validators is not None:
            return Fetched("", "", None, b"", 304, etag or validators.etag,
                           last_modified or validators.last_modified)
        if response.status in _REDIRECTS:
            location = response.getheader("Location")
            if not location:
                raise InputError(f"the server redirected (HTTP {response.status}) to nowhere")
            return location.strip()
        if not 200 <= response.status < 300:
            raise InputError(f"the server answered HTTP {response.status} {response.reason}")
        content_type, charset = _content_type(response.getheader("Content-Type"))
        if content_type not in accept:
            shown = f"'{content_type}'" if content_type else "no content type"
            hint = "; it is a feed, read it as one" if content_type in FEED_TYPES else ""
            raise FetchRefused(
                f"unsupported content type {shown}; accepted: {_kinds(accept)}{hint}"
            )
        length = response.getheader("Content-Length")
        if length and length.strip().isdigit() and int(length) > fetch.max_bytes:
            raise FetchRefused(_over_cap(fetch.max_bytes))
        body = _read_body(response, fetch.max_bytes)
        return Fetched("", content_type, charset, body, response.status, etag, last_modified)
    finally:
        conn.close()
        sock.release()


def _connect(
    target: Target, deadline: float, tls: ssl.SSLContext | None
) -> tuple[http.client.HTTPConnection, _DeadlineSocket]:
    context = (tls or ssl.create_default_context()) if target.scheme == "https" else None
    last: OSError | None = None
    for address in target.addresses:
        try:
            sock = socket.create_connection((address, target.port), _remaining(deadline))
        except TimeoutError:
            raise  # the deadline is spent; the next address would not get any time
        except OSError as exc:
            last = exc
            continue
        conn: http.client.HTTPConnection
        try:
            if context is not None:
                sock.settimeout(_remaining(deadline))
                # SNI and the certificate check use the host name, not the address dialled.
                sock = context.wrap_socket(sock, server_hostname=target.host)
                conn = http.client.HTTPSConnection(target.host, target.port, context=context)
            else:
                conn = http.client.HTTPConnection(target.host, target.port)
        except BaseException:
            sock.close()
            raise
        # Given its socket and barred from reopening, the connection never dials (and so never
        # resolves the host name) by itself.
        conn.auto_open = 0
        wrapped = _DeadlineSocket(sock, deadline)
        conn.sock = wrapped  # type: ignore[assignment]
        return conn, wrapped
    raise last or OSError("no address to connect to")


class _DeadlineSocket:
    """The few socket methods http.client uses, each given only the time left to the deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(_remaining(self._deadline))
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args: object, **kwargs: object) -> io.BufferedReader:
        if mode != "rb":
            raise ValueError("only binary reading is supported")
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        # http.client closes the connection as soon as it has the headers of a "Connection:
        # close" response, while the body is still to be read; the socket must outlive that.
        pass

    def release(self) -> None:
        """Really close the socket, once the response has been read (or abandoned)."""
        self._sock.close()


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._sock.settimeout(_remaining(self._deadline))
        return self._sock.recv_into(buffer)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


def _read_body(response: http.client.HTTPResponse, cap: int) -> bytes:
    encoding = (response.getheader("Content-Encoding") or "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding == "identity":
        decoder = None
    else:
        raise FetchRefused(f"unsupported content encoding '{encoding}'")
    raw = 0
    parts: list[bytes] = []
    size = 0
    while True:
        # read1: at most one socket read per call, so the deadline is checked between reads.
        chunk = response.read1(_CHUNK)
        if not chunk:
            break
        raw += len(chunk)
        if raw > cap:
            raise FetchRefused(_over_cap(cap))
        if decoder is not None:
            try:
                chunk = decoder.decompress(chunk, cap - size + 1)
            except zlib.error as exc:
                raise InputError(f"the compressed body is damaged: {exc}") from exc
        size += len(chunk)
        if size > cap:
            raise FetchRefused(_over_cap(cap))
        parts.append(chunk)
    if decoder is not None:
        tail = decoder.flush()
        if size + len(tail) > cap:
            raise FetchRefused(_over_cap(cap))
        parts.append(tail)
    return b"".join(parts)


def _content_type(header: str | None) -> tuple[str, str | None]:
    if not header:
        return "", None
    media, *params = header.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return media.strip().lower(), charset


def _kinds(accept: frozenset[str]) -> str:
    return ", ".join(sorted(accept))


def _over_cap(cap: int) -> str:
    return f"the response is larger than the limit of {cap:,} bytes"
