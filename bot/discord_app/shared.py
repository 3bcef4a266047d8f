"""What the client (NewsBot) and its cogs share: the bot's interface as the cogs see it, the
limits on a question and its acknowledgement, the admin summaries kept for /news stats, and
the member's role ids.

The client loads its cogs by name (`load_extension`) and the cogs type their bot with
`NewsBotLike`, so neither imports the other; this module imports neither of them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import asyncio

    import discord

    from bot.engine import NewsEngine
    from bot.feeds.following import FeedPoller
    from bot.guilds.settings import GuildSettings
    from bot.settings import Config

T = TypeVar("T")

MAX_QUESTION_CHARS = 500
# the checks before a slash command's acknowledgement, which Discord wants within 3 s: past
# this the asker is told to try again while that is still possible
ACK_S = 2.5


def role_ids(member: object) -> list[int]:
    """The ids of a member's roles, as the interaction or message payload gave them.

    `Member.roles` keeps only roles found in the guild cache, which is empty while a server
    is unavailable (an outage, or an interaction before its GUILD_CREATE); discord.py keeps
    the payload's ids in `Member._roles` (no public accessor), so decisions use those.
    """
    raw = getattr(member, "_roles", None)
    if raw is not None:
        return [int(r) for r in raw]
    return [r.id for r in getattr(member, "roles", [])]


@dataclass(frozen=True)
class Undelivered:
    """An admin summary that reached nobody: its reply had expired and the DM was refused."""

    user_id: int
    command: str
    text: str
    at: float


class NewsBotLike(Protocol):
    """The part of NewsBot (bot/discord_app/client.py) that the cogs use."""

    config: Config

    @property
    def user(self) -> discord.ClientUser | None: ...

    @property
    def guild_store(self) -> GuildSettings: ...

    def require_engine(self) -> NewsEngine: ...

    def require_poller(self) -> FeedPoller: ...

    async def run_engine(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...

    async def run_admin(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...

    async def db(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T: ...

    def deadline(
        self, seconds: float | None = None
    ) -> AbstractAsyncContextManager[asyncio.Timeout]: ...

    def asking(
        self, user_id: int, *, on_wait: Callable[[], Awaitable[object]] | None = None
    ) -> AbstractAsyncContextManager[None]: ...

    def admin_job(
        self, *, on_wait: Callable[[], Awaitable[object]] | None = None
    ) -> AbstractAsyncContextManager[None]: ...

    def keep_undelivered(self, guild_id: int, item: Undelivered) -> None: ...

    def take_undelivered(self, guild_id: int) -> list[Undelivered]: ...

    async def deliver_privately(self, interaction: discord.Interaction, text: str) -> str: ...

    async def collections_for(self, guild: discord.Guild | None) -> list[str]: ...

    def default_channels_for(self, guild: discord.Guild | None) -> tuple[int, ...]: ...

    def member_is_admin(self, roles: Iterable[int], manage_guild: bool) -> bool: ...

    async def check_may_ask(
        self,
        *,
        user: discord.abc.User,
        guild_id: int | None,
        guild: discord.Guild | None,
        channel_id: int | None,
        parent_id: int | None,
        roles: Iterable[int],
        manage_guild: bool,
        cooldown: bool = True,
    ) -> None: ...

