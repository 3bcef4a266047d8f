"""The emulated Discord objects (users, guilds, roles, channels, members, messages, attachments).

Each object knows how to render itself as the JSON payload Discord would send (``to_payload``).
Guild objects carry the scenario builders (``add_text_channel``, ``add_role``, ``add_member``);
when a bot is connected, those builders also emit the matching gateway event
(CHANNEL_CREATE, GUILD_ROLE_CREATE, GUILD_MEMBER_ADD) through the owning state.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .intents import Intent
from .permissions import compute_permissions
from .snowflake import iso, now_iso, snowflake_datetime

if TYPE_CHECKING:
    from .state import EmulatorState

JSON = dict[str, Any]


class ChannelType:
    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5
    ANNOUNCEMENT_THREAD = 10
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    GUILD_FORUM = 15

    THREADS = (ANNOUNCEMENT_THREAD, PUBLIC_THREAD, PRIVATE_THREAD)
    #: Where messages can be posted (a forum holds only threads).
    MESSAGEABLE = (GUILD_TEXT, DM, GUILD_ANNOUNCEMENT, *THREADS)


class MessageFlags:
    SUPPRESS_EMBEDS = 1 << 2
    HAS_THREAD = 1 << 5
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    SUPPRESS_NOTIFICATIONS = 1 << 12
    IS_COMPONENTS_V2 = 1 << 15


class MessageType:
    DEFAULT = 0
    THREAD_CREATED = 18  # system: "X started a thread: <name>" in the thread's parent
    REPLY = 19
    CHAT_INPUT_COMMAND = 20
    CONTEXT_MENU_COMMAND = 23

    #: What Discord lets a message reply to; every other type is a system message, and a
    #: reply to one is refused (400, 50035 REPLIES_CANNOT_REPLY_TO_SYSTEM_MESSAGE).
    REPLYABLE = frozenset({DEFAULT, REPLY, CHAT_INPUT_COMMAND, CONTEXT_MENU_COMMAND})


@dataclass(eq=False)
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None
    #: False: the user blocks DMs from server members (the bot's DMs get 50007).
    accepts_dms: bool = True

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"

    def to_payload(self) -> JSON:
        payload: JSON = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": self.avatar,
            "public_flags": 0,
            "flags": 0,
        }
        if self.bot:
            payload["bot"] = True
        return payload


@dataclass(eq=False)
class Role:
    id: int
    guild: Guild = field(repr=False)
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed_by_bot: int | None = None

    @property
    def mention(self) -> str:
        return "@everyone" if self.id == self.guild.id else f"<@&{self.id}>"

    def to_payload(self) -> JSON:
        payload: JSON = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed_by_bot is not None,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.managed_by_bot is not None:
            payload["tags"] = {"bot_id": str(self.managed_by_bot)}
        return payload


@dataclass
class Overwrite:
    """A channel permission overwrite; ``type`` 0 = role, 1 = member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    def to_payload(self) -> JSON:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass(eq=False)
class Attachment:
    """A file attached to a message (or uploaded as a command option); served by the emulator."""

    id: int
    filename: str
    data: bytes = field(repr=False)
    url: str
    content_type: str | None = None
    description: str | None = None
    ephemeral: bool = False

    def to_payload(self) -> JSON:
        payload: JSON = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
        }
        if self.content_type is not None:
            payload["content_type"] = self.content_type
        if self.description is not None:
            payload["description"] = self.description
        if self.ephemeral:
            payload["ephemeral"] = True
        return payload


