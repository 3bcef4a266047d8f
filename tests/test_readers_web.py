"""URL fetching against real loopback HTTP servers: the address guard (first hop and redirects),
schemes, limits (time, bytes, content type) and extraction of fetched pages."""

from __future__ import annotations

import gzip
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from index.errors import FetchRefused, InputError
from index.readers import fetch_url, read_urls, transport
from index.readers.netguard import IPAddress, allow_all, public_only, resolve
from index.settings import FetchSettings

FIXTURES = Path(__file__).parent / "fixtures" / "readers"
PRIVATE_OK = FetchSettings(allow_private=True, timeout_s=5)

PAGE = """<!DOCTYPE html><html><head><title>{title}</title>
<meta property="og:title" content="{title}"><meta property="og:site_name" content="Loopback News">
</head><body><nav><a href="/">Home</a></nav><article><h1>{title}</h1>
<p>{title}: the first paragraph explains what happened in the town on Monday, with enough words
to look like a real news report to the extractor.</p>
<p>The second paragraph adds what officials said afterwards, and what residents expect to
happen over the coming weeks as the work continues.</p>
<p>A third paragraph closes the report with some background on earlier events in the region
and the reactions of local businesses.</p>
</article></body></html>"""


def page(title: str) -> bytes:
    return PAGE.format(title=title).encode()


Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Site:
    """A real HTTP server on a loopback address; each path is answered by a handler."""

    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # the Host header of each request
    stopped: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        site = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                site.hosts.append(self.headers.get("Host", ""))
                route = site.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404)
                else:
                    route(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((self.host, 0), RequestHandler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def serve(self, path: str, body: bytes, content_type: str = "text/html; charset=utf-8",
              status: int = 200, headers: dict[str, str] | None = None) -> str:
        def handler(request: BaseHTTPRequestHandler) -> None:
            request.send_response(status)
            if content_type:
                request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                request.send_header(key, value)
            request.end_headers()
            request.wfile.write(body)

        self.routes[path.split("?")[0]] = handler
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.serve(path, b"", status=status, headers={"Location": location})

    def close(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    yield server
    server.close()


@pytest.fixture
def public_site() -> Iterator[Site]:
    """A server on 127.0.0.2 that the tests' policy treats as a public web site."""
    try:
        server = Site(host="127.0.0.2")
    except OSError:
        pytest.skip("127.0.0.2 cannot be bound on this machine")
    yield server
    server.close()


def only_127_0_0_2_is_public(address: IPAddress) -> str | None:
    """A policy for tests: public_site's address counts as public, the rest as usual."""
    if address == ipaddress.ip_address("127.0.0.2"):
        return None
    return public_only(address)


# -- the address guard --------------------------------------------------------------------


def test_a_loopback_server_is_refused_by_default(site: Site) -> None:
    url = site.serve("/page", page("Hidden"))
    with pytest.raises(FetchRefused, match="loopback"):
        fetch_url(url, FetchSettings())
    assert site.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://017700000001/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
    ],
)
def test_private_and_disguised_loopback_addresses_are_refused(url: str) -> None:
    with pytest.raises(FetchRefused, match="not fetched"):
        fetch_url(url, FetchSettings(timeout_s=1))


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:10.0.0.1",  # IPv4-mapped
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "255.255.255.255",
        "240.0.0.1",
        "198.18.0.1",
        "2001:db8::1",
    ],
)
def test_policy_sees_through_embedded_and_special_addresses(address: str) -> None:
    assert public_only(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_policy_allows_public_addresses(address: str) -> None:
    assert public_only(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/file.txt",
        "gopher://example.com/",
        "javascript:alert(1)",
        "example.com/news",
        "http://user:secret@example.com/",
        "http:///no-host",
    ],
)
def test_only_plain_http_and_https_urls_are_fetched(url: str) -> None:
    with pytest.raises(FetchRefused):
        fetch_url(url, FetchSettings())


def test_the_checked_address_is_the_one_connected_to(site: Site) -> None:
    target = resolve(site.url("/x?q=1"), allow_all)
    assert target.addresses == ("127.0.0.1",)
    assert (target.host, target.port, target.path) == ("127.0.0.1", site.port, "/x?q=1")
    with pytest.raises(FetchRefused, match="loopback"):
        resolve(site.url("/x"), public_only)


