"""``DiscordEmulator``: the aiohttp server plus the API tests use.

One emulator = one fake Discord on ``127.0.0.1:<free port>``, serving REST under
``/api/v10``, the gateway websocket at ``/`` (and ``/resume``, the READY
``resume_gateway_url``), and attachment bytes at ``/attachments/{id}/{filename}``.

Typical test::

    async with DiscordEmulator() as emu, point_discord_py_at(emu):
        guild = emu.add_guild("Newsroom")
        general = guild.add_text_channel("general")
        alice = guild.add_member("alice")
        ...start the bot with emu.token...
        inter = await emu.invoke_command("news ask", user=alice, channel=general,
                                         options={"question": "what happened?"})
        done = await emu.wait_for_response(inter)
        assert "[1]" in done.response.content
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from .events import MessageEvents
from .gateway import Gateway, Session
from .intents import PRIVILEGED_INTENTS, Intent
from .interactions import (
    CommandInvocationError,
    Interaction,
    InteractionType,
    check_can_use,
    command_data,
    context_menu_data,
    interaction_payload,
    modal_submit_components,
)
from .messages import resolve_mentions, thread_created_message
from .models import (
    JSON,
    Attachment,
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    MessageType,
    Role,
    User,
)
from .permissions import Permission, has, send_permission
from .ratelimits import RateLimiter
from .recording import Fault, Notifier, RecordedRequest, error_fault, rate_limit_fault
from .rest import RestServer, Router
from .routes_core import CoreRoutes
from .routes_interactions import InteractionRoutes
from .snowflake import now_iso
from .state import EmulatorState

T = TypeVar("T")
Who = User | Member


class EmulatorError(AssertionError):
    """The emulator itself failed while handling a request (a bug in the emulator)."""


class DiscordEmulator:
    """A fake Discord for end-to-end tests. See the package docstring for the full API."""

    def __init__(
        self,
        *,
        token: str = "emulator-token",
        bot_name: str = "NewsBot",
        heartbeat_interval_ms: int = 41_250,
        interaction_ack_timeout: float | None = 3.0,
        interaction_token_ttl: float | None = 15 * 60.0,
        privileged_intents: int = int(PRIVILEGED_INTENTS),
        host: str = "127.0.0.1",
        rate_limits: bool = True,
        heartbeat_timeout_factor: float | None = 1.5,
    ) -> None:
        self.host = host
        self.port: int | None = None
        #: Seconds the bot has to send the interaction callback (Discord: 3); None = no limit.
        self.interaction_ack_timeout = interaction_ack_timeout
        #: Seconds an interaction token works for follow-ups and edits (Discord: 15 minutes);
        #: after that the webhook routes answer 401 50027 Invalid Webhook Token.
        self.interaction_token_ttl = interaction_token_ttl
        #: Added to the real monotonic clock by ``advance_time``: how tests let 15 minutes pass.
        self.time_offset = 0.0
        self.notifier = Notifier()
        self.state = EmulatorState(
            bot_name=bot_name, token=token, attachment_base_url=lambda: self.base_url
        )
        self.gateway = Gateway(
            self.state,
            self.notifier,
            base_url=lambda: self.ws_base_url,
            heartbeat_interval_ms=heartbeat_interval_ms,
            privileged_intents=privileged_intents,
            heartbeat_timeout_factor=heartbeat_timeout_factor,
        )
        self.events = MessageEvents(self.gateway)
        self.interactions: dict[int, Interaction] = {}
        self.interactions_by_token: dict[str, Interaction] = {}
        self.router = Router()
        CoreRoutes(self).register(self.router)
        InteractionRoutes(self).register(self.router)
        #: Discord's REST rate limits (ratelimits.py); ``rate_limiter.provoked`` lists the
        #: 429s the bot brought on itself.
        self.rate_limiter = RateLimiter(enabled=rate_limits)
        self.rest = RestServer(
            self.router, self.notifier, lambda: self.state.token, self.rate_limiter
        )
        self.state.on_event = self._on_state_event
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self) -> DiscordEmulator:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self.gateway.handle)
        app.router.add_get("/resume", self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, shutdown_timeout=1.0).start()
        return self

    async def stop(self) -> None:
        await self.gateway.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- addresses and identity ----------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return f"{self.base_url}/api/v10"

    @property
    def ws_base_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1)

    @property
    def gateway_url(self) -> str:
        """What ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` must be set to."""
        return self.gateway.url

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def bot_user(self) -> User:
        return self.state.bot_user

    @property
    def application_id(self) -> int:
        return self.state.application_id

    # -- time --------------------------------------------------------------------------
    def clock(self) -> float:
        """The emulator's monotonic clock (seconds): real time plus ``advance_time`` jumps.
        Interaction deadlines (the 3 s callback, the 15-minute token) are measured on it."""
        return time.monotonic() + self.time_offset

    def advance_time(self, seconds: float) -> None:
        """Let ``seconds`` pass at once for every interaction deadline (not for the bot)."""
        self.time_offset += float(seconds)
        self.notifier.notify()

    # -- guild availability --------------------------------------------------------------
    def guild_outage(self, guild: Guild, *, event: str | None = "GUILD_DELETE") -> None:
        """``guild`` goes down: a connected bot gets GUILD_DELETE with ``unavailable: true``,
        and from now on no events of that guild, only its interactions (which Discord still
        delivers, with the member's roles and permissions and the channel in the payload).

        ``event`` is what a session that IDENTIFYs during the outage gets after READY:
        "GUILD_DELETE" (documented), "GUILD_CREATE" (an unavailable guild object) or None
        (nothing: its GUILD_CREATE has not arrived yet).
        """
        guild.outage_event = event
        self.gateway.broadcast("GUILD_DELETE", guild.unavailable_payload(), guild=guild)
        guild.unavailable = True

    def guild_recovered(self, guild: Guild) -> None:
        """The outage ends: GUILD_CREATE with the full guild, as Discord sends it."""
        guild.unavailable = False
        self._on_state_event("GUILD_CREATE", guild.to_payload(), guild, None)

    def remove_bot(self, guild: Guild) -> None:
        """The bot is kicked (or the guild deleted): GUILD_DELETE without ``unavailable``."""
        self.gateway.broadcast("GUILD_DELETE", {"id": str(guild.id)}, guild=guild)
        guild.members.pop(self.state.bot_user.id, None)
        self.notifier.notify()

    # -- scenario builders (see also Guild.add_text_channel / add_role / add_member) -----
    def add_user(self, username: str, *, bot: bool = False, global_name: str | None = None) -> User:
        return self.state.add_user(username, bot=bot, global_name=global_name)

    def add_guild(self, name: str, **kwargs: Any) -> Guild:
        return self.state.add_guild(name, **kwargs)

    def dm_channel(self, user: User) -> Channel:
        return self.state.dm_channel(user)

    def add_attachment(self, filename: str, data: bytes, **kwargs: Any) -> Attachment:
        return self.state.add_attachment(filename, data, **kwargs)

    def register_commands(self, commands: list[JSON], *, guild: Guild | None = None) -> list[JSON]:
        """Pre-register commands as if the bot had synced them in an earlier run."""
        return self.state.commands.overwrite(commands, guild.id if guild else None)

    def _on_state_event(
        self, event: str, payload: JSON, guild: Guild | None, intent: Intent | None
    ) -> None:
        if event == "GUILD_CREATE" and guild is not None:

            def per_session(session: Session, _: JSON) -> JSON:
                return self.gateway.guild_create_payload(session, guild)

            self.gateway.broadcast(
                event, payload, guild=guild, intent=intent, transform=per_session
            )
        else:
            self.gateway.broadcast(event, payload, guild=guild, intent=intent)

    # -- what users do ---------------------------------------------------------------------
    async def send_message(
        self,
        channel: Channel,
        author: Who,
        content: str = "",
        *,
        reply_to: Message | None = None,
        mention_author: bool = True,
        attachments: Iterable[Attachment] = (),
        embeds: Iterable[JSON] = (),
    ) -> Message:
        """A user posts in ``channel``; the bot gets MESSAGE_CREATE (subject to its intents).

        Mentions are parsed from ``content`` (use ``emu.bot_user.mention`` to @mention the
        bot); a reply pings the replied-to author unless ``mention_author=False``.
        """
        user = self.state.resolve_user(author)
        self._check_can_post(channel, user)
        allowed = (
            None
            if mention_author
            else {"parse": ["users", "roles", "everyone"], "replied_user": False}
        )
        users, roles, everyone = resolve_mentions(
            self.state, channel, content, allowed, author=user, reply_to=reply_to
        )
        message = Message(
            id=self.state.ids.next(),
            channel=channel,
            author=user,
            content=content,
            embeds=list(embeds),
            attachments=list(attachments),
            type=MessageType.REPLY if reply_to is not None else MessageType.DEFAULT,
            mentions=users,
            mention_roles=roles,
            mention_everyone=everyone,
            reference=reply_to,
        )
        channel.messages[message.id] = message
        self.events.created(message)
        return message

    async def start_thread(
        self, message: Message, user: Who, name: str, *, private: bool = False
    ) -> Channel:
        """A user opens a thread on ``message`` (the thread shares the message's id)."""
        plain = self.state.resolve_user(user)
        channel, guild = message.channel, message.channel.guild
        if guild is None:
            raise PermissionError("no threads in DMs")
        needed = Permission.CREATE_PRIVATE_THREADS if private else Permission.CREATE_PUBLIC_THREADS
        if not has(guild.member(plain).permissions_in(channel), Permission.VIEW_CHANNEL | needed):
            raise PermissionError(f"{plain.username} cannot create threads in #{channel.name}")
        thread = guild.add_thread(
            channel, name, owner=plain, private=private, thread_id=None if private else message.id
        )
        if not private:
            message.thread = thread
            self.events.updated(message)
        return thread

    async def start_thread_without_message(
        self, channel: Channel, user: Who, name: str
    ) -> tuple[Channel, Message]:
        """A user starts a public thread from the channel's "+" menu (no starter message):
        Discord posts a THREAD_CREATED system message in ``channel`` whose text is the
        thread's name. Returns (the thread, that system message)."""
        plain = self.state.resolve_user(user)
        guild = channel.guild
        if guild is None:
            raise PermissionError("no threads in DMs")
        needed = Permission.VIEW_CHANNEL | Permission.CREATE_PUBLIC_THREADS
        if not has(guild.member(plain).permissions_in(channel), needed):
            raise PermissionError(f"{plain.username} cannot create threads in #{channel.name}")
        thread = guild.add_thread(channel, name, owner=plain)
        notice = thread_created_message(self.state, thread, plain)
        self.events.created(notice)
        return thread, notice

    async def create_forum_post(
        self, forum: Channel, author: Who, title: str, content: str
    ) -> tuple[Channel, Message]:
        """A user creates a post in a forum: a thread plus its first message (same id)."""
        plain = self.state.resolve_user(author)
        guild = forum.guild
        if guild is None or forum.type != ChannelType.GUILD_FORUM:
            raise ValueError(f"#{forum.name} is not a forum")
        if not has(
            guild.member(plain).permissions_in(forum),
            Permission.VIEW_CHANNEL | Permission.SEND_MESSAGES,
        ):
            raise PermissionError(f"{plain.username} cannot post in #{forum.name}")
        thread = guild.add_thread(forum, title, owner=plain)
        users, roles, everyone = resolve_mentions(self.state, thread, content, None, author=plain)
        message = Message(
            id=thread.id,
            channel=thread,
            author=plain,
            content=content,
            mentions=users,
            mention_roles=roles,
            mention_everyone=everyone,
        )
        thread.messages[message.id] = message
        self.events.created(message)
        return thread, message

    async def edit_user_message(self, message: Message, content: str) -> Message:
        message.history.append(message.to_payload())
        message.content = content
        message.edited_at = now_iso()
        self.events.updated(message)
        return message

    async def delete_user_message(self, message: Message) -> None:
        message.deleted = True
        self.events.deleted(message)

    def _overrides(self, command: JSON, channel: Channel) -> dict[str, list[JSON]]:
        if channel.guild is None:
            return {}
        registry, guild_id = self.state.commands, channel.guild.id
        return {
            "overrides": registry.permissions_for(guild_id, command["id"]),
            "app_overrides": registry.permissions_for(guild_id, str(self.application_id)),
        }

    def set_command_permissions(
        self,
        guild: Guild,
        command: str | None,
        overrides: Iterable[tuple[Role | Member | User | Channel, bool]],
        *,
        kind: int = 1,
    ) -> None:
        """What a server owner does in Server Settings → Integrations: allow or deny the
        command ``command`` (its top-level name; None = every command of the app) for roles,
        members and channels. Replaces that command's earlier overrides."""
        if command is None:
            command_id = str(self.application_id)
        else:
            found = self.state.commands.get(command, guild.id, kind)
            if found is None:
                raise CommandInvocationError(f"command {command!r} is not registered")
            command_id = found["id"]
        entries: list[JSON] = []
        for target, allowed in overrides:
            if isinstance(target, Role):
                entries.append({"id": target.id, "type": 1, "permission": allowed})
            elif isinstance(target, Channel):
                entries.append({"id": target.id, "type": 3, "permission": allowed})
            else:
                entries.append(
                    {"id": self.state.resolve_user(target).id, "type": 2, "permission": allowed}
                )
        self.state.commands.set_permissions(guild.id, command_id, entries)
        self.gateway.broadcast(
            "APPLICATION_COMMAND_PERMISSIONS_UPDATE",
            {
                "id": command_id,
                "application_id": str(self.application_id),
                "guild_id": str(guild.id),
                "permissions": [
                    {"id": str(e["id"]), "type": e["type"], "permission": e["permission"]}
                    for e in entries
                ],
            },
            guild=guild,
        )

    def _check_can_post(self, channel: Channel, user: User) -> None:
        if channel.guild is None:
            if user not in channel.recipients:
                raise PermissionError(f"{user.username} is not in this DM")
            return
        if channel.type not in ChannelType.MESSAGEABLE:
            raise PermissionError(f"#{channel.name} takes no messages (a forum holds posts)")
        perms = channel.guild.member(user).permissions_in(channel)
        if not has(perms, Permission.VIEW_CHANNEL | send_permission(channel)):
            raise PermissionError(f"{user.username} cannot post in #{channel.name}")

    def _dispatch_interaction(self, inter: Interaction) -> Interaction:
        self.interactions[inter.id] = inter
        self.interactions_by_token[inter.token] = inter
        delivered = self.gateway.broadcast("INTERACTION_CREATE", inter.payload, guild=inter.guild)
        if not delivered:
            raise RuntimeError(
                "no live gateway session to deliver the interaction to (is the bot connected?)"
            )
        return inter

    def _command(self, name: str, channel: Channel, kind: int) -> JSON:
        guild_id = channel.guild.id if channel.guild is not None else None
        command = self.state.commands.get(name, guild_id, kind)
        if command is None:
            known = [c["name"] for c in self.state.commands.list(guild_id)] + [
                c["name"] for c in self.state.commands.list(None)
            ]
            raise CommandInvocationError(
                f"command {name!r} (type {kind}) is not registered here; "
                f"known: {sorted(set(known))}. Did the bot sync its command tree?"
            )
        return command

    async def invoke_command(
        self,
        name: str,
        *,
        user: Who,
        channel: Channel,
        options: Mapping[str, Any] | None = None,
        permissions: int | None = None,
        app_permissions: int | None = None,
        locale: str = "en-US",
        check_permissions: bool = True,
    ) -> Interaction:
        """A user runs ``/name`` (e.g. ``"news channels allow"``) in ``channel``.

        Option values: str / int / float / bool, or emulator ``Channel``, ``Role``, ``User`` /
        ``Member`` and ``Attachment`` objects for entity options (``resolved`` is filled in).
        ``permissions`` / ``app_permissions`` override the computed bitfields.
        """
        root, *path = name.split()
        plain = self.state.resolve_user(user)
        command = self._command(root, channel, 1)
        if check_permissions:
            check_can_use(command, plain, channel, **self._overrides(command, channel))
        data = command_data(self.state, command, path, options or {}, user=plain, channel=channel)
        return self._new_interaction(
            InteractionType.APPLICATION_COMMAND,
            data,
            plain,
            channel,
            name=name,
            permissions=permissions,
            app_permissions=app_permissions,
            locale=locale,
        )

    async def invoke_context_menu(
        self, name: str, target: Who | Message, *, user: Who, channel: Channel
    ) -> Interaction:
        """A user picks the app's user (or message) context-menu command ``name`` on ``target``."""
        plain = self.state.resolve_user(user)
        kind = 3 if isinstance(target, Message) else 2
        command = self._command(name, channel, kind)
        check_can_use(command, plain, channel, **self._overrides(command, channel))
        data = context_menu_data(self.state, command, target, channel=channel)
        return self._new_interaction(
            InteractionType.APPLICATION_COMMAND, data, plain, channel, name=name
        )

    async def autocomplete(
        self, name: str, *, user: Who, channel: Channel, focused: str, options: Mapping[str, Any]
    ) -> Interaction:
        """The user is typing option ``focused`` (its partial text is ``options[focused]``)."""
        root, *path = name.split()
        plain = self.state.resolve_user(user)
        command = self._command(root, channel, 1)
        data = command_data(
            self.state, command, path, options, user=plain, channel=channel, focused=focused
        )
        return self._new_interaction(
            InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE, data, plain, channel, name=name
        )

    async def click_button(
        self,
        message: Message,
        *,
        user: Who,
        label: str | None = None,
        custom_id: str | None = None,
    ) -> Interaction:
        """A user clicks an enabled, non-link button on ``message`` (by label or custom_id)."""
        plain = self.state.resolve_user(user)
        button = message.button(label=label, custom_id=custom_id)
        if button.get("disabled"):
            raise CommandInvocationError(f"button {button.get('label')!r} is disabled")
        if button.get("style") in (5, 6) or "custom_id" not in button:
            raise CommandInvocationError("link / premium buttons do not send interactions")
        self._check_can_see(message, plain)
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return self._new_interaction(
            InteractionType.MESSAGE_COMPONENT,
            data,
            plain,
            message.channel,
            custom_id=button["custom_id"],
            source_message=message,
        )

    async def select_options(
        self, message: Message, *, user: Who, custom_id: str, values: list[str]
    ) -> Interaction:
        """A user picks ``values`` in the string select menu ``custom_id`` on ``message``."""
        plain = self.state.resolve_user(user)
        menu = next((c for c in message.iter_components() if c.get("custom_id") == custom_id), None)
        if menu is None or menu.get("type") != 3:
            raise CommandInvocationError(f"no string select {custom_id!r} on message {message.id}")
        offered = [o["value"] for o in menu.get("options", [])]
        if any(v not in offered for v in values):
            raise CommandInvocationError(f"values {values} not among {offered}")
        self._check_can_see(message, plain)
        data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
        return self._new_interaction(
            InteractionType.MESSAGE_COMPONENT,
            data,
            plain,
            message.channel,
            custom_id=custom_id,
            source_message=message,
        )

    async def submit_modal(
        self, opened_by: Interaction, values: Mapping[str, str], *, user: Who | None = None
    ) -> Interaction:
        """Submit the modal the bot opened in answer to ``opened_by`` (text inputs by custom_id)."""
        if opened_by.modal is None:
            raise CommandInvocationError("that interaction was not answered with a modal")
        plain = self.state.resolve_user(user) if user is not None else opened_by.user
        data = {
            "custom_id": opened_by.modal["custom_id"],
            "components": modal_submit_components(opened_by.modal, values),
        }
        return self._new_interaction(
            InteractionType.MODAL_SUBMIT,
            data,
            plain,
            opened_by.channel,
            custom_id=opened_by.modal["custom_id"],
            source_message=opened_by.source_message,
        )

    def _check_can_see(self, message: Message, user: User) -> None:
        if message.ephemeral:
            owner = (message.interaction_metadata or {}).get("user", {}).get("id")
            if owner != str(user.id):
                raise CommandInvocationError(
                    "only the user who got an ephemeral message can use it"
                )
        elif message.guild is not None and not (
            message.guild.member(user).permissions_in(message.channel) & Permission.VIEW_CHANNEL
        ):
            raise CommandInvocationError(f"{user.username} cannot see #{message.channel.name}")

    def _new_interaction(
        self,
        kind: int,
        data: JSON,
        user: User,
        channel: Channel,
        *,
        name: str | None = None,
        custom_id: str | None = None,
        source_message: Message | None = None,
        permissions: int | None = None,
        app_permissions: int | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        inter_id, token, payload = interaction_payload(
            self.state,
            kind=kind,
            data=data,
            user=user,
            channel=channel,
            permissions=permissions,
            app_permissions=app_permissions,
            locale=locale,
            message=source_message,
        )
        inter = Interaction(
            created_at=self.clock(),
            id=inter_id,
            token=token,
            type=kind,
            payload=payload,
            user=user,
            channel=channel,
            name=name,
            custom_id=custom_id,
            source_message=source_message,
        )
        return self._dispatch_interaction(inter)

    # -- waiting -------------------------------------------------------------------------
    async def wait_until(
        self,
        predicate: Callable[[], T],
        *,
        timeout: float = 5.0,
        description: str | Callable[[], str] = "condition",
    ) -> T:
        """Wait for ``predicate()`` to be truthy (re-checked on every emulator change)."""
        return await self.notifier.wait_until(predicate, timeout=timeout, description=description)

    async def wait_for_response(
        self,
        interaction: Interaction,
        *,
        predicate: Callable[[Interaction], bool] | None = None,
        timeout: float = 5.0,
    ) -> Interaction:
        """Wait until the user sees an answer (a message, filled-in defer, edit, modal, choices).

        With ``predicate``, wait until ``predicate(interaction)`` instead (e.g. two follow-ups).
        """
        check = predicate or (lambda i: i.has_visible_response())

        def describe() -> str:
            return (
                f"a response to interaction {interaction.name or interaction.custom_id!r}; "
                f"so far: {[kind for kind, _ in interaction.log]}; "
                f"recent requests: {self._recent_requests()}"
            )

        return await self.wait_until(
            lambda: interaction if check(interaction) else None,
            timeout=timeout,
            description=describe,
        )

    async def wait_for_message(
        self,
        *,
        channel: Channel | None = None,
        author: Who | None = None,
        after: Message | None = None,
        predicate: Callable[[Message], bool] | None = None,
        timeout: float = 5.0,
    ) -> Message:
        """The first non-deleted channel message matching every given filter.

        ``author`` defaults to the bot; ``after`` keeps only messages newer than that one.
        """
        author_id = self.state.resolve_user(author).id if author is not None else self.bot_user.id

        def find() -> Message | None:
            for message in self.state.all_messages():
                if message.deleted or message.author.id != author_id:
                    continue
                if channel is not None and message.channel is not channel:
                    continue
                if after is not None and message.id <= after.id:
                    continue
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.wait_until(
            find,
            timeout=timeout,
            description=lambda: (
                f"a message (channel={getattr(channel, 'name', None)}); "
                f"recent requests: {self._recent_requests()}"
            ),
        )

    async def wait_for_reply(self, to: Message, *, timeout: float = 5.0) -> Message:
        """The bot's reply (message_reference) to ``to``."""
        return await self.wait_for_message(
            channel=to.channel, predicate=lambda m: m.reference is to, timeout=timeout
        )

    async def wait_for_request(
        self,
        method: str,
        route: str,
        *,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """The ``count``-th recorded request to (method, route template) matching ``predicate``."""
        self._check_route(route)

        def find() -> RecordedRequest | None:
            found = [
                r for r in self.requests_to(method, route) if predicate is None or predicate(r)
            ]
            return found[count - 1] if len(found) >= count else None

        return await self.wait_until(
            find, timeout=timeout, description=f"request #{count} to {method} {route}"
        )

    async def wait_for_ready(self, count: int = 1, *, timeout: float = 5.0) -> Session:
        """Wait until READY has been sent ``count`` times (i.e. the count-th IDENTIFY)."""
        await self.wait_until(
            lambda: self.gateway.ready_count >= count,
            timeout=timeout,
            description=f"READY #{count}",
        )
        session = self.gateway.session
        assert session is not None
        return session

    async def wait_for_resumed(self, count: int = 1, *, timeout: float = 5.0) -> Session:
        """Wait until RESUMED has been sent ``count`` times."""
        await self.wait_until(
            lambda: self.gateway.resumed_count >= count,
            timeout=timeout,
            description=f"RESUMED #{count}",
        )
        session = self.gateway.session
        assert session is not None
        return session

    # -- recorded traffic ----------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request the bot made, in order (unknown routes included)."""
        return self.rest.requests

    @property
    def unknown_requests(self) -> list[RecordedRequest]:
        """Requests to routes the emulator does not implement (answered 404/405)."""
        return self.rest.unknown_requests

    def requests_to(
        self, method: str | None = None, route: str | None = None
    ) -> list[RecordedRequest]:
        return [r for r in self.rest.requests if r.matches(method, route)]

    def _recent_requests(self, n: int = 8) -> list[str]:
        return [f"{r.method} {r.path} -> {r.status}" for r in self.rest.requests[-n:]]

    def raise_for_errors(self) -> None:
        """Raise ``EmulatorError`` if a handler crashed (an emulator bug, not a bot bug)."""
        if self.rest.errors:
            raise EmulatorError("the Discord emulator failed:\n" + "\n".join(self.rest.errors))

    # -- faults --------------------------------------------------------------------------
    @property
    def routes(self) -> set[str]:
        """Every route template the emulator serves (for ``rate_limit`` / ``fail`` / waits)."""
        return self.router.templates

    def _check_route(self, route: str) -> None:
        if route not in self.router.templates:
            raise ValueError(
                f"unknown route template {route!r}; known: {sorted(self.router.templates)}"
            )

    def rate_limit(
        self,
        method: str,
        route: str,
        *,
        times: int = 1,
        retry_after: float = 0.05,
        is_global: bool = False,
    ) -> Fault:
        """Answer the next ``times`` requests to (method, route template) with a 429."""
        self._check_route(route)
        fault = rate_limit_fault(
            method, route, times=times, retry_after=retry_after, is_global=is_global
        )
        self.rest.faults.append(fault)
        return fault

    def fail(
        self,
        method: str,
        route: str,
        *,
        status: int,
        code: int = 0,
        message: str | None = None,
        times: int = 1,
    ) -> Fault:
        """Answer the next ``times`` requests to (method, route template) with an error."""
        self._check_route(route)
        fault = error_fault(method, route, status=status, code=code, message=message, times=times)
        self.rest.faults.append(fault)
        return fault