@dataclass(eq=False)
class Channel:
    id: int
    type: int
    name: str | None
    guild: Guild | None = field(default=None, repr=False)
    position: int = 0
    topic: str | None = None
    nsfw: bool = False
    parent_id: int | None = None
    overwrites: list[Overwrite] = field(default_factory=list, repr=False)
    recipients: list[User] = field(default_factory=list, repr=False)
    messages: dict[int, Message] = field(default_factory=dict, repr=False)
    #: Threads only: who started it, its members, archived/locked state and archive timer.
    owner_id: int | None = field(default=None, repr=False)
    thread_members: set[int] = field(default_factory=set, repr=False)
    archived: bool = field(default=False, repr=False)
    locked: bool = field(default=False, repr=False)
    auto_archive_duration: int = field(default=1440, repr=False)
    created_at: str = field(default_factory=now_iso, repr=False)

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"

    @property
    def is_thread(self) -> bool:
        return self.type in ChannelType.THREADS

    @property
    def parent(self) -> Channel | None:
        if self.parent_id is None or self.guild is None:
            return None
        return self.guild.channels.get(self.parent_id)

    @property
    def last_message_id(self) -> int | None:
        return next(reversed(self.messages), None)

    def effective_overwrites(self) -> list[Overwrite]:
        """A thread has no overwrites of its own: it follows its parent channel's."""
        if self.is_thread and self.parent is not None:
            return self.parent.effective_overwrites()
        return list(self.overwrites)

    def set_overwrite(self, target: Role | Member | User, *, allow: int = 0, deny: int = 0) -> None:
        """Set (replace) the permission overwrite for a role or member on this channel."""
        if isinstance(target, Role):
            target_id, kind = target.id, 0
        else:
            target_id, kind = (target.user.id if isinstance(target, Member) else target.id), 1
        self.overwrites = [ow for ow in self.overwrites if ow.id != target_id]
        self.overwrites.append(Overwrite(target_id, kind, allow, deny))
        if self.guild is not None:
            self.guild.state.emit_guild_event("CHANNEL_UPDATE", self.to_payload(), self.guild)

    def history(self) -> list[Message]:
        """The channel's non-deleted messages, oldest first."""
        return [m for m in self.messages.values() if not m.deleted]

    def to_payload(self) -> JSON:
        if self.type == ChannelType.DM:
            return {
                "id": str(self.id),
                "type": self.type,
                "recipients": [u.to_payload() for u in self.recipients],
                "last_message_id": _opt_str(self.last_message_id),
                "flags": 0,
            }
        assert self.guild is not None
        if self.is_thread:
            return self.thread_payload()
        payload: JSON = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [ow.to_payload() for ow in self.overwrites],
            "topic": self.topic,
            "nsfw": self.nsfw,
            "parent_id": _opt_str(self.parent_id),
            "last_message_id": _opt_str(self.last_message_id),
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if self.type == ChannelType.GUILD_FORUM:
            payload.update(
                available_tags=[],
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_thread_rate_limit_per_user=0,
            )
        return payload

    def thread_payload(self) -> JSON:
        """A thread channel object (THREAD_CREATE, GET /channels/{id}, GUILD_CREATE threads)."""
        assert self.guild is not None
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "parent_id": _opt_str(self.parent_id),
            "owner_id": _opt_str(self.owner_id),
            "name": self.name,
            "last_message_id": _opt_str(self.last_message_id),
            "message_count": len(self.history()),
            "total_message_sent": len(self.messages),
            "member_count": min(50, len(self.thread_members)),
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": self.archived,
                "auto_archive_duration": self.auto_archive_duration,
                "archive_timestamp": self.created_at,
                "locked": self.locked,
                "create_timestamp": self.created_at,
                **({"invitable": True} if self.type == ChannelType.PRIVATE_THREAD else {}),
            },
        }


@dataclass(eq=False)
class Member:
    user: User
    guild: Guild = field(repr=False)
    roles: list[Role] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=now_iso)
    #: Epoch seconds until which the member is timed out (None: not timed out).
    timed_out_until: float | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def timed_out(self) -> bool:
        return self.timed_out_until is not None and self.timed_out_until > time.time()

    @property
    def mention(self) -> str:
        return self.user.mention

    def permissions_in(self, channel: Channel | None = None) -> int:
        """Computed permissions, guild-wide or in ``channel`` (with overwrites)."""
        return compute_permissions(self, channel)

    def to_payload(self, *, with_user: bool = True, permissions: int | None = None) -> JSON:
        payload: JSON = {
            "roles": [str(r.id) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": (
                iso(datetime.fromtimestamp(self.timed_out_until, UTC)) if self.timed_out else None
            ),
        }
        if with_user:
            payload["user"] = self.user.to_payload()
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload


