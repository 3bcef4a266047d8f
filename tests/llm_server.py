"""A real OpenAI-compatible server for the LLM reader's tests, and a fault proxy before it.

`llama_server()` starts llama.cpp's `llama-server` (built by scripts/build-llama-server.sh,
found in its cache) with SmolLM2-135M-Instruct on 127.0.0.1, one thread, and stops it when the
block ends. Where the build is missing the tests that need it are skipped (under CI, with
STRICT_IN_CI, they fail: CI's setup builds it).

`FaultProxy` is a small HTTP server in front of it for what a real server cannot be made to
do on demand: answer 429 or 500, send a body that is not JSON, be slow, or (standing in for a
model that obeys an article or invents a number) replace the model's reply with a given text.
Every request still goes to the real server unless the fault replaces the whole response, so
the client, the wire format and the parsing are the real ones. It records the requests it saw
(headers included) and how many were in flight at once.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = ROOT / "scripts" / "build-llama-server.sh"
MODEL_NAME = "SmolLM2-135M-Instruct"
START_TIMEOUT_S = 120.0
# CI's setup (scripts/setup.sh --dev) builds the server, so there a missing build is a failure
STRICT_IN_CI = True


def _cached_paths() -> tuple[Path, Path]:
    """Where scripts/build-llama-server.sh leaves the server and the model."""
    text = BUILD_SCRIPT.read_text(encoding="utf-8")
    version = text.split('LLAMA_CPP_PYTHON_VERSION="', 1)[1].split('"', 1)[0]
    flavour = text.split('FLAVOUR="', 1)[1].split('"', 1)[0]
    gguf = text.split('GGUF_NAME="', 1)[1].split('"', 1)[0]
    cache = Path(os.environ.get("NEWSBOT_CACHE") or Path.home() / ".cache" / "newsbot")
    server = cache / f"llama-server-{version}-{flavour}" / "llama-server"
    return server, cache / "models" / gguf


def require_llama_server() -> tuple[Path, Path]:
    server, model = _cached_paths()
    if server.is_file() and model.is_file():
        return server, model
    reason = f"llama-server or its model is not built: run {BUILD_SCRIPT.relative_to(ROOT)}"
    if os.environ.get("CI") and STRICT_IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LlamaServer:
    base_url: str  # ends in /v1, as the openai client wants it
    process: subprocess.Popen
    log_path: Path


@contextmanager
def llama_server(log_dir: Path) -> Iterator[LlamaServer]:
    server, model = require_llama_server()
    port = free_port()
    log_path = log_dir / "llama-server.log"
    with open(log_path, "wb") as log:
        # One thread: faster than two on this 2-core machine shared with the test run;
        # one slot with room for five passages and the answer.
        proc = subprocess.Popen(
            [str(server), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
             "-t", "1", "-tb", "1", "-c", "4096", "-np", "1", "--alias", MODEL_NAME,
             "--no-webui"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", proc, log_path)
        yield LlamaServer(f"http://127.0.0.1:{port}/v1", proc, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"llama-server exited with {proc.returncode}:\n{log_path.read_text()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama-server not healthy after {START_TIMEOUT_S:g} s")


# --------------------------------------------------------------------------- fault proxy


@dataclass
class Fault:
    """What the proxy does to the next requests; `kind` is one of
    "pass"      forward to the real server unchanged
    "status"    answer HTTP `status` with an OpenAI-style error body, without forwarding
    "echo_auth" answer HTTP 500 with the request's Authorization header in the body
    "malformed" answer 200 with a body that is not JSON
    "not_chat"  answer 200 with JSON that is not a chat completion
    "slow"      wait `delay_s`, then forward (never, if the client hangs up first)
    "reply"     forward, then replace the model's reply text with `text`
    "answer"    answer 200 with a chat completion whose reply is `text`, without forwarding
    "trickle"   like "answer", but send the response one byte every `delay_s` (headers
                included), as a server that holds a call open would; stop when the client
                hangs up
    """

    kind: str = "pass"
    status: int = 500
    delay_s: float = 0.0
    text: str = ""


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict


@dataclass
class FaultProxy:
    upstream: str  # the real server's base, e.g. http://127.0.0.1:8080 (no /v1)
    fault: Fault = field(default_factory=Fault)
    seen: list[SeenRequest] = field(default_factory=list)
    max_in_flight: int = 0
    _live: dict[int, socket.socket] = field(default_factory=dict)  # connections being handled
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                proxy._enter(self.connection)
                try:
                    proxy._handle(self, raw)
                finally:
                    proxy._leave(self.connection)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def in_flight(self) -> int:
        return len(self._live)

    def _enter(self, conn: socket.socket) -> None:
        # A request whose client has hung up is no longer in flight, even if its handler
        # thread has not yet noticed: checking here, before counting the new request, keeps
        # the count exact under any thread scheduling (a client closes one connection before
        # it opens the next).
        with self._lock:
            for key, other in list(self._live.items()):
                if _hung_up(other):
                    del self._live[key]
            self._live[id(conn)] = conn
            self.max_in_flight = max(self.max_in_flight, len(self._live))

    def _leave(self, conn: socket.socket) -> None:
        with self._lock:
            self._live.pop(id(conn), None)

    def _handle(self, h: BaseHTTPRequestHandler, raw: bytes) -> None:
        fault = self.fault
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        self.seen.append(SeenRequest(h.path, {k.lower(): v for k, v in h.headers.items()}, body))
        if fault.kind == "status":
            error = {"error": {"message": "injected fault", "type": "server_error",
                               "code": fault.status}}
            return _send(h, fault.status, json.dumps(error).encode())
        if fault.kind == "echo_auth":
            leak = {"error": {"message": f"bad key: {h.headers.get('Authorization')}"}}
            return _send(h, 500, json.dumps(leak).encode())
        if fault.kind == "malformed":
            return _send(h, 200, b'{"id": "x", "choices": [{"message": {"content": "Apple [1')
        if fault.kind == "not_chat":
            return _send(h, 200, json.dumps({"result": "Apple will invest [1]."}).encode())
        if fault.kind == "answer":
            return _send(h, 200, completion(fault.text))
        if fault.kind == "trickle":
            return self._trickle(h, completion(fault.text), fault.delay_s)
        if fault.kind == "slow" and not self._wait_slowly(h, fault.delay_s):
            return None
        status, payload = self._forward(h.path, raw, dict(h.headers.items()))
        if fault.kind == "reply" and status == 200:
            data = json.loads(payload)
            data["choices"][0]["message"]["content"] = fault.text
            payload = json.dumps(data).encode()
        _send(h, status, payload)

    def _wait_slowly(self, h: BaseHTTPRequestHandler, delay_s: float) -> bool:
        """Wait `delay_s`; False as soon as the client hangs up or the proxy stops (as a real
        server drops the work of a request whose client is gone)."""
        deadline = time.monotonic() + delay_s
        while time.monotonic() < deadline:
            if self._stopping.wait(0.05):
                return False
            if _hung_up(h.connection):
                return False
        return True

    def _trickle(self, h: BaseHTTPRequestHandler, payload: bytes, delay_s: float) -> None:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        for i in range(len(head) + len(payload)):
            byte = (head + payload)[i : i + 1]
            try:
                h.wfile.write(byte)
                h.wfile.flush()
            except OSError:
                return  # the client hung up
            if not self._wait_slowly(h, delay_s):
                return
        h.close_connection = True

    def _forward(self, path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        keep = {k: v for k, v in headers.items() if k.lower() in ("content-type", "authorization")}
        request = urllib.request.Request(self.upstream + path, data=raw, headers=keep)
        try:
            with urllib.request.urlopen(request, timeout=300) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError):
            return 502, b'{"error": {"message": "nothing behind the proxy"}}'


def _hung_up(conn: socket.socket) -> bool:
    """True when the client has closed `conn` (EOF waiting to be read)."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and not conn.recv(1, socket.MSG_PEEK)
    except (OSError, ValueError):
        return True  # closed or reset


def completion(text: str) -> bytes:
    """A chat completion whose reply is `text`, as an OpenAI-compatible server sends it."""
    return json.dumps({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000,
        "model": MODEL_NAME,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }).encode()


def _send(h: BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
    try:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout): nothing left to tell it
