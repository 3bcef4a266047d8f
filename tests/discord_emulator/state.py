"""The emulator's world: users, guilds, channels, messages, attachments and application commands.

``EmulatorState`` owns every registry and the id generator. It knows nothing about HTTP or
websockets: when something changes that a connected bot would hear about, it calls
``on_event(name, payload, guild, intent)``, which the server wires to the gateway.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from typing import Any

from .intents import Intent
from .models import JSON, Attachment, Channel, ChannelType, Guild, Member, Message, Role, User
from .permissions import DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS
from .snowflake import SnowflakeGenerator

EventSink = Callable[[str, JSON, "Guild | None", "Intent | None"], None]


class CommandRegistry:
    """Application commands as Discord stores them after a bulk overwrite (PUT).

    Ids stay stable for a (name, type) pair across overwrites, as on Discord.
    """

    def __init__(self, state: EmulatorState) -> None:
        self._state = state
        self.global_commands: dict[tuple[str, int], JSON] = {}
        self.guild_commands: dict[int, dict[tuple[str, int], JSON]] = {}
        #: Overrides a server owner set in Server Settings → Integrations:
        #: {guild_id: {command id (or the application id for every command): [permission]}},
        #: each permission ``{"id", "type" (1 role, 2 user, 3 channel), "permission": bool}``.
        self.permissions: dict[int, dict[str, list[JSON]]] = {}

    def set_permissions(self, guild_id: int, command_id: str, permissions: list[JSON]) -> None:
        self.permissions.setdefault(guild_id, {})[command_id] = [dict(p) for p in permissions]

    def permissions_for(self, guild_id: int, command_id: str) -> list[JSON]:
        return list(self.permissions.get(guild_id, {}).get(command_id, []))

    def permissions_payloads(self, guild_id: int) -> list[JSON]:
        """GET .../commands/permissions: one entry per command (or app) with overrides."""
        return [
            {
                "id": command_id,
                "application_id": str(self._state.application_id),
                "guild_id": str(guild_id),
                "permissions": [
                    {"id": str(p["id"]), "type": p["type"], "permission": p["permission"]}
                    for p in perms
                ],
            }
            for command_id, perms in self.permissions.get(guild_id, {}).items()
        ]

    def overwrite(self, payloads: list[JSON], guild_id: int | None = None) -> list[JSON]:
        old = self.global_commands if guild_id is None else self.guild_commands.get(guild_id, {})
        new: dict[tuple[str, int], JSON] = {}
        for payload in payloads:
            kind = int(payload.get("type", 1))
            key = (payload["name"], kind)
            previous = old.get(key)
            new[key] = self._stored(payload, kind, guild_id, previous["id"] if previous else None)
        if guild_id is None:
            self.global_commands = new
        else:
            self.guild_commands[guild_id] = new
        return list(new.values())

    def add(self, payload: JSON, guild_id: int | None = None) -> JSON:
        """Create or replace one command (POST semantics)."""
        current = list(self.list(guild_id))
        current = [
            c
            for c in current
            if (c["name"], c["type"]) != (payload["name"], payload.get("type", 1))
        ]
        self.overwrite([*current, payload], guild_id)
        found = self.get(payload["name"], guild_id, int(payload.get("type", 1)), fallback=False)
        assert found is not None
        return found

    def list(self, guild_id: int | None = None) -> list[JSON]:
        table = self.global_commands if guild_id is None else self.guild_commands.get(guild_id, {})
        return list(table.values())

    def get(
        self, name: str, guild_id: int | None, kind: int = 1, *, fallback: bool = True
    ) -> JSON | None:
        """The command a user in ``guild_id`` would see under ``name`` (guild ones first)."""
        if guild_id is not None:
            found = self.guild_commands.get(guild_id, {}).get((name, kind))
            if found is not None or not fallback:
                return found
        return self.global_commands.get((name, kind))

    def _stored(self, payload: JSON, kind: int, guild_id: int | None, cmd_id: str | None) -> JSON:
        state = self._state
        perms = payload.get("default_member_permissions")
        stored: JSON = {
            "id": cmd_id or str(state.ids.next()),
            "application_id": str(state.application_id),
            "version": str(state.ids.next()),
            "type": kind,
            "name": payload["name"],
            "name_localizations": payload.get("name_localizations"),
            "description": payload.get("description", ""),
            "description_localizations": payload.get("description_localizations"),
            "options": payload.get("options", []),
            "default_member_permissions": None if perms is None else str(perms),
            "nsfw": payload.get("nsfw", False),
            "contexts": payload.get("contexts"),
            "integration_types": payload.get("integration_types", [0]),
        }
        if guild_id is not None:
            stored["guild_id"] = str(guild_id)
        else:
            stored["dm_permission"] = payload.get("dm_permission", True)
        return stored


class EmulatorState:
    """Everything the emulated Discord knows. Build scenarios through its ``add_*`` methods."""

    def __init__(
        self,
        *,
        bot_name: str = "NewsBot",
        token: str = "emulator-token",
        attachment_base_url: Callable[[], str] = lambda: "http://127.0.0.1",
    ) -> None:
        self.ids = SnowflakeGenerator()
        self.token = token
        self._attachment_base_url = attachment_base_url
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.attachments: dict[int, Attachment] = {}
        self.dm_channels: dict[int, Channel] = {}
        self.on_event: EventSink | None = None
        self.application_id = self.ids.next()
        self.bot_user = User(id=self.application_id, username=bot_name, bot=True)
        self.users[self.bot_user.id] = self.bot_user
        self.owner = self.add_user("app-owner")
        self.commands = CommandRegistry(self)

    # -- events --------------------------------------------------------------------------
    def emit(
        self, event: str, payload: JSON, guild: Guild | None = None, intent: Intent | None = None
    ) -> None:
        if self.on_event is not None:
            self.on_event(event, payload, guild, intent)

    def emit_guild_event(
        self, event: str, payload: JSON, guild: Guild, intent: Intent | None = Intent.GUILDS
    ) -> None:
        self.emit(event, payload, guild, intent)

    # -- builders ------------------------------------------------------------------------
    def add_user(self, username: str, *, bot: bool = False, global_name: str | None = None) -> User:
        user = User(id=self.ids.next(), username=username, global_name=global_name, bot=bot)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: User | None = None,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        with_bot: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """Create a guild (with @everyone, an owner member and, unless ``with_bot=False``,
        the bot as a member holding a managed role with ``bot_permissions``); ``shard``
        (id, count): with an id that lands on that shard.

        If a bot is connected, it receives GUILD_CREATE as if it had just been added.
        """
        owner = owner or self.add_user(f"{name}-owner")
        gid = self.ids.next() if shard is None else self.ids.next_on_shard(*shard)
        guild = Guild(id=gid, name=name, owner_id=owner.id, state=self)
        guild.roles[guild.id] = Role(
            id=guild.id, guild=guild, name="@everyone", permissions=everyone_permissions
        )
        guild.members[owner.id] = Member(user=owner, guild=guild)
        if with_bot:
            bot_role = Role(
                id=self.ids.next(),
                guild=guild,
                name=self.bot_user.username,
                permissions=bot_permissions,
                position=1,
                managed_by_bot=self.bot_user.id,
            )
            guild.roles[bot_role.id] = bot_role
            guild.members[self.bot_user.id] = Member(
                user=self.bot_user, guild=guild, roles=[bot_role]
            )
        self.guilds[guild.id] = guild
        if with_bot:
            self.emit("GUILD_CREATE", guild.to_payload(), guild, Intent.GUILDS)
        return guild

    def add_bot_to_guild(self, guild: Guild, roles: list[Role] | None = None) -> Member:
        """Add the bot to a guild created with ``with_bot=False`` (sends GUILD_CREATE)."""
        member = Member(user=self.bot_user, guild=guild, roles=list(roles or []))
        guild.members[self.bot_user.id] = member
        self.emit("GUILD_CREATE", guild.to_payload(), guild, Intent.GUILDS)
        return member

    def dm_channel(self, user: User) -> Channel:
        """The DM channel between the bot and ``user`` (created on first use)."""
        channel = self.dm_channels.get(user.id)
        if channel is None:
            channel = Channel(id=self.ids.next(), type=ChannelType.DM, name=None, recipients=[user])
            self.dm_channels[user.id] = channel
            self.channels[channel.id] = channel
        return channel

    def add_attachment(
        self,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> Attachment:
        """Store bytes the emulator will serve; the attachment's ``url`` points at the emulator."""
        att_id = self.ids.next()
        attachment = Attachment(
            id=att_id,
            filename=filename,
            data=data,
            url=f"{self._attachment_base_url()}/attachments/{att_id}/{filename}",
            content_type=content_type or mimetypes.guess_type(filename)[0],
            description=description,
            ephemeral=ephemeral,
        )
        self.attachments[att_id] = attachment
        return attachment

    # -- lookups -------------------------------------------------------------------------
    def resolve_user(self, who: User | Member | int) -> User:
        if isinstance(who, Member):
            return who.user
        if isinstance(who, User):
            return who
        return self.users[who]

    def find_message(self, message_id: int) -> Message | None:
        for channel in self.channels.values():
            found = channel.messages.get(message_id)
            if found is not None:
                return found
        return None

    def all_messages(self) -> list[Message]:
        found = [m for c in self.channels.values() for m in c.messages.values()]
        return sorted(found, key=lambda m: m.id)

    def application_payload(self) -> JSON:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "Emulated application",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": self.owner.to_payload(),
            "team": None,
            "bot": self.bot_user.to_payload(),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "tags": [],
            "install_params": None,
            "integration_types_config": {"0": {}},
            "approximate_guild_count": len(self.guilds),
        }

    def bot_user_payload(self) -> dict[str, Any]:
        return {
            **self.bot_user.to_payload(),
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "email": None,
        }
