"""REST routes for answering interactions: the callback, webhook follow-ups and edits.

Behaviour copied from Discord:

* the callback must come within ``interaction_ack_timeout`` seconds (3 on Discord) and only
  once (else 10062 Unknown interaction / 40060 already acknowledged), with a callback type
  valid for the interaction type;
* ``with_response`` (discord.py sends it) returns the callback resource with the message;
* DEFERRED (5) posts a "thinking" message (flag LOADING); the first follow-up after it
  fills in that message rather than creating a new one, keeping the defer's ephemerality;
* DEFERRED_UPDATE (6) / UPDATE_MESSAGE (7) act on the message holding the component;
* follow-ups need a prior callback (10015 Unknown Webhook otherwise); ``@original`` and
  follow-up ids can be fetched, edited and deleted;
* the token works for ``interaction_token_ttl`` seconds (15 minutes on Discord, measured on
  ``emu.clock()`` so tests can ``advance_time``); after that every webhook route answers
  401 50027 Invalid Webhook Token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .interactions import ALLOWED_CALLBACKS, CallbackType, Interaction, InteractionType
from .messages import INTERACTION_CREATE_FLAGS, create_bot_message, edit_message
from .models import JSON, Message, MessageFlags, MessageType
from .recording import RecordedRequest
from .rest import Reply, Router
from .validation import (
    ALREADY_ACKNOWLEDGED,
    INVALID_FORM_BODY,
    INVALID_WEBHOOK_TOKEN,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    DiscordAPIError,
    not_found,
    validate_message,
    validate_modal,
)

if TYPE_CHECKING:
    from .server import DiscordEmulator


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


def _form_error(path: str, message: str) -> DiscordAPIError:
    return DiscordAPIError(
        400,
        INVALID_FORM_BODY,
        "Invalid Form Body",
        {path: {"_errors": [{"code": "INTERACTION_INVALID", "message": message}]}},
    )


class InteractionRoutes:
    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu
        self.state = emu.state

    def register(self, router: Router) -> None:
        router.add(
            "POST", "/interactions/{interaction_id}/{token}/callback", self.callback, auth=False
        )
        router.add("POST", "/webhooks/{application_id}/{token}", self.followup, auth=False)
        message_route = "/webhooks/{application_id}/{token}/messages/{message_id}"
        router.add("GET", message_route, self.get_message, auth=False)
        router.add("PATCH", message_route, self.edit_message, auth=False)
        router.add("DELETE", message_route, self.delete_message, auth=False)

    # -- helpers -------------------------------------------------------------------------
    def _metadata(self, inter: Interaction) -> JSON:
        metadata: JSON = {
            "id": str(inter.id),
            "type": inter.type,
            "user": inter.user.to_payload(),
            "authorizing_integration_owners": inter.payload.get(
                "authorizing_integration_owners", {}
            ),
        }
        if inter.name is not None:
            metadata["name"] = inter.name
        if inter.source_message is not None:
            metadata["interacted_message_id"] = str(inter.source_message.id)
        return metadata

    def _message_type(self, inter: Interaction) -> int:
        if inter.type == InteractionType.APPLICATION_COMMAND:
            data_type = inter.payload["data"].get("type", 1)
            return (
                MessageType.CHAT_INPUT_COMMAND
                if data_type == 1
                else MessageType.CONTEXT_MENU_COMMAND
            )
        return MessageType.DEFAULT

    def _new_message(
        self,
        inter: Interaction,
        body: JSON,
        req: RecordedRequest,
        *,
        extra_flags: int = 0,
        validate: bool = True,
    ) -> Message:
        return create_bot_message(
            self.state,
            inter.channel,
            body,
            req.files,
            allowed_flags=INTERACTION_CREATE_FLAGS,
            extra_flags=extra_flags,
            message_type=self._message_type(inter),
            webhook_id=self.state.application_id,
            interaction_metadata=self._metadata(inter),
            validate=validate,
        )

    def _by_token(self, req: RecordedRequest) -> Interaction:
        inter = self.emu.interactions_by_token.get(req.params["token"])
        if inter is None or req.params["application_id"] != str(self.state.application_id):
            raise not_found(UNKNOWN_WEBHOOK, "Webhook")
        ttl = self.emu.interaction_token_ttl
        if ttl is not None and self.emu.clock() - inter.created_at > ttl:
            inter.log.append(("expired-token", req.method))
            raise DiscordAPIError(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
        return inter

    def _target(self, inter: Interaction, message_id: str) -> Message:
        if message_id == "@original":
            found = inter.original
        else:
            wanted = int(message_id) if message_id.isdigit() else -1
            candidates = ([inter.original] if inter.original else []) + inter.followups
            found = next((m for m in candidates if m.id == wanted), None)
        if found is None or found.deleted:
            raise not_found(UNKNOWN_MESSAGE, "Message")
        return found

    def _done(self, inter: Interaction, kind: str, entry: object) -> None:
        inter.log.append((kind, entry))
        self.emu.notifier.notify()

    # -- callback ------------------------------------------------------------------------
    async def callback(self, req: RecordedRequest) -> Reply:
        inter = self.emu.interactions.get(int(req.params["interaction_id"]))
        if inter is None or inter.token != req.params["token"]:
            raise not_found(UNKNOWN_INTERACTION, "interaction")
        timeout = self.emu.interaction_ack_timeout
        if timeout is not None and self.emu.clock() - inter.created_at > timeout:
            inter.log.append(("late-callback", req.json))
            raise not_found(UNKNOWN_INTERACTION, "interaction")
        if inter.acknowledged:
            raise DiscordAPIError(
                400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged."
            )
        body = req.json if isinstance(req.json, dict) else {}
        ctype = int(body.get("type", 0))
        data: JSON = body.get("data") or {}
        if ctype not in ALLOWED_CALLBACKS.get(inter.type, set()):
            raise _form_error(
                "type", f"callback type {ctype} is invalid for interaction type {inter.type}"
            )
        message = self._apply_callback(inter, ctype, data, req)
        inter.callback_type, inter.callback_data = ctype, data
        self._done(inter, "callback", message if message is not None else data)
        if not _truthy(req.query.get("with_response")):
            return Reply(204)
        return Reply(body=self._callback_resource(inter, ctype, message))

    def _apply_callback(
        self, inter: Interaction, ctype: int, data: JSON, req: RecordedRequest
    ) -> Message | None:
        if ctype == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE:
            inter.original = self._new_message(inter, data, req)
            self.emu.events.created(inter.original)
            return inter.original
        if ctype == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            ephemeral = int(data.get("flags") or 0) & MessageFlags.EPHEMERAL
            inter.deferred_ephemeral = bool(ephemeral)
            inter.original = self._new_message(
                inter, {}, req, extra_flags=MessageFlags.LOADING | ephemeral, validate=False
            )
            self.emu.events.created(inter.original)
            return inter.original
        if ctype in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            if inter.source_message is None:
                raise _form_error("type", "only valid for interactions on a message component")
            inter.original = inter.source_message
            if ctype == CallbackType.UPDATE_MESSAGE:
                edit_message(self.state, inter.original, data, req.files)
                self.emu.events.updated(inter.original)
            return inter.original
        if ctype == CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise _form_error("data", "at most 25 choices")
            inter.autocomplete_choices = choices
            return None
        validate_modal(data)
        inter.modal = data
        return None

    def _callback_resource(self, inter: Interaction, ctype: int, message: Message | None) -> JSON:
        summary: JSON = {"id": str(inter.id), "type": inter.type}
        resource: JSON = {"type": ctype}
        if message is not None:
            summary["response_message_id"] = str(message.id)
            summary["response_message_loading"] = message.loading
            summary["response_message_ephemeral"] = message.ephemeral
            resource["message"] = message.to_payload()
        return {"interaction": summary, "resource": resource}

    # -- webhook follow-ups and edits ----------------------------------------------------
    async def followup(self, req: RecordedRequest) -> Reply:
        inter = self._by_token(req)
        if not inter.acknowledged:
            raise not_found(UNKNOWN_WEBHOOK, "Webhook")
        body = req.json if isinstance(req.json, dict) else {}
        validate_message(body, file_count=len(req.files))
        original = inter.original
        if (
            inter.callback_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            and original is not None
            and original.loading
        ):
            edit_message(self.state, original, body, req.files, validate=False)
            message = original
            self.emu.events.updated(message)
        else:
            message = self._new_message(inter, body, req, validate=False)
            inter.followups.append(message)
            self.emu.events.created(message)
        self._done(inter, "followup", message)
        if not _truthy(req.query.get("wait")):
            return Reply(204)
        return Reply(body=message.to_payload())

    async def get_message(self, req: RecordedRequest) -> Reply:
        inter = self._by_token(req)
        return Reply(body=self._target(inter, req.params["message_id"]).to_payload())

    async def edit_message(self, req: RecordedRequest) -> Reply:
        inter = self._by_token(req)
        message = self._target(inter, req.params["message_id"])
        edit_message(self.state, message, req.json if isinstance(req.json, dict) else {}, req.files)
        self.emu.events.updated(message)
        self._done(inter, "edit", message)
        return Reply(body=message.to_payload())

    async def delete_message(self, req: RecordedRequest) -> Reply:
        inter = self._by_token(req)
        message = self._target(inter, req.params["message_id"])
        message.deleted = True
        self.emu.events.deleted(message)
        self._done(inter, "delete", message)
        return Reply(204)
