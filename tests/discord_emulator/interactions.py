"""Interactions: building INTERACTION_CREATE payloads and recording what the bot answered.

Payloads are built the way the Discord client would: slash commands are resolved against the
commands the bot synced (so ``"news channels allow"`` becomes a SUB_COMMAND_GROUP /
SUB_COMMAND tree, option values are typed from the registered schema, and channel / role /
user / attachment options get their ``resolved`` entries); the invoking member's
``permissions`` and the bot's ``app_permissions`` are computed from the emulated guild.

``Interaction`` records the callback and every follow-up and edit, so a test can inspect the
messages as the user sees them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .models import JSON, Attachment, Channel, Guild, Member, Message, Role, User
from .permissions import ALL_PERMISSIONS, Permission, has
from .state import EmulatorState


class InteractionType:
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    APPLICATION_COMMAND_AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType:
    PONG = 1
    CHANNEL_MESSAGE_WITH_SOURCE = 4
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
    MODAL = 9


#: Which callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS: dict[int, set[int]] = {
    InteractionType.APPLICATION_COMMAND: {4, 5, 9},
    InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    InteractionType.MODAL_SUBMIT: {4, 5, 6, 7},
    InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE: {8},
}


class OptionType:
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


class CommandInvocationError(ValueError):
    """The test asked for something a real Discord client could not send."""


@dataclass(eq=False)
class Interaction:
    """One interaction the emulator dispatched, and everything the bot did in response."""

    id: int
    token: str
    type: int
    payload: JSON = field(repr=False)
    user: User
    channel: Channel = field(repr=False)
    name: str | None = None
    custom_id: str | None = None
    source_message: Message | None = field(default=None, repr=False)
    created_at: float = field(default_factory=time.monotonic, repr=False)
    callback_type: int | None = None
    callback_data: JSON | None = field(default=None, repr=False)
    #: The response message (type 4/5), or for type 6/7 the component's message.
    original: Message | None = field(default=None, repr=False)
    followups: list[Message] = field(default_factory=list, repr=False)
    modal: JSON | None = field(default=None, repr=False)
    autocomplete_choices: list[JSON] | None = field(default=None, repr=False)
    #: Every response action in order: ("callback"|"followup"|"edit"|"delete", message or data).
    log: list[tuple[str, Any]] = field(default_factory=list, repr=False)
    #: Set while a deferred (type 5) response still shows "thinking".
    deferred_ephemeral: bool = False

    @property
    def guild(self) -> Guild | None:
        return self.channel.guild

    @property
    def acknowledged(self) -> bool:
        return self.callback_type is not None

    @property
    def deferred(self) -> bool:
        return self.callback_type in (
            CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
            CallbackType.DEFERRED_UPDATE_MESSAGE,
        )

    @property
    def messages(self) -> list[Message]:
        """Messages the user can see for this interaction (original first), current state."""
        found = [] if self.original is None else [self.original]
        found += self.followups
        return [m for m in found if not m.deleted and not m.loading]

    @property
    def response(self) -> Message:
        """The first visible response message (the filled-in original, else the first follow-up)."""
        visible = self.messages
        if not visible:
            raise LookupError(
                f"interaction {self.name or self.custom_id!r} has no visible response yet"
            )
        return visible[0]

    @property
    def last_message(self) -> Message:
        """The visible message most recently created or edited."""
        touched = [
            entry
            for kind, entry in self.log
            if kind in ("callback", "followup", "edit")
            and isinstance(entry, Message)
            and not entry.deleted
            and not entry.loading
        ]
        if not touched:
            raise LookupError("no visible response message yet")
        return touched[-1]

    def has_visible_response(self) -> bool:
        if self.callback_type in (
            CallbackType.MODAL,
            CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
        ):
            return True
        if self.callback_type == CallbackType.DEFERRED_UPDATE_MESSAGE:
            return any(kind in ("edit", "followup") for kind, _ in self.log)
        return bool(self.messages)


# -- payload building ----------------------------------------------------------------------


def _permissions_for(member: Member | None, channel: Channel) -> int:
    if member is None:  # DMs: everything a DM allows
        return ALL_PERMISSIONS
    return member.permissions_in(channel)


def interaction_payload(
    state: EmulatorState,
    *,
    kind: int,
    data: JSON,
    user: User,
    channel: Channel,
    permissions: int | None = None,
    app_permissions: int | None = None,
    locale: str = "en-US",
    message: Message | None = None,
) -> tuple[int, str, JSON]:
    """(id, token, INTERACTION_CREATE payload) for an interaction by ``user`` in ``channel``."""
    guild = channel.guild
    interaction_id = state.ids.next()
    token = "emu-" + secrets.token_urlsafe(32)
    member = guild.get_member(user) if guild is not None else None
    if guild is not None and member is None:
        raise CommandInvocationError(f"{user.username} is not a member of {guild.name}")
    perms = _permissions_for(member, channel) if permissions is None else int(permissions)
    bot_member = guild.get_member(state.bot_user) if guild is not None else None
    app_perms = (
        _permissions_for(bot_member, channel) if app_permissions is None else int(app_permissions)
    )
    payload: JSON = {
        "id": str(interaction_id),
        "application_id": str(state.application_id),
        "type": kind,
        "data": data,
        "token": token,
        "version": 1,
        "channel_id": str(channel.id),
        "channel": {**channel.to_payload(), "permissions": str(perms)},
        "app_permissions": str(app_perms),
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": 10 * 1024 * 1024,
        "authorizing_integration_owners": {"0": str(guild.id) if guild else "0"},
        "context": 0 if guild is not None else 1,
    }
    if guild is not None and member is not None:
        payload["guild_id"] = str(guild.id)
        payload["guild"] = guild.partial_payload()
        payload["guild_locale"] = "en-US"
        payload["member"] = member.to_payload(permissions=perms)
    else:
        payload["user"] = user.to_payload()
    if message is not None:
        payload["message"] = message.to_payload()
    return interaction_id, token, payload


class _Resolver:
    """Builds the ``resolved`` map for entity options."""

    def __init__(self, guild: Guild | None, member: Member | None, channel: Channel) -> None:
        self.guild, self.member, self.channel = guild, member, channel
        self.resolved: JSON = {}

    def _put(self, kind: str, key: int, value: JSON) -> None:
        self.resolved.setdefault(kind, {})[str(key)] = value

    def user(self, user: User | Member) -> str:
        member = (
            user
            if isinstance(user, Member)
            else (self.guild.get_member(user) if self.guild is not None else None)
        )
        plain = user.user if isinstance(user, Member) else user
        self._put("users", plain.id, plain.to_payload())
        if member is not None:
            self._put(
                "members",
                plain.id,
                member.to_payload(with_user=False, permissions=member.permissions_in(self.channel)),
            )
        return str(plain.id)

    def role(self, role: Role) -> str:
        self._put("roles", role.id, role.to_payload())
        return str(role.id)

    def channel_option(self, channel: Channel) -> str:
        perms = _permissions_for(self.member, channel)
        payload = {
            k: v
            for k, v in channel.to_payload().items()
            if k
            in (
                "id",
                "type",
                "name",
                "parent_id",
                "nsfw",
                "topic",
                "position",
                "guild_id",
                "last_message_id",
                "rate_limit_per_user",
                "flags",
            )
        }
        self._put("channels", channel.id, {**payload, "permissions": str(perms)})
        return str(channel.id)

    def attachment(self, attachment: Attachment) -> str:
        self._put("attachments", attachment.id, {**attachment.to_payload(), "ephemeral": True})
        return str(attachment.id)

    def message(self, message: Message) -> str:
        self._put("messages", message.id, message.to_payload())
        return str(message.id)


def _encode_value(spec: JSON, value: Any, resolver: _Resolver) -> Any:
    kind = spec["type"]
    name = spec["name"]
    if kind == OptionType.STRING:
        return str(value)
    if kind == OptionType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise CommandInvocationError(f"option {name!r} needs an int, got {value!r}")
        return value
    if kind == OptionType.NUMBER:
        return float(value)
    if kind == OptionType.BOOLEAN:
        return bool(value)
    if kind == OptionType.USER and isinstance(value, User | Member):
        return resolver.user(value)
    if kind == OptionType.ROLE and isinstance(value, Role):
        return resolver.role(value)
    if kind == OptionType.MENTIONABLE and isinstance(value, Role):
        return resolver.role(value)
    if kind == OptionType.MENTIONABLE and isinstance(value, User | Member):
        return resolver.user(value)
    if kind == OptionType.CHANNEL and isinstance(value, Channel):
        allowed_types = spec.get("channel_types")
        if allowed_types and value.type not in allowed_types:
            raise CommandInvocationError(
                f"option {name!r} only accepts channel types {allowed_types}, not {value.type}"
            )
        return resolver.channel_option(value)
    if kind == OptionType.ATTACHMENT and isinstance(value, Attachment):
        return resolver.attachment(value)
    raise CommandInvocationError(f"option {name!r} (type {kind}) cannot take {value!r}")


def _leaf_options(
    specs: list[JSON],
    values: Mapping[str, Any],
    resolver: _Resolver,
    *,
    focused: str | None,
    command: str,
) -> list[JSON]:
    known = {s["name"]: s for s in specs}
    unknown = set(values) - set(known)
    if unknown:
        raise CommandInvocationError(
            f"/{command} has no option(s) {sorted(unknown)}; it has {sorted(known)}"
        )
    encoded: list[JSON] = []
    for spec in specs:
        name = spec["name"]
        if name not in values:
            if spec.get("required") and name != focused:
                raise CommandInvocationError(f"/{command} needs option {name!r}")
            continue
        value = values[name]
        if name == focused:
            encoded.append(
                {"name": name, "type": spec["type"], "value": str(value), "focused": True}
            )
            continue
        raw = _encode_value(spec, value, resolver)
        choices = spec.get("choices")
        if choices and raw not in [c["value"] for c in choices]:
            raise CommandInvocationError(
                f"option {name!r} must be one of {[c['value'] for c in choices]}, got {raw!r}"
            )
        encoded.append({"name": name, "type": spec["type"], "value": raw})
    return encoded


def command_data(
    state: EmulatorState,
    command: JSON,
    path: list[str],
    options: Mapping[str, Any],
    *,
    user: User,
    channel: Channel,
    focused: str | None = None,
) -> JSON:
    """The ``data`` of a slash command (or autocomplete) interaction, built from the schema."""
    guild = channel.guild
    member = guild.get_member(user) if guild is not None else None
    resolver = _Resolver(guild, member, channel)
    full_name = " ".join([command["name"], *path])
    specs: list[JSON] = command.get("options") or []
    wrappers: list[JSON] = []
    for part in path:
        spec = next((s for s in specs if s["name"] == part and s["type"] in (1, 2)), None)
        if spec is None:
            raise CommandInvocationError(f"/{full_name}: no subcommand (group) {part!r}")
        wrappers.append({"name": part, "type": spec["type"]})
        specs = spec.get("options") or []
    if any(s["type"] in (1, 2) for s in specs):
        raise CommandInvocationError(f"/{full_name} is a group; name one of its subcommands")
    leaf = _leaf_options(specs, options, resolver, focused=focused, command=full_name)
    nested = leaf
    for wrapper in reversed(wrappers):
        nested = [{**wrapper, "options": nested}]
    data: JSON = {"id": command["id"], "name": command["name"], "type": 1, "options": nested}
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if resolver.resolved:
        data["resolved"] = resolver.resolved
    return data


def context_menu_data(
    state: EmulatorState, command: JSON, target: User | Member | Message, *, channel: Channel
) -> JSON:
    guild = channel.guild
    resolver = _Resolver(guild, None, channel)
    is_message = isinstance(target, Message)
    target_id = resolver.message(target) if is_message else resolver.user(target)  # type: ignore[arg-type]
    data: JSON = {
        "id": command["id"],
        "name": command["name"],
        "type": command["type"],
        "target_id": target_id,
        "resolved": resolver.resolved,
    }
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    return data


def _member_verdict(overrides: list[JSON], member: Member) -> bool | None:
    """What a command's (or the app's) user / role overrides say about ``member``: a user
    override wins, then any of their roles (one allowing role is enough), then @everyone."""
    guild = member.guild
    mine = [o for o in overrides if o["type"] == 2 and int(o["id"]) == member.user.id]
    if mine:
        return bool(mine[0]["permission"])
    role_ids = {r.id for r in member.roles}
    roles = [o for o in overrides if o["type"] == 1 and int(o["id"]) in role_ids]
    if roles:
        return any(o["permission"] for o in roles)
    everyone = [o for o in overrides if o["type"] == 1 and int(o["id"]) == guild.id]
    if everyone:
        return bool(everyone[0]["permission"])
    return None


def _channel_verdict(overrides: list[JSON], channel: Channel) -> bool | None:
    """A channel override (a thread follows its parent), else the "all channels" one
    (id = guild id - 1)."""
    assert channel.guild is not None
    target = channel.parent if channel.is_thread and channel.parent is not None else channel
    for wanted in (target.id, channel.guild.id - 1):
        found = [o for o in overrides if o["type"] == 3 and int(o["id"]) == wanted]
        if found:
            return bool(found[0]["permission"])
    return None


def check_can_use(
    command: JSON,
    user: User,
    channel: Channel,
    *,
    overrides: list[JSON] | None = None,
    app_overrides: list[JSON] | None = None,
) -> None:
    """Discord hides commands the user may not use here: default_member_permissions they
    lack, or the overrides a server owner set in Server Settings → Integrations (command
    level first, then the app level; a user/role override replaces
    default_member_permissions; a channel override applies to everyone, administrators
    too; the owner and administrators pass every user/role rule)."""
    guild = channel.guild
    required = command.get("default_member_permissions")
    if guild is None:
        if command.get("dm_permission") is False or (
            command.get("contexts") is not None and 1 not in command["contexts"]
        ):
            raise CommandInvocationError(f"/{command['name']} is not available in DMs")
        return
    if command.get("contexts") is not None and 0 not in command["contexts"]:
        raise CommandInvocationError(f"/{command['name']} is not available in guilds")
    member = guild.member(user)
    perms = member.permissions_in(channel)
    if not has(perms, Permission.USE_APPLICATION_COMMANDS):
        raise CommandInvocationError(f"{user.username} may not use application commands here")
    overrides, app_overrides = overrides or [], app_overrides or []
    for level in (overrides, app_overrides):
        verdict = _channel_verdict(level, channel)
        if verdict is not None:
            if not verdict:
                raise CommandInvocationError(
                    f"/{command['name']} is disabled in #{channel.name} by the server's settings"
                )
            break
    if perms == ALL_PERMISSIONS:
        return
    verdict = _member_verdict(overrides, member)
    if verdict is None:
        verdict = _member_verdict(app_overrides, member)
    if verdict is not None:
        if not verdict:
            raise CommandInvocationError(
                f"{user.username} cannot see /{command['name']} (the server's command settings)"
            )
        return
    if required is not None and not has(perms, int(required)):
        raise CommandInvocationError(
            f"{user.username} cannot see /{command['name']} (needs permissions {required})"
        )


def modal_submit_components(modal: JSON, values: Mapping[str, str]) -> list[JSON]:
    """Mirror a modal's layout with the user's input, as Discord sends it back."""
    used: set[str] = set()

    def convert(component: JSON) -> JSON | None:
        kind = component.get("type")
        if kind == 1:
            children = [c for c in (convert(x) for x in component.get("components", [])) if c]
            return {"type": 1, "components": children}
        if kind == 18:
            inner = convert(component["component"])
            return {"type": 18, "component": inner} if inner else None
        custom_id = component.get("custom_id")
        if kind == 4 and custom_id is not None:
            used.add(custom_id)
            return {
                "type": 4,
                "custom_id": custom_id,
                "value": values.get(custom_id, component.get("value", "")),
            }
        if kind == 3 and custom_id is not None:
            used.add(custom_id)
            raw = values.get(custom_id, [])
            return {
                "type": 3,
                "custom_id": custom_id,
                "values": [raw] if isinstance(raw, str) else list(raw),
            }
        return None

    converted = [c for c in (convert(x) for x in modal.get("components", [])) if c]
    missing = set(values) - used
    if missing:
        raise CommandInvocationError(
            f"modal {modal.get('custom_id')!r} has no inputs {sorted(missing)}"
        )
    return converted