def test_the_host_is_resolved_once_and_named_in_the_request(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DNS rebinding: the first answer passes the check, any later one would point elsewhere.
    real_getaddrinfo = socket.getaddrinfo
    asked: list[str] = []

    def rebinding_dns(host: str, port: int, *args: object, **kwargs: object) -> list:
        asked.append(host)
        if host == "rebind.test":
            answer = "127.0.0.1" if asked.count(host) == 1 else "10.255.255.1"
            return real_getaddrinfo(answer, port, *args, **kwargs)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    site.serve("/p", page("Pinned"))
    article = fetch_url(f"http://rebind.test:{site.port}/p", PRIVATE_OK)
    assert article.title == "Pinned"
    assert asked.count("rebind.test") == 1  # the connection dialled the checked address
    assert site.hosts == [f"rebind.test:{site.port}"]


def test_a_redirect_to_loopback_is_refused(public_site: Site, site: Site) -> None:
    site.serve("/secret", page("Internal secret"))
    start = public_site.redirect("/go", site.url("/secret"))  # http://127.0.0.1:PORT/secret
    with pytest.raises(FetchRefused, match=r"127\.0\.0\.1, a loopback address"):
        fetch_url(start, FetchSettings(timeout_s=5), policy=only_127_0_0_2_is_public)
    assert public_site.requests == ["/go"]
    assert site.requests == []  # never even connected to


def test_the_redirect_check_is_what_stops_it(public_site: Site, site: Site) -> None:
    # Control for the test above: with every address allowed the same redirect is followed.
    site.serve("/secret", page("Internal secret"))
    start = public_site.redirect("/go", site.url("/secret"))
    article = fetch_url(start, PRIVATE_OK)
    assert article.title == "Internal secret"
    assert article.url == site.url("/secret")
    assert site.requests == ["/secret"]


@pytest.mark.parametrize(
    "target",
    [
        "http://localhost:{port}/",
        "http://[::1]:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://2130706433:{port}/",
        "http://0x7f.1:{port}/",
        "http://127.1:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
    ],
)
def test_redirects_to_disguised_private_targets_are_refused(
    public_site: Site, site: Site, target: str
) -> None:
    site.serve("/", page("Internal"))
    start = public_site.redirect("/go", target.format(port=site.port))
    with pytest.raises(FetchRefused):
        fetch_url(start, FetchSettings(timeout_s=5), policy=only_127_0_0_2_is_public)
    assert public_site.requests == ["/go"]
    assert site.requests == []


def test_relative_redirects_are_followed(site: Site) -> None:
    site.serve("/story", page("Moved story"))
    start = site.redirect("/old", "/story", status=301)
    article = fetch_url(start, PRIVATE_OK)
    assert article.title == "Moved story"
    assert article.url == site.url("/story")
    assert article.origin == start


def test_too_many_redirects_are_refused(site: Site) -> None:
    site.redirect("/a", "/b")
    site.redirect("/b", "/a")
    settings = FetchSettings(allow_private=True, max_redirects=3, timeout_s=5)
    with pytest.raises(FetchRefused, match="too many redirects"):
        fetch_url(site.url("/a"), settings)
    assert len(site.requests) == 4


# -- fetching and extraction --------------------------------------------------------------


def test_a_page_is_fetched_and_extracted(site: Site) -> None:
    html = FIXTURES.joinpath("article.html").read_bytes()
    url = site.serve("/news/bridge?utm_source=x&id=7", html)
    article = fetch_url(url, PRIVATE_OK)
    assert article.title == "Harbour bridge reopens after repairs"
    assert article.source == "Coastal Herald"
    assert article.author == "Maria Lopez"
    assert article.published == "2024-11-05"
    # where it was read from, canonical; not the page's own claim
    assert article.url == site.url("/news/bridge?id=7")
    assert article.origin == url
    assert "400 corroded plates" in article.text
    assert "Advertisement" not in article.text
    assert "Ferry operators report record passenger numbers" not in article.text


def test_a_plain_text_page_is_read_like_a_text_file(site: Site) -> None:
    body = "Storm closes mountain pass\nSnow closed the pass on Sunday, police said.\n"
    url = site.serve("/storm.txt", body.encode(), content_type="text/plain; charset=utf-8")
    article = fetch_url(url, PRIVATE_OK)
    assert article.title == "Storm closes mountain pass"
    assert article.text == "Snow closed the pass on Sunday, police said."
    assert article.url == url


def test_the_header_charset_is_used(site: Site) -> None:
    body = page("Café prices rise").decode().encode("latin-1")
    url = site.serve("/latin", body, content_type="text/html; charset=latin-1")
    assert fetch_url(url, PRIVATE_OK).title == "Café prices rise"


@pytest.mark.parametrize("content_type", ["application/pdf", "image/png", "application/json", ""])
def test_other_content_types_are_refused(site: Site, content_type: str) -> None:
    url = site.serve("/file", b"%PDF-1.4 not a page", content_type=content_type)
    with pytest.raises(FetchRefused, match="content type"):
        fetch_url(url, PRIVATE_OK)


def test_an_http_error_is_reported(site: Site) -> None:
    with pytest.raises(InputError, match="HTTP 404"):
        fetch_url(site.url("/missing"), PRIVATE_OK)


# -- limits ---------------------------------------------------------------------------------


def test_a_body_over_the_byte_cap_is_refused(site: Site) -> None:
    url = site.serve("/big", b"<html><body><p>" + b"word " * 20_000 + b"</p></body></html>")
    with pytest.raises(FetchRefused, match="larger than the limit"):
        fetch_url(url, FetchSettings(allow_private=True, max_bytes=10_000))


def test_the_byte_cap_holds_without_a_content_length(site: Site) -> None:
    def endless(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/html")
        request.end_headers()
        try:
            for _ in range(1000):
                request.wfile.write(b"<p>" + b"x" * 1000 + b"</p>")
        except OSError:
            pass  # the client hung up, as it should

    site.routes["/stream"] = endless
    with pytest.raises(FetchRefused, match="larger than the limit"):
        fetch_url(site.url("/stream"), FetchSettings(allow_private=True, max_bytes=50_000))


def test_a_compressed_body_is_capped_after_decompression(site: Site) -> None:
    bomb = gzip.compress(b"<p>" + b" " * 2_000_000 + b"</p>")
    url = site.serve("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    assert len(bomb) < 10_000
    with pytest.raises(FetchRefused, match="larger than the limit"):
        fetch_url(url, FetchSettings(allow_private=True, max_bytes=100_000))


def test_a_compressed_page_is_read(site: Site) -> None:
    body = gzip.compress(page("Zipped news"))
    url = site.serve("/gz", body, headers={"Content-Encoding": "gzip"})
    assert fetch_url(url, PRIVATE_OK).title == "Zipped news"


def test_a_server_that_never_answers_times_out(site: Site) -> None:
    site.routes["/stall"] = lambda request: site.stopped.wait(10)
    started = time.monotonic()
    with pytest.raises(InputError, match="timed out"):
        fetch_url(site.url("/stall"), FetchSettings(allow_private=True, timeout_s=0.5))
    assert time.monotonic() - started < 2


def test_the_timeout_covers_the_whole_body_not_each_read(site: Site) -> None:
    def drip(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/html")
        request.end_headers()
        try:
            # A byte every 0.05 s (well within any per-read timeout) for up to 5 s in all.
            for _ in range(100):
                if site.stopped.wait(0.05):
                    break
                request.wfile.write(b"x")
                request.wfile.flush()
        except OSError:
            pass

    site.routes["/drip"] = drip
    started = time.monotonic()
    with pytest.raises(InputError, match="timed out"):
        fetch_url(site.url("/drip"), FetchSettings(allow_private=True, timeout_s=0.6))
    assert time.monotonic() - started < 2


# -- many URLs ------------------------------------------------------------------------------


def test_read_urls_collects_failures_as_skipped(site: Site) -> None:
    good = site.serve("/good", page("Good news"))
    result = read_urls([good, site.url("/missing"), "ftp://example.com/x"], PRIVATE_OK)
    assert [a.title for a in result.articles] == ["Good news"]
    reasons = {s.origin: s.reason for s in result.skipped}
    assert "HTTP 404" in reasons[site.url("/missing")]
    assert "only http and https" in reasons["ftp://example.com/x"]


def test_read_urls_refuses_loopback_without_allow_private(site: Site) -> None:
    url = site.serve("/page", page("Hidden"))
    result = read_urls([url], FetchSettings())
    assert result.articles == []
    assert "loopback" in result.skipped[0].reason


# -- HTTPS to the checked address -----------------------------------------------------------


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[tuple[Site, ssl.SSLContext]]:
    """An HTTPS server on 127.0.0.1 whose certificate names only "localhost"."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server = Site(tls=server_context)
    client_context = ssl.create_default_context(cafile=str(cert))
    yield server, client_context
    server.close()


def test_https_connects_to_the_checked_address_with_the_host_name(
    tls_site: tuple[Site, ssl.SSLContext],
) -> None:
    site, context = tls_site
    site.serve("/secure", page("Secure news"))
    url = f"https://localhost:{site.port}/secure"
    fetched = transport.get(url, PRIVATE_OK, accept=transport.PAGE_TYPES, tls=context)
    assert b"Secure news" in fetched.body
    assert fetched.url == url
    # Verified against "localhost": the certificate does not name 127.0.0.1.
    with pytest.raises(InputError, match="TLS"):
        transport.get(f"https://127.0.0.1:{site.port}/secure", PRIVATE_OK,
                      accept=transport.PAGE_TYPES, tls=context)


def test_a_feed_url_given_as_a_page_says_it_is_a_feed(site: Site) -> None:
    url = site.serve("/rss", b"<rss/>", content_type="application/rss+xml")
    with pytest.raises(FetchRefused, match="it is a feed"):
        fetch_url(url, PRIVATE_OK)
