"""Which URLs and addresses the fetcher may reach (the SSRF guard).

A URL passes when its scheme is http or https and every address its host resolves to is a
public (global unicast) address. The fetcher then connects to one of exactly these addresses,
so a DNS answer that changes between the check and the connection cannot sneak past.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from index.errors import FetchRefused, InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Returns why an address may not be reached, or None when it may.
AddressPolicy = Callable[[IPAddress], str | None]

_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Target:
    """One hop's destination: what to ask for, and the checked addresses to connect to."""

    scheme: str
    host: str  # IDNA-encoded; sent as Host header and TLS server name
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]


def public_only(address: IPAddress) -> str | None:
    """Refuse every address that is not plainly public, including IPv4 hidden inside IPv6."""
    for candidate in _with_embedded(address):
        reason = _non_public_reason(candidate)
        if reason:
            return reason
    return None


def allow_all(address: IPAddress) -> str | None:
    return None


def split_url(url: str) -> SplitResult:
    """The parsed URL when its shape may be fetched; FetchRefused otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchRefused(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _PORTS:
        shown = f"'{scheme}:'" if scheme else "no scheme"
        raise FetchRefused(f"only http and https URLs are fetched, this one has {shown}")
    if not parts.hostname:
        raise FetchRefused("the URL has no host name")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("URLs with a user name or password are not fetched")
    if port == 0:
        raise FetchRefused("port 0 cannot be fetched")
    return parts


def resolve(url: str, policy: AddressPolicy) -> Target:
    """Check the URL and every address of its host; FetchRefused/InputError when not allowed."""
    parts = split_url(url)
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname.encode("idna").decode("ascii")  # type: ignore[union-attr]
    except UnicodeError as exc:
        raise FetchRefused(f"not a valid host name: {parts.hostname}") from exc
    port = parts.port or _PORTS[scheme]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"could not resolve the host {host}") from exc
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone ("fe80::1%eth0")
        address = ipaddress.ip_address(text)
        reason = policy(address)
        if reason:
            raise FetchRefused(f"{host} resolves to {address}, {reason}; not fetched")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise InputError(f"could not resolve the host {host}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port, path, tuple(addresses))


def _with_embedded(address: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address carried inside it (mapped, 6to4, Teredo, NAT64)."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            found.append(address.ipv4_mapped)
        if address.sixtofour:
            found.append(address.sixtofour)
        if address.teredo:
            found.extend(address.teredo)
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _non_public_reason(address: IPAddress) -> str | None:
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, reason in checks:
        if getattr(address, attribute):
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if not address.is_global:
        return "not a public address"
    return None
