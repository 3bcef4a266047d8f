"""Where and how the bot reaches Discord: the REST base and gateway (another one for tests
against an emulated API), the gateway intents it subscribes to, and its token."""

from __future__ import annotations

from urllib.parse import urlsplit

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.discord_app.errors import MissingToken
from bot.settings import Config

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_GATEWAY = "wss://gateway.discord.gg/"


def configure_endpoints(api_base: str | None = None, gateway_url: str | None = None) -> None:
    """Point discord.py at another REST base and gateway (process-wide: discord.py keeps both
    as class attributes, so run one such bot per process at a time).

    `api_base` without a path gets "/api/v10" appended; without `gateway_url` the gateway is
    the same host over ws(s):// at "/". No arguments: back to the real Discord endpoints.
    discord.py IDENTIFYs at DEFAULT_GATEWAY (an unsharded client never asks GET /gateway/bot);
    RESUMEs go to READY's resume_gateway_url.
    """
    if api_base is None and gateway_url is None:
        Route.BASE = DEFAULT_API_BASE
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(DEFAULT_GATEWAY)
        return
    if api_base is not None:
        base = api_base.rstrip("/")
        parts = urlsplit(base)
        if parts.path in ("", "/"):
            base += "/api/v10"
        Route.BASE = base
        if gateway_url is None:
            scheme = "wss" if parts.scheme == "https" else "ws"
            gateway_url = f"{scheme}://{parts.netloc}/"
    if gateway_url is not None:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def current_endpoints() -> tuple[str, str]:
    return Route.BASE, str(DiscordWebSocket.DEFAULT_GATEWAY)


def make_intents(message_content: bool = False) -> discord.Intents:
    """Only the gateway intents the bot uses: GUILDS (the server, channel and role cache),
    GUILD_MESSAGES (mentions of the bot and replies to it) and DIRECT_MESSAGES (questions in
    DMs, answered or refused per discord.allow_dms). Without the privileged Message Content
    intent Discord still sends the content of messages that mention the bot and of DMs, which
    is all the mention path needs; it is asked for only with config.discord.message_content
    (free-response channels). Typing, reactions, voice, presences, members and the rest are
    never subscribed."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = message_content
    return intents


def require_token(config: Config) -> str:
    token = (config.discord.token or "").strip()
    if not token:
        raise MissingToken()
    return token
