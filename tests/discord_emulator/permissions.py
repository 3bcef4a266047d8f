"""Permission bits and the standard Discord permission computation.

``compute_permissions`` follows the algorithm in Discord's documentation: guild owner and
ADMINISTRATOR get everything; otherwise @everyone | member roles, then channel overwrites
(@everyone overwrite, role overwrites combined, member overwrite; a thread uses its parent
channel's), then the implicit rules: no VIEW_CHANNEL means no permissions at all in that
channel, and without Send Messages (Send Messages in Threads, in a thread) the permissions that
only matter when sending (Mention Everyone, TTS, Attach Files, Embed Links) go too. A member
who is timed out (communication_disabled_until in the future) keeps only View Channel and
Read Message History, unless they are the owner or an administrator.
"""

from __future__ import annotations

from enum import IntFlag
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Channel, Member


class Permission(IntFlag):
    """The permission bits a news bot is likely to care about (names as in Discord's docs)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40


ALL_PERMISSIONS = (1 << 51) - 1

#: What a freshly created guild grants @everyone (a sensible subset of Discord's default).
DEFAULT_EVERYONE_PERMISSIONS = int(
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
)

#: What the bot's managed role gets by default (what an invite link would typically ask for).
DEFAULT_BOT_PERMISSIONS = int(
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.ADD_REACTIONS
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.USE_APPLICATION_COMMANDS
)


#: Lost implicitly without the right to send (Discord's "implicit permissions").
SEND_DEPENDENT = int(
    Permission.MENTION_EVERYONE
    | Permission.SEND_TTS_MESSAGES
    | Permission.ATTACH_FILES
    | Permission.EMBED_LINKS
)
#: What a timed-out member keeps.
TIMED_OUT_KEEPS = int(Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY)


def base_permissions(member: Member) -> int:
    """Guild-level permissions of a member (no channel overwrites)."""
    guild = member.guild
    if guild.owner_id == member.user.id:
        return ALL_PERMISSIONS
    perms = guild.everyone_role.permissions
    for role in member.roles:
        perms |= role.permissions
    if perms & Permission.ADMINISTRATOR:
        return ALL_PERMISSIONS
    if member.timed_out:
        return perms & TIMED_OUT_KEEPS
    return perms


def send_permission(channel: Channel | None) -> Permission:
    """The bit that allows posting in ``channel``: Send Messages, or in a thread Send
    Messages in Threads."""
    if channel is not None and channel.is_thread:
        return Permission.SEND_MESSAGES_IN_THREADS
    return Permission.SEND_MESSAGES


def compute_permissions(member: Member, channel: Channel | None = None) -> int:
    """Permissions of ``member`` in ``channel`` (guild-level when ``channel`` is None)."""
    perms = base_permissions(member)
    if channel is None or perms == ALL_PERMISSIONS:
        return perms
    overwrites = {ow.id: ow for ow in channel.effective_overwrites()}
    everyone = overwrites.get(member.guild.id)
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role in member.roles:
        ow = overwrites.get(role.id)
        if ow is not None:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    own = overwrites.get(member.user.id)
    if own is not None:
        perms = (perms & ~own.deny) | own.allow
    if member.timed_out:
        perms &= TIMED_OUT_KEEPS
    if not perms & Permission.VIEW_CHANNEL:
        return 0
    if not perms & send_permission(channel):
        perms &= ~SEND_DEPENDENT
    return perms


def has(perms: int, needed: int) -> bool:
    """Whether every bit of ``needed`` is in ``perms``."""
    return perms & needed == needed
