"""Turning message bodies into stored messages: create, edit, mentions and attachments.

Used for everything that writes a message: the bot's channel posts, interaction responses and
webhook follow-ups (bot-authored bodies, validated like Discord does), and messages typed by
emulated users. Mentions are resolved like Discord: parse ``<@id>``, ``<@&id>``,
``@everyone``/``@here`` in the content, then keep only what ``allowed_mentions`` permits
(absent = everything); the resulting ``mentions`` array is who actually gets pinged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .models import (
    JSON,
    MENTION_EVERYONE_RE,
    MENTION_ROLE_RE,
    MENTION_USER_RE,
    Attachment,
    Channel,
    Message,
    MessageFlags,
    MessageType,
    Role,
    User,
)
from .permissions import Permission
from .recording import UploadedFile
from .snowflake import now_iso
from .state import EmulatorState
from .validation import discord_trim, validate_message

#: Flags a bot may set itself when creating / editing a message.
CREATE_FLAGS = (
    MessageFlags.SUPPRESS_EMBEDS
    | MessageFlags.SUPPRESS_NOTIFICATIONS
    | MessageFlags.IS_COMPONENTS_V2
)
INTERACTION_CREATE_FLAGS = CREATE_FLAGS | MessageFlags.EPHEMERAL
EDIT_FLAGS = MessageFlags.SUPPRESS_EMBEDS | MessageFlags.IS_COMPONENTS_V2


def resolve_mentions(
    state: EmulatorState,
    channel: Channel,
    content: str,
    allowed_mentions: JSON | None,
    *,
    author: User,
    reply_to: Message | None = None,
) -> tuple[list[User], list[Role], bool]:
    """Who a message pings: (users, roles, mention_everyone)."""
    guild = channel.guild
    author_member = guild.get_member(author) if guild is not None else None
    can_everyone = author_member is not None and bool(
        author_member.permissions_in(channel) & Permission.MENTION_EVERYONE
    )
    parse: Iterable[str]
    if allowed_mentions is None:
        parse, allowed_users, allowed_roles = ("users", "roles", "everyone"), [], []
        replied_user = True
    else:
        parse = allowed_mentions.get("parse") or []
        allowed_users = [int(u) for u in allowed_mentions.get("users") or []]
        allowed_roles = [int(r) for r in allowed_mentions.get("roles") or []]
        replied_user = bool(allowed_mentions.get("replied_user", False))

    users: list[User] = []
    for match in MENTION_USER_RE.finditer(content):
        user = state.users.get(int(match.group(1)))
        if (
            user is not None
            and user not in users
            and ("users" in parse or user.id in allowed_users)
        ):
            users.append(user)
    if reply_to is not None and replied_user and reply_to.author not in users:
        users.append(reply_to.author)

    roles: list[Role] = []
    if guild is not None:
        for match in MENTION_ROLE_RE.finditer(content):
            role = guild.roles.get(int(match.group(1)))
            if role is None or role in roles:
                continue
            if ("roles" in parse or role.id in allowed_roles) and (
                role.mentionable or can_everyone
            ):
                roles.append(role)
    everyone = bool(MENTION_EVERYONE_RE.search(content)) and "everyone" in parse and can_everyone
    return users, roles, everyone


def build_attachments(
    state: EmulatorState,
    body: JSON,
    files: list[UploadedFile],
    existing: list[Attachment] | None = None,
    *,
    ephemeral: bool = False,
) -> list[Attachment]:
    """Attachments after a create/edit: kept existing ones plus the uploaded ``files[n]``."""
    existing = existing or []
    by_index: dict[int, UploadedFile] = {}
    for position, upload in enumerate(files):
        digits = "".join(ch for ch in upload.field_name if ch.isdigit())
        by_index[int(digits) if digits else position] = upload
    listed = body.get("attachments")
    if listed is None:
        return existing + [_store(state, f, None, ephemeral) for f in by_index.values()]
    known = {a.id: a for a in existing}
    result: list[Attachment] = []
    for entry in listed:
        ident = int(entry.get("id", -1))
        if ident in known:
            result.append(known[ident])
        elif ident in by_index:
            result.append(_store(state, by_index.pop(ident), entry, ephemeral))
    result += [_store(state, f, None, ephemeral) for f in by_index.values()]
    return result


def _store(
    state: EmulatorState, upload: UploadedFile, entry: JSON | None, ephemeral: bool
) -> Attachment:
    entry = entry or {}
    content_type = upload.content_type
    if content_type in ("application/octet-stream", ""):
        content_type = None  # let the emulator guess from the filename, as Discord does
    return state.add_attachment(
        entry.get("filename") or upload.filename,
        upload.data,
        content_type=content_type,
        description=entry.get("description"),
        ephemeral=ephemeral,
    )


def create_bot_message(
    state: EmulatorState,
    channel: Channel,
    body: JSON,
    files: list[UploadedFile],
    *,
    allowed_flags: int = CREATE_FLAGS,
    extra_flags: int = 0,
    message_type: int = MessageType.DEFAULT,
    reply_to: Message | None = None,
    webhook_id: int | None = None,
    interaction_metadata: JSON | None = None,
    validate: bool = True,
) -> Message:
    """Validate a bot's message body and store the resulting message in ``channel``.

    Ephemeral messages are returned but not stored in the channel: only their user sees them.
    """
    if validate:
        validate_message(body, file_count=len(files))
    flags = (int(body.get("flags") or 0) & allowed_flags) | extra_flags
    content = discord_trim(body.get("content"))  # Discord stores content trimmed
    allowed = body.get("allowed_mentions")
    users, roles, everyone = resolve_mentions(
        state, channel, content, allowed, author=state.bot_user, reply_to=reply_to
    )
    message = Message(
        id=state.ids.next(),
        channel=channel,
        author=state.bot_user,
        content=content,
        embeds=[_rich(e) for e in body.get("embeds") or []],
        components=list(body.get("components") or []),
        attachments=build_attachments(
            state, body, files, ephemeral=bool(flags & MessageFlags.EPHEMERAL)
        ),
        flags=flags,
        type=MessageType.REPLY if reply_to is not None and message_type == 0 else message_type,
        mentions=users,
        mention_roles=roles,
        mention_everyone=everyone,
        reference=reply_to,
        allowed_mentions=allowed,
        tts=bool(body.get("tts", False)),
        nonce=body.get("nonce"),
        webhook_id=webhook_id,
        application_id=state.application_id if webhook_id is not None else None,
        interaction_metadata=interaction_metadata,
    )
    if not message.ephemeral:  # ephemeral messages live only in their interaction
        channel.messages[message.id] = message
    return message


def edit_message(
    state: EmulatorState,
    message: Message,
    body: JSON,
    files: list[UploadedFile],
    *,
    validate: bool = True,
) -> None:
    """Apply a PATCH body to ``message`` (keeping a snapshot of the old payload in ``history``)."""
    if validate:
        merged_has_content = bool(
            message.content or message.embeds or message.attachments or message.components
        )
        validate_message(
            body, file_count=len(files), creating=False, existing_has_content=merged_has_content
        )
    message.history.append(message.to_payload())
    was_loading = message.loading
    if "content" in body:
        message.content = discord_trim(body["content"])
    if "embeds" in body:
        message.embeds = [_rich(e) for e in body["embeds"] or []]
    if "components" in body:
        message.components = list(body["components"] or [])
    if "flags" in body and body["flags"] is not None:
        keep = message.flags & ~EDIT_FLAGS
        message.flags = keep | (int(body["flags"]) & EDIT_FLAGS)
    if "attachments" in body or files:
        message.attachments = build_attachments(
            state, body, files, message.attachments, ephemeral=message.ephemeral
        )
    if "allowed_mentions" in body:
        message.allowed_mentions = body["allowed_mentions"]
    message.flags &= ~MessageFlags.LOADING
    users, roles, everyone = resolve_mentions(
        state,
        message.channel,
        message.content,
        message.allowed_mentions,
        author=message.author,
        reply_to=message.reference,
    )
    message.mentions, message.mention_roles, message.mention_everyone = users, roles, everyone
    if not was_loading:
        message.edited_at = now_iso()


def _rich(embed: Any) -> JSON:
    embed = dict(embed)
    embed.setdefault("type", "rich")
    return embed


def thread_created_message(state: EmulatorState, thread: Channel, author: User) -> Message:
    """The system message (type THREAD_CREATED) Discord posts in a thread's parent when a
    thread is started without a message: its content is the thread's name, its
    message_reference names the thread. Nobody can reply to it."""
    parent = state.channels[thread.parent_id] if thread.parent_id is not None else thread
    message = Message(
        id=state.ids.next(),
        channel=parent,
        author=author,
        content=thread.name,
        type=MessageType.THREAD_CREATED,
        created_thread=thread,
    )
    parent.messages[message.id] = message
    return message
