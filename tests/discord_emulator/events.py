"""Telling the connected bot about message changes, as Discord's gateway would.

Every non-ephemeral message create / edit / delete (the bot's own included, and interaction
responses) is dispatched as MESSAGE_CREATE / MESSAGE_UPDATE / MESSAGE_DELETE, subject to
intents: GUILD_MESSAGES (guild channels) or DIRECT_MESSAGES (DMs), and without the
MESSAGE_CONTENT intent the content, embeds, attachments and components are blanked unless
the message is the bot's own, a DM, or mentions the bot.
"""

from __future__ import annotations

from .gateway import Gateway, Session
from .intents import Intent
from .models import JSON, Message


def _content_visible(session: Session, message: Message, bot_id: int) -> bool:
    return (
        session.has_intent(Intent.MESSAGE_CONTENT)
        or message.guild is None
        or message.author.id == bot_id
        or bot_id in message.pinged_user_ids
    )


def _blank_content(payload: JSON) -> JSON:
    return {**payload, "content": "", "embeds": [], "attachments": [], "components": []}


class MessageEvents:
    """Dispatches message lifecycle events for stored messages."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def _intent(self, message: Message) -> Intent:
        return Intent.DIRECT_MESSAGES if message.guild is None else Intent.GUILD_MESSAGES

    def _send(self, event: str, message: Message, payload: JSON) -> int:
        bot_id = self._gateway.state.bot_user.id

        def transform(session: Session, data: JSON) -> JSON:
            return data if _content_visible(session, message, bot_id) else _blank_content(data)

        return self._gateway.broadcast(
            event, payload, guild=message.guild, intent=self._intent(message), transform=transform
        )

    def created(self, message: Message) -> int:
        if message.ephemeral:
            return 0
        return self._send("MESSAGE_CREATE", message, message.to_payload(with_member=True))

    def updated(self, message: Message) -> int:
        if message.ephemeral:
            return 0
        return self._send("MESSAGE_UPDATE", message, message.to_payload(with_member=True))

    def deleted(self, message: Message) -> int:
        if message.ephemeral:
            return 0
        payload: JSON = {"id": str(message.id), "channel_id": str(message.channel.id)}
        if message.guild is not None:
            payload["guild_id"] = str(message.guild.id)
        return self._gateway.broadcast(
            "MESSAGE_DELETE", payload, guild=message.guild, intent=self._intent(message)
        )
