"""REST routes for the bot's own calls: gateway discovery, users, application, command sync,
channels and messages, typing, reactions, guild reads, DMs and attachment downloads.

Channel writes check the bot's computed permissions in that channel like Discord does
(VIEW_CHANNEL → 50001 Missing Access; SEND_MESSAGES (in a thread: SEND_MESSAGES_IN_THREADS) /
ATTACH_FILES / ADD_REACTIONS / MANAGE_MESSAGES / CREATE_PUBLIC_THREADS → 50013 Missing
Permissions). A reply (``message_reference``) also needs READ_MESSAGE_HISTORY (160002), is
refused to a system message such as THREAD_CREATED (50035), and
without EMBED_LINKS a message's embeds are dropped, as Discord drops them (an embed-only
message is then empty: 50006). A DM to a user who blocks them → 50007.

Threads: ``POST /channels/{id}/messages/{id}/threads`` (a thread from a message, sharing its
id), ``POST /channels/{id}/threads`` (a thread without a message, or a forum post with its
first message), ``PUT /channels/{id}/thread-members/@me``. Application command permissions
that a server owner set: ``GET .../commands/permissions`` and ``.../{command_id}/permissions``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .messages import create_bot_message, edit_message, thread_created_message
from .models import Channel, ChannelType, Guild, Message, MessageType
from .permissions import ALL_PERMISSIONS, Permission, has, send_permission
from .recording import RecordedRequest
from .rest import Reply, Router
from .validation import (
    CANNOT_DM_USER,
    CANNOT_EDIT_OTHERS_MESSAGE,
    CANNOT_REPLY_WITHOUT_HISTORY,
    INVALID_CHANNEL_TYPE,
    INVALID_FORM_BODY,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    THREAD_ALREADY_CREATED,
    UNKNOWN_CHANNEL,
    UNKNOWN_GUILD,
    UNKNOWN_MESSAGE,
    UNKNOWN_USER,
    DiscordAPIError,
    discord_trim,
    form_error,
    not_found,
    validate_commands,
    validate_message,
)

if TYPE_CHECKING:
    from .server import DiscordEmulator


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise DiscordAPIError(400, INVALID_FORM_BODY, "Value is not snowflake.") from None


class CoreRoutes:
    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu
        self.state = emu.state

    def register(self, router: Router) -> None:
        add = router.add
        add("GET", "/gateway", self.get_gateway, auth=False)
        add("GET", "/gateway/bot", self.get_gateway_bot)
        add("GET", "/users/@me", self.get_me)
        add("POST", "/users/@me/channels", self.create_dm)
        add("GET", "/users/{user_id}", self.get_user)
        add("GET", "/oauth2/applications/@me", self.get_application)
        add("GET", "/applications/@me", self.get_application)
        for scope in (
            "/applications/{application_id}/commands",
            "/applications/{application_id}/guilds/{guild_id}/commands",
        ):
            add("GET", scope, self.list_commands)
            add("PUT", scope, self.overwrite_commands)
            add("POST", scope, self.upsert_command)
        add("GET", "/channels/{channel_id}", self.get_channel)
        add("GET", "/channels/{channel_id}/messages", self.list_messages)
        add("POST", "/channels/{channel_id}/messages", self.create_message)
        add("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        add("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        add("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        add("POST", "/channels/{channel_id}/typing", self.typing)
        add(
            "POST", "/channels/{channel_id}/messages/{message_id}/threads", self.thread_from_message
        )
        add("POST", "/channels/{channel_id}/threads", self.thread_without_message)
        add("PUT", "/channels/{channel_id}/thread-members/@me", self.join_thread)
        perms = "/applications/{application_id}/guilds/{guild_id}/commands"
        add("GET", perms + "/permissions", self.list_command_permissions)
        add("GET", perms + "/{command_id}/permissions", self.get_command_permissions)
        reaction = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"
        add("PUT", reaction, self.add_reaction)
        add("DELETE", reaction, self.remove_reaction)
        add("GET", "/guilds/{guild_id}", self.get_guild)
        add("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        add("GET", "/guilds/{guild_id}/roles", self.get_guild_roles)
        add("GET", "/guilds/{guild_id}/members/{user_id}", self.get_guild_member)
        add("GET", "/attachments/{attachment_id}/{filename}", self.download, auth=False, api=False)

    # -- helpers -------------------------------------------------------------------------
    def _channel(self, req: RecordedRequest) -> Channel:
        channel = self.state.channels.get(_int(req.params["channel_id"]))
        if channel is None:
            raise not_found(UNKNOWN_CHANNEL, "Channel")
        return channel

    def _guild(self, req: RecordedRequest) -> Guild:
        guild = self.state.guilds.get(_int(req.params["guild_id"]))
        if guild is None:
            raise not_found(UNKNOWN_GUILD, "Guild")
        if guild.get_member(self.state.bot_user) is None:
            raise DiscordAPIError(403, MISSING_ACCESS, "Missing Access")
        return guild

    def _bot_perms(self, channel: Channel) -> int:
        if channel.guild is None:
            return ALL_PERMISSIONS
        member = channel.guild.get_member(self.state.bot_user)
        if member is None:
            raise DiscordAPIError(403, MISSING_ACCESS, "Missing Access")
        return member.permissions_in(channel)

    def _require(self, channel: Channel, needed: int) -> int:
        perms = self._bot_perms(channel)
        if not perms & Permission.VIEW_CHANNEL:
            raise DiscordAPIError(403, MISSING_ACCESS, "Missing Access")
        if not has(perms, needed):
            raise DiscordAPIError(403, MISSING_PERMISSIONS, "Missing Permissions")
        return perms

    def _message(self, req: RecordedRequest, channel: Channel) -> Message:
        message = channel.messages.get(_int(req.params["message_id"]))
        if message is None or message.deleted:
            raise not_found(UNKNOWN_MESSAGE, "Message")
        return message

    def _check_app(self, req: RecordedRequest) -> None:
        if _int(req.params["application_id"]) != self.state.application_id:
            raise DiscordAPIError(403, MISSING_ACCESS, "Missing Access")

    # -- gateway / identity ----------------------------------------------------------------
    async def get_gateway(self, req: RecordedRequest) -> Reply:
        return Reply(body={"url": self.emu.gateway.url.rstrip("/")})

    async def get_gateway_bot(self, req: RecordedRequest) -> Reply:
        return Reply(
            body={
                "url": self.emu.gateway.url.rstrip("/"),
                "shards": self.emu.gateway.recommended_shards(),
                "session_start_limit": {
                    "total": 1000,
                    "remaining": max(0, 1000 - self.emu.gateway.identify_count),
                    "reset_after": 24 * 3600 * 1000,  # ms; the emulator never resets it
                    "max_concurrency": 1,
                },
            }
        )

    async def get_me(self, req: RecordedRequest) -> Reply:
        return Reply(body=self.state.bot_user_payload())

    async def get_user(self, req: RecordedRequest) -> Reply:
        user = self.state.users.get(_int(req.params["user_id"]))
        if user is None:
            raise not_found(UNKNOWN_USER, "User")
        return Reply(body=user.to_payload())

    async def create_dm(self, req: RecordedRequest) -> Reply:
        user = self.state.users.get(_int(str((req.json or {}).get("recipient_id"))))
        if user is None:
            raise not_found(UNKNOWN_USER, "User")
        return Reply(body=self.state.dm_channel(user).to_payload())

    async def get_application(self, req: RecordedRequest) -> Reply:
        return Reply(body=self.state.application_payload())

    # -- application commands ------------------------------------------------------------
    def _command_scope(self, req: RecordedRequest) -> int | None:
        self._check_app(req)
        if "guild_id" not in req.params:
            return None
        return self._guild(req).id

    async def list_commands(self, req: RecordedRequest) -> Reply:
        return Reply(body=self.state.commands.list(self._command_scope(req)))

    async def overwrite_commands(self, req: RecordedRequest) -> Reply:
        guild_id = self._command_scope(req)
        payloads = req.json if isinstance(req.json, list) else []
        validate_commands(payloads)
        stored = self.state.commands.overwrite(payloads, guild_id)
        self.emu.notifier.notify()
        return Reply(body=stored)

    async def upsert_command(self, req: RecordedRequest) -> Reply:
        guild_id = self._command_scope(req)
        validate_commands([req.json or {}])
        return Reply(201, self.state.commands.add(req.json or {}, guild_id))

    # -- channels & messages -------------------------------------------------------------
    async def get_channel(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        self._require(channel, 0)
        return Reply(body=channel.to_payload())

    async def list_messages(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        perms = self._require(channel, 0)
        if not perms & Permission.READ_MESSAGE_HISTORY:
            return Reply(body=[])
        limit = max(1, min(100, int(req.query.get("limit", "50"))))
        found = channel.history()
        if "before" in req.query:
            found = [m for m in found if m.id < int(req.query["before"])]
        if "after" in req.query:
            found = [m for m in found if m.id > int(req.query["after"])][:limit]
        if "around" in req.query:
            around = int(req.query["around"])
            older = [m for m in found if m.id <= around][-(limit // 2 + limit % 2) :]
            newer = [m for m in found if m.id > around][: limit // 2]
            found = older + newer
        found = sorted(found, key=lambda m: m.id, reverse=True)[:limit]
        return Reply(body=[m.to_payload() for m in found])

    async def create_message(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        if channel.type not in ChannelType.MESSAGEABLE:
            raise DiscordAPIError(400, 50008, "Cannot send messages in a non-text channel")
        if channel.type == ChannelType.DM and not all(u.accepts_dms for u in channel.recipients):
            raise DiscordAPIError(403, CANNOT_DM_USER, "Cannot send messages to this user")
        needed = send_permission(channel) | (Permission.ATTACH_FILES if req.files else 0)
        perms = self._require(channel, needed)
        body = req.json if isinstance(req.json, dict) else {}
        message = self._post(channel, perms, body, req)
        return Reply(body=message.to_payload())

    def _post(self, channel: Channel, perms: int, body: dict, req: RecordedRequest) -> Message:
        """Validate, apply the permission rules on the body, store and announce a message."""
        validate_message(body, file_count=len(req.files))
        reference = body.get("message_reference")
        replying = bool(reference) and reference.get("type", 0) == 0
        if replying and not perms & Permission.READ_MESSAGE_HISTORY:
            raise DiscordAPIError(
                400,
                CANNOT_REPLY_WITHOUT_HISTORY,
                "Cannot reply without permission to read message history",
            )
        reply_to = self._reference(channel, reference)
        body = self._without_forbidden_embeds(body, perms)
        message = create_bot_message(self.state, channel, body, req.files, reply_to=reply_to)
        self.emu.events.created(message)
        return message

    @staticmethod
    def _without_forbidden_embeds(body: dict, perms: int) -> dict:
        """Discord drops the embeds of a message whose author lacks Embed Links."""
        if body.get("embeds") and not perms & Permission.EMBED_LINKS:
            return {**body, "embeds": []}
        return body

    def _reference(self, channel: Channel, reference: dict | None) -> Message | None:
        if not reference or reference.get("type", 0) != 0:
            return None
        found = channel.messages.get(_int(str(reference.get("message_id"))))
        if found is not None and not found.deleted and found.type not in MessageType.REPLYABLE:
            raise form_error(
                ["message_reference"],
                "REPLIES_CANNOT_REPLY_TO_SYSTEM_MESSAGE",
                "Cannot reply to a system message",
            )
        if found is None or found.deleted:
            if reference.get("fail_if_not_exists", True):
                raise DiscordAPIError(
                    400,
                    INVALID_FORM_BODY,
                    "Invalid Form Body",
                    {
                        "message_reference": {
                            "_errors": [
                                {
                                    "code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                                    "message": "Unknown message",
                                }
                            ]
                        }
                    },
                )
            return None
        return found

    async def get_message(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        self._require(channel, Permission.READ_MESSAGE_HISTORY)
        return Reply(body=self._message(req, channel).to_payload())

    async def edit_message(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        self._require(channel, 0)
        message = self._message(req, channel)
        if message.author.id != self.state.bot_user.id:
            raise DiscordAPIError(
                403, CANNOT_EDIT_OTHERS_MESSAGE, "Cannot edit a message authored by another user"
            )
        body = self._without_forbidden_embeds(req.json or {}, self._bot_perms(channel))
        edit_message(self.state, message, body, req.files)
        self.emu.events.updated(message)
        return Reply(body=message.to_payload())

    async def delete_message(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        message = self._message(req, channel)
        own = message.author.id == self.state.bot_user.id
        self._require(channel, 0 if own else Permission.MANAGE_MESSAGES)
        message.deleted = True
        self.emu.events.deleted(message)
        return Reply(204)

    async def typing(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        self._require(channel, send_permission(channel))
        return Reply(204)

    # -- threads -------------------------------------------------------------------------
    @staticmethod
    def _thread_name(body: dict) -> str:
        name = discord_trim(body.get("name"))
        if not 1 <= len(name) <= 100:
            raise form_error(
                ["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
        duration = body.get("auto_archive_duration")
        if duration is not None and duration not in (60, 1440, 4320, 10080):
            raise form_error(
                ["auto_archive_duration"],
                "BASE_TYPE_CHOICES",
                "Value must be one of {60, 1440, 4320, 10080}.",
            )
        return name

    def _new_thread(
        self, parent: Channel, name: str, body: dict, *, private: bool, thread_id: int | None = None
    ) -> Channel:
        assert parent.guild is not None
        thread = parent.guild.add_thread(
            parent, name, owner=self.state.bot_user, private=private, thread_id=thread_id
        )
        thread.auto_archive_duration = int(body.get("auto_archive_duration") or 1440)
        return thread

    async def thread_from_message(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        if channel.type not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
            raise DiscordAPIError(
                400, INVALID_CHANNEL_TYPE, "Cannot execute action on this channel type"
            )
        self._require(channel, Permission.CREATE_PUBLIC_THREADS | Permission.READ_MESSAGE_HISTORY)
        message = self._message(req, channel)
        body = req.json if isinstance(req.json, dict) else {}
        name = self._thread_name(body)
        if message.id in self.state.channels:
            raise DiscordAPIError(
                400, THREAD_ALREADY_CREATED, "A thread has already been created for this message"
            )
        thread = self._new_thread(channel, name, body, private=False, thread_id=message.id)
        message.thread = thread
        self.emu.events.updated(message)
        return Reply(201, thread.thread_payload())

    async def thread_without_message(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        body = req.json if isinstance(req.json, dict) else {}
        if channel.type == ChannelType.GUILD_FORUM:
            # a forum post: a thread and its first message, made in one request
            perms = self._require(channel, Permission.SEND_MESSAGES)
            name = self._thread_name(body)
            first = body.get("message")
            if not isinstance(first, dict):
                raise form_error(["message"], "BASE_TYPE_REQUIRED", "This field is required")
            validate_message(first, file_count=len(req.files))
            thread = self._new_thread(channel, name, body, private=False)
            starter = create_bot_message(
                self.state, thread, self._without_forbidden_embeds(first, perms), req.files
            )
            # the starter message of a forum post shares the thread's id
            del thread.messages[starter.id]
            starter.id = thread.id
            thread.messages[starter.id] = starter
            self.emu.events.created(starter)
            return Reply(201, {**thread.thread_payload(), "message": starter.to_payload()})
        if channel.type not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
            raise DiscordAPIError(
                400, INVALID_CHANNEL_TYPE, "Cannot execute action on this channel type"
            )
        kind = int(body.get("type") or ChannelType.PRIVATE_THREAD)
        private = kind == ChannelType.PRIVATE_THREAD
        needed = Permission.CREATE_PRIVATE_THREADS if private else Permission.CREATE_PUBLIC_THREADS
        self._require(channel, needed)
        thread = self._new_thread(channel, self._thread_name(body), body, private=private)
        if not private:  # Discord announces a public thread started without a message
            self.emu.events.created(thread_created_message(self.state, thread, self.state.bot_user))
        return Reply(201, thread.thread_payload())

    async def join_thread(self, req: RecordedRequest) -> Reply:
        thread = self._channel(req)
        if not thread.is_thread:
            raise DiscordAPIError(
                400, INVALID_CHANNEL_TYPE, "Cannot execute action on this channel type"
            )
        self._require(thread, 0)
        thread.thread_members.add(self.state.bot_user.id)
        return Reply(204)

    # -- application command permissions (set by a server owner) ---------------------------
    async def list_command_permissions(self, req: RecordedRequest) -> Reply:
        self._check_app(req)
        guild = self._guild(req)
        return Reply(body=self.state.commands.permissions_payloads(guild.id))

    async def get_command_permissions(self, req: RecordedRequest) -> Reply:
        self._check_app(req)
        guild = self._guild(req)
        found = [
            p
            for p in self.state.commands.permissions_payloads(guild.id)
            if p["id"] == req.params["command_id"]
        ]
        if not found:
            raise DiscordAPIError(404, 10066, "Unknown application command permissions")
        return Reply(body=found[0])

    async def add_reaction(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        self._require(channel, Permission.ADD_REACTIONS | Permission.READ_MESSAGE_HISTORY)
        message = self._message(req, channel)
        if req.params["emoji"] not in message.reactions:
            message.reactions.append(req.params["emoji"])
        return Reply(204)

    async def remove_reaction(self, req: RecordedRequest) -> Reply:
        channel = self._channel(req)
        message = self._message(req, channel)
        if req.params["emoji"] in message.reactions:
            message.reactions.remove(req.params["emoji"])
        return Reply(204)

    # -- guild reads -----------------------------------------------------------------------
    async def get_guild(self, req: RecordedRequest) -> Reply:
        payload = self._guild(req).to_payload()
        for key in ("members", "channels", "threads", "voice_states", "presences"):
            payload.pop(key, None)
        return Reply(body=payload)

    async def get_guild_channels(self, req: RecordedRequest) -> Reply:
        return Reply(body=[c.to_payload() for c in self._guild(req).channels.values()])

    async def get_guild_roles(self, req: RecordedRequest) -> Reply:
        return Reply(body=[r.to_payload() for r in self._guild(req).roles.values()])

    async def get_guild_member(self, req: RecordedRequest) -> Reply:
        member = self._guild(req).get_member(_int(req.params["user_id"]))
        if member is None:
            raise DiscordAPIError(404, 10007, "Unknown Member")
        return Reply(body=member.to_payload())

    # -- CDN -----------------------------------------------------------------------------
    async def download(self, req: RecordedRequest) -> Reply:
        attachment = self.state.attachments.get(_int(req.params["attachment_id"]))
        if attachment is None or attachment.filename != req.params["filename"]:
            return Reply(404, raw=b"Not Found", content_type="text/plain")
        return Reply(
            raw=attachment.data, content_type=attachment.content_type or "application/octet-stream"
        )
