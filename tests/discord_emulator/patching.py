"""Pointing the real discord.py at the emulator.

discord.py has two hard-coded Discord addresses, both class attributes:

* ``discord.http.Route.BASE`` (``https://discord.com/api/v10``): every REST call, the
  interaction webhooks included, is built from it;
* ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (``wss://gateway.discord.gg/``):
  ``Client.connect`` IDENTIFYs there (it never calls ``GET /gateway``), and goes back there
  after a non-resumable INVALID_SESSION. RESUMEs use READY's ``resume_gateway_url``, which
  the emulator points at itself. (``AutoShardedClient`` asks ``GET /gateway/bot`` instead,
  which the emulator also answers.)

Nothing else is needed: aiohttp's ``ClientSession`` ignores proxy environment variables
unless ``trust_env=True`` (discord.py doesn't set it), so plain ``http://127.0.0.1`` works;
just don't pass ``proxy=`` to the client. Both attributes are process-global: run one
emulated bot per process at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import DiscordEmulator


@contextmanager
def point_discord_py_at(target: DiscordEmulator | str) -> Iterator[None]:
    """Make discord.py talk to the emulator (or ``http://host:port`` base URL) inside the block."""
    import discord.gateway
    import discord.http
    import yarl

    base = target if isinstance(target, str) else target.base_url
    base = base.rstrip("/")
    ws_base = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = f"{base}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"{ws_base}/")
    try:
        yield
    finally:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway
