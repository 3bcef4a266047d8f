"""Typed settings for the user-facing parts (Discord, logging); the store's are in index."""

from __future__ import annotations

from dataclasses import dataclass, field

from index.settings import StoreSettings


@dataclass(frozen=True)
class DiscordSettings:
    token: str | None = None  # DISCORD_TOKEN in the environment wins over the config file
    allow_dms: bool = False
    # role ids (never names: anyone who may create roles could copy one) that may use /news
    # besides members with Manage Server
    admin_roles: tuple[int, ...] = ()
    channels: tuple[int, ...] = ()  # default channels to answer in; empty: every channel it sees
    cooldown_s: float = 10.0  # per user, between questions
    max_concurrent: int = 4  # questions answered at once; more wait in the queue
    queue_size: int = 32  # questions waiting for a slot at most; more get "busy, try again"
    queue_wait_s: float = 5.0  # a question waits this long at most, then "busy, try again"
    max_attachment_bytes: int = 2_000_000
    test_guild_id: int | None = None  # `newsbot sync` without --guild syncs here if set


@dataclass(frozen=True)
class Config:
    store: StoreSettings = field(default_factory=StoreSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    log_level: str = "INFO"