@dataclass(eq=False)
class Guild:
    """An emulated guild; also the builder for its channels, roles and members."""

    id: int
    name: str
    owner_id: int
    state: EmulatorState = field(repr=False)
    roles: dict[int, Role] = field(default_factory=dict, repr=False)
    channels: dict[int, Channel] = field(default_factory=dict, repr=False)
    members: dict[int, Member] = field(default_factory=dict, repr=False)
    joined_at: str = field(default_factory=now_iso, repr=False)
    #: True during an outage (``DiscordEmulator.guild_outage``): the bot gets no guild events,
    #: only interactions, and READY lists it without a GUILD_CREATE to follow (see
    #: ``outage_event``).
    unavailable: bool = False
    #: What a new gateway session gets for this guild while it is unavailable:
    #: "GUILD_DELETE" (Discord's documented outage event), "GUILD_CREATE" (an unavailable
    #: guild object, which Discord also sends) or None (nothing yet: GUILD_CREATE is late).
    outage_event: str | None = "GUILD_DELETE"

    # -- lookups -------------------------------------------------------------------------
    @property
    def everyone_role(self) -> Role:
        return self.roles[self.id]

    @property
    def bot_member(self) -> Member:
        return self.members[self.state.bot_user.id]

    def get_member(self, user: User | Member | int) -> Member | None:
        user_id = user if isinstance(user, int) else user.id
        return self.members.get(user_id)

    def member(self, user: User | Member | int) -> Member:
        found = self.get_member(user)
        if found is None:
            raise LookupError(f"user {user!r} is not a member of guild {self.name!r}")
        return found

    def channel(self, name: str) -> Channel:
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise LookupError(f"no channel named {name!r} in guild {self.name!r}")

    def role(self, name: str) -> Role:
        for role in self.roles.values():
            if role.name == name:
                return role
        raise LookupError(f"no role named {name!r} in guild {self.name!r}")

    # -- builders ------------------------------------------------------------------------
    def add_text_channel(
        self,
        name: str,
        *,
        topic: str | None = None,
        category: Channel | None = None,
        overwrites: Iterable[Overwrite] = (),
        nsfw: bool = False,
    ) -> Channel:
        return self._add_channel(
            ChannelType.GUILD_TEXT,
            name,
            topic=topic,
            category=category,
            overwrites=overwrites,
            nsfw=nsfw,
        )

    def add_category(self, name: str, *, overwrites: Iterable[Overwrite] = ()) -> Channel:
        return self._add_channel(ChannelType.GUILD_CATEGORY, name, overwrites=overwrites)

    def add_forum_channel(
        self, name: str, *, category: Channel | None = None, overwrites: Iterable[Overwrite] = ()
    ) -> Channel:
        """A forum: it holds only threads (posts); messages go into the posts."""
        return self._add_channel(
            ChannelType.GUILD_FORUM, name, category=category, overwrites=overwrites
        )

    def add_thread(
        self,
        parent: Channel,
        name: str,
        *,
        owner: User | Member | None = None,
        private: bool = False,
        thread_id: int | None = None,
    ) -> Channel:
        """A thread in ``parent`` (THREAD_CREATE to a connected bot); it follows the parent's
        permission overwrites. ``thread_id``: the starter message's id (a thread from a
        message shares its id)."""
        if parent.type not in (
            ChannelType.GUILD_TEXT,
            ChannelType.GUILD_ANNOUNCEMENT,
            ChannelType.GUILD_FORUM,
        ):
            raise ValueError(f"#{parent.name} cannot hold threads")
        kind = (
            ChannelType.PRIVATE_THREAD
            if private
            else ChannelType.ANNOUNCEMENT_THREAD
            if parent.type == ChannelType.GUILD_ANNOUNCEMENT
            else ChannelType.PUBLIC_THREAD
        )
        owner_user = owner.user if isinstance(owner, Member) else owner
        thread = Channel(
            id=thread_id if thread_id is not None else self.state.ids.next(),
            type=kind,
            name=name,
            guild=self,
            parent_id=parent.id,
            owner_id=owner_user.id if owner_user is not None else None,
        )
        if owner_user is not None:
            thread.thread_members.add(owner_user.id)
        self.channels[thread.id] = thread
        self.state.channels[thread.id] = thread
        self.state.emit_guild_event(
            "THREAD_CREATE", {**thread.thread_payload(), "newly_created": True}, self
        )
        return thread

    @property
    def threads(self) -> list[Channel]:
        return [c for c in self.channels.values() if c.is_thread and not c.archived]

    def timeout_member(self, member: Member, seconds: float | None) -> None:
        """Time ``member`` out for ``seconds`` (None lifts it): communication_disabled_until."""
        member.timed_out_until = None if seconds is None else time.time() + seconds
        self.state.emit_guild_event(
            "GUILD_MEMBER_UPDATE",
            {**member.to_payload(), "guild_id": str(self.id)},
            self,
            intent=Intent.GUILD_MEMBERS,
        )

    def _add_channel(
        self,
        kind: int,
        name: str,
        *,
        topic: str | None = None,
        category: Channel | None = None,
        overwrites: Iterable[Overwrite] = (),
        nsfw: bool = False,
    ) -> Channel:
        channel = Channel(
            id=self.state.ids.next(),
            type=kind,
            name=name,
            guild=self,
            position=len(self.channels),
            topic=topic,
            nsfw=nsfw,
            parent_id=category.id if category is not None else None,
            overwrites=list(overwrites),
        )
        self.channels[channel.id] = channel
        self.state.channels[channel.id] = channel
        self.state.emit_guild_event("CHANNEL_CREATE", channel.to_payload(), self)
        return channel

    def add_role(
        self,
        name: str,
        permissions: int = 0,
        *,
        mentionable: bool = False,
        color: int = 0,
        hoist: bool = False,
    ) -> Role:
        role = Role(
            id=self.state.ids.next(),
            guild=self,
            name=name,
            permissions=int(permissions),
            position=len(self.roles),
            color=color,
            hoist=hoist,
            mentionable=mentionable,
        )
        self._store_role(role)
        return role

    def _store_role(self, role: Role) -> None:
        self.roles[role.id] = role
        self.state.emit_guild_event(
            "GUILD_ROLE_CREATE", {"guild_id": str(self.id), "role": role.to_payload()}, self
        )

    def add_member(
        self, user: User | str, roles: Iterable[Role] = (), *, nick: str | None = None
    ) -> Member:
        """Add a user (an existing ``User`` or a new one by name) to this guild."""
        if isinstance(user, str):
            user = self.state.add_user(user)
        member = Member(user=user, guild=self, roles=list(roles), nick=nick)
        self.members[user.id] = member
        self.state.emit_guild_event(
            "GUILD_MEMBER_ADD",
            {**member.to_payload(), "guild_id": str(self.id)},
            self,
            intent=Intent.GUILD_MEMBERS,
        )
        return member

    def set_member_roles(self, member: Member, roles: Iterable[Role]) -> None:
        member.roles = list(roles)
        self.state.emit_guild_event(
            "GUILD_MEMBER_UPDATE",
            {**member.to_payload(), "guild_id": str(self.id)},
            self,
            intent=Intent.GUILD_MEMBERS,
        )

    # -- payloads ------------------------------------------------------------------------
    def to_payload(self, *, members: Iterable[Member] | None = None) -> JSON:
        """The GUILD_CREATE payload; ``members`` defaults to every member."""
        listed = list(self.members.values()) if members is None else list(members)
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "features": [],
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "roles": [r.to_payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "joined_at": self.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "members": [m.to_payload() for m in listed],
            "channels": [
                {k: v for k, v in c.to_payload().items() if k != "guild_id"}
                for c in self.channels.values()
                if not c.is_thread
            ],
            "threads": [t.thread_payload() for t in self.threads],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def unavailable_payload(self) -> JSON:
        """An unavailable guild object: only the id and ``unavailable: true``."""
        return {"id": str(self.id), "unavailable": True}

    def partial_payload(self) -> JSON:
        """The partial guild object sent inside interactions."""
        return {"id": str(self.id), "locale": "en-US", "features": []}


_BUTTON = 2


@dataclass(eq=False)
class Message:
    """A message as stored by the emulator (what users in the channel see)."""

    id: int
    channel: Channel = field(repr=False)
    author: User
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    type: int = MessageType.DEFAULT
    mentions: list[User] = field(default_factory=list, repr=False)
    mention_roles: list[Role] = field(default_factory=list, repr=False)
    mention_everyone: bool = False
    reference: Message | None = field(default=None, repr=False)
    allowed_mentions: JSON | None = field(default=None, repr=False)
    tts: bool = False
    nonce: str | int | None = field(default=None, repr=False)
    webhook_id: int | None = field(default=None, repr=False)
    application_id: int | None = field(default=None, repr=False)
    interaction_metadata: JSON | None = field(default=None, repr=False)
    edited_at: str | None = field(default=None, repr=False)
    deleted: bool = False
    reactions: list[str] = field(default_factory=list, repr=False)
    #: The thread started from this message, if any.
    thread: Channel | None = field(default=None, repr=False)
    #: A THREAD_CREATED system message's thread (its message_reference names the thread).
    created_thread: Channel | None = field(default=None, repr=False)
    #: Payload snapshots taken before each edit, oldest first.
    history: list[JSON] = field(default_factory=list, repr=False)

    # -- convenience for assertions ------------------------------------------------------
    @property
    def guild(self) -> Guild | None:
        return self.channel.guild

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlags.EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while this is a deferred ("Bot is thinking...") response not yet filled in."""
        return bool(self.flags & MessageFlags.LOADING)

    @property
    def timestamp(self) -> str:
        return iso(snowflake_datetime(self.id))

    def iter_components(self) -> Iterator[JSON]:
        """Every component in the message, depth-first (rows, containers, sections...)."""
        yield from _walk_components(self.components)

    @property
    def buttons(self) -> list[JSON]:
        return [c for c in self.iter_components() if c.get("type") == _BUTTON]

    def button(self, *, label: str | None = None, custom_id: str | None = None) -> JSON:
        for button in self.buttons:
            if (label is None or button.get("label") == label) and (
                custom_id is None or button.get("custom_id") == custom_id
            ):
                return button
        raise LookupError(
            f"no button label={label!r} custom_id={custom_id!r} on message {self.id}; "
            f"buttons: {[(b.get('label'), b.get('custom_id')) for b in self.buttons]}"
        )

    @property
    def displayed_embeds(self) -> list[JSON]:
        """The embeds a Discord client shows. Several embeds with the same ``url`` are merged
        into the first one: only their images join its gallery, their text (title,
        description, fields, footer) is never shown."""
        return displayed_embeds(self.embeds)

    @property
    def hidden_embeds(self) -> list[JSON]:
        """Embeds the bot sent that no client displays (see ``displayed_embeds``)."""
        shown = {id(e) for e in displayed_embeds(self.embeds)}
        return [e for e in self.embeds if id(e) not in shown]

    @property
    def text(self) -> str:
        """Content plus the text of every *displayed* embed (title, description, fields,
        footer) and v2 text display, newline-joined: what a user can read."""
        parts = [self.content] if self.content else []
        for embed in self.displayed_embeds:
            parts.extend(_embed_texts(embed))
        for component in self.iter_components():
            if component.get("type") == 10 and component.get("content"):  # v2 text display
                parts.append(component["content"])
        return "\n".join(parts)

    @property
    def pinged_user_ids(self) -> set[int]:
        return {u.id for u in self.mentions}

    # -- payloads ------------------------------------------------------------------------
    def to_payload(self, *, with_member: bool = False, with_referenced: bool = True) -> JSON:
        guild = self.channel.guild
        payload: JSON = {
            "id": str(self.id),
            "channel_id": str(self.channel.id),
            "author": self.author.to_payload(),
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_at,
            "tts": self.tts,
            "mention_everyone": self.mention_everyone,
            "mentions": [self._mention_payload(u) for u in self.mentions],
            "mention_roles": [str(r.id) for r in self.mention_roles],
            "attachments": [a.to_payload() for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "reactions": [],
            "pinned": False,
            "type": self.type,
            "flags": self.flags | (MessageFlags.HAS_THREAD if self.thread is not None else 0),
        }
        if self.thread is not None:
            payload["thread"] = self.thread.thread_payload()
        if guild is not None:
            payload["guild_id"] = str(guild.id)
            member = guild.get_member(self.author)
            if with_member and member is not None and self.webhook_id is None:
                payload["member"] = member.to_payload(with_user=False)
        if self.nonce is not None:
            payload["nonce"] = self.nonce
        if self.webhook_id is not None:
            payload["webhook_id"] = str(self.webhook_id)
        if self.application_id is not None:
            payload["application_id"] = str(self.application_id)
        if self.interaction_metadata is not None:
            payload["interaction_metadata"] = self.interaction_metadata
        if self.reference is not None:
            ref = self.reference
            payload["message_reference"] = {
                "type": 0,
                "message_id": str(ref.id),
                "channel_id": str(ref.channel.id),
                **({"guild_id": str(guild.id)} if guild is not None else {}),
            }
            if with_referenced:
                payload["referenced_message"] = (
                    None if ref.deleted else ref.to_payload(with_referenced=False)
                )
        elif self.created_thread is not None:
            payload["message_reference"] = {
                "type": 0,
                "channel_id": str(self.created_thread.id),
                **({"guild_id": str(guild.id)} if guild is not None else {}),
            }
        return payload

    def _mention_payload(self, user: User) -> JSON:
        payload = user.to_payload()
        guild = self.channel.guild
        member = guild.get_member(user) if guild is not None else None
        if member is not None:
            payload["member"] = member.to_payload(with_user=False)
        return payload


def _walk_components(components: Iterable[JSON]) -> Iterator[JSON]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components", []))
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                yield from _walk_components([component[key]])


def displayed_embeds(embeds: Iterable[JSON]) -> list[JSON]:
    """See ``Message.displayed_embeds`` (the first embed of each url; embeds without one)."""
    seen: set[str] = set()
    shown: list[JSON] = []
    for embed in embeds:
        url = embed.get("url")
        if url:
            if url in seen:
                continue
            seen.add(url)
        shown.append(embed)
    return shown


def _embed_texts(embed: JSON) -> list[str]:
    texts = [embed.get("title"), embed.get("description")]
    for embed_field in embed.get("fields", []):
        texts += [embed_field.get("name"), embed_field.get("value")]
    texts.append((embed.get("footer") or {}).get("text"))
    texts.append((embed.get("author") or {}).get("name"))
    return [t for t in texts if t]


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)


MENTION_USER_RE = re.compile(r"<@!?(\d+)>")
MENTION_ROLE_RE = re.compile(r"<@&(\d+)>")
MENTION_EVERYONE_RE = re.compile(r"@(everyone|here)\b")
