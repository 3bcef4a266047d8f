"""Discord's errors and the message-body limits it enforces.

``DiscordAPIError`` is raised by REST handlers and rendered as Discord's JSON error body.
``validate_message`` applies the limits that bite real bots (2000-character content,
embed sizes, component counts, empty messages, malformed allowed_mentions, embed colours) and
answers the same ``50035 Invalid Form Body`` / ``50006`` errors Discord does, so a bot that
would be rejected in production is rejected here too. Like Discord, text is measured after
trimming leading and trailing whitespace (``discord_trim``): a 2,000-character content with a
trailing newline is accepted, and a whitespace-only field value or content counts as empty.
"""

from __future__ import annotations

import re
from typing import Any

JSON = dict[str, Any]


class DiscordAPIError(Exception):
    """An error response in Discord's shape: ``{"message", "code"[, "errors"]}``."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def not_found(code: int, what: str) -> DiscordAPIError:
    return DiscordAPIError(404, code, f"Unknown {what}")


def form_error(path: list[str | int], code: str, message: str) -> DiscordAPIError:
    """A 50035 Invalid Form Body naming one field."""
    errors = _Errors()
    errors.add(path, code, message)
    return DiscordAPIError(400, INVALID_FORM_BODY, "Invalid Form Body", errors.tree)


UNKNOWN_CHANNEL = 10003
UNKNOWN_GUILD = 10004
UNKNOWN_MESSAGE = 10008
UNKNOWN_USER = 10013
UNKNOWN_WEBHOOK = 10015
UNKNOWN_INTERACTION = 10062
MISSING_ACCESS = 50001
CANNOT_DM_USER = 50007
INVALID_WEBHOOK_TOKEN = 50027
CANNOT_EDIT_OTHERS_MESSAGE = 50005
EMPTY_MESSAGE = 50006
MISSING_PERMISSIONS = 50013
INVALID_FORM_BODY = 50035
ALREADY_ACKNOWLEDGED = 40060
INVALID_CHANNEL_TYPE = 50024
CANNOT_REPLY_WITHOUT_HISTORY = 160002
THREAD_ALREADY_CREATED = 160004

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_LIMITS = {"title": 256, "description": 4096}
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_NAME_MAX = 256
ACTION_ROWS_MAX = 5
ROW_ITEMS_MAX = 5
BUTTON_LABEL_MAX = 80
CUSTOM_ID_MAX = 100
COMPONENTS_V2_FLAG = 1 << 15
COLOR_MAX = 0xFFFFFF
MENTION_PARSE_TYPES = ("users", "roles", "everyone")


class _Errors:
    """Collects field errors into Discord's nested ``errors`` structure."""

    def __init__(self) -> None:
        self.tree: JSON = {}

    def add(self, path: list[str | int], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def raise_if_any(self) -> None:
        if self.tree:
            raise DiscordAPIError(400, INVALID_FORM_BODY, "Invalid Form Body", self.tree)


def discord_trim(value: Any) -> str:
    """The text as Discord stores and measures it: leading/trailing whitespace removed
    (zero-width spaces are not whitespace and stay)."""
    return "" if value is None else str(value).strip()


def _max_len(errors: _Errors, path: list[str | int], value: Any, limit: int) -> int:
    if value is None:
        return 0
    text = discord_trim(value)
    if len(text) > limit:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return len(text)


def _check_url(errors: _Errors, path: list[str | int], value: Any) -> None:
    if value is not None and not str(value).startswith(("http://", "https://", "attachment://")):
        errors.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")


def _check_color(errors: _Errors, path: list[str | int], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')
    elif value < 0:
        errors.add(path, "NUMBER_TYPE_MIN", "int value should be greater than or equal to 0.")
    elif value > COLOR_MAX:
        errors.add(
            path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {COLOR_MAX}."
        )


def _validate_embeds(errors: _Errors, embeds: list[JSON]) -> None:
    if len(embeds) > EMBEDS_MAX:
        errors.add(["embeds"], "BASE_TYPE_MAX_LENGTH", f"Must be {EMBEDS_MAX} or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        base: list[str | int] = ["embeds", i]
        for key, limit in EMBED_LIMITS.items():
            total += _max_len(errors, [*base, key], embed.get(key), limit)
        _check_url(errors, [*base, "url"], embed.get("url"))
        _check_color(errors, [*base, "color"], embed.get("color"))
        fields = embed.get("fields") or []
        if len(fields) > FIELDS_MAX:
            errors.add(
                [*base, "fields"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {FIELDS_MAX} or fewer in length.",
            )
        for j, fld in enumerate(fields):
            for key, limit in (("name", FIELD_NAME_MAX), ("value", FIELD_VALUE_MAX)):
                if not discord_trim(fld.get(key)):
                    errors.add(
                        [*base, "fields", j, key], "BASE_TYPE_REQUIRED", "This field is required"
                    )
                total += _max_len(errors, [*base, "fields", j, key], fld.get(key), limit)
        total += _max_len(
            errors, [*base, "footer", "text"], (embed.get("footer") or {}).get("text"), FOOTER_MAX
        )
        total += _max_len(
            errors,
            [*base, "author", "name"],
            (embed.get("author") or {}).get("name"),
            AUTHOR_NAME_MAX,
        )
        for key in ("thumbnail", "image"):
            _check_url(errors, [*base, key, "url"], (embed.get(key) or {}).get("url"))
    if total > EMBED_TOTAL_MAX:
        errors.add(
            ["embeds"],
            "MESSAGE_EMBEDS_TOO_LONG",
            f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
        )


def _validate_components(errors: _Errors, components: list[JSON], flags: int) -> None:
    if flags & COMPONENTS_V2_FLAG:
        return  # layout components: only the custom-id checks below apply
    if len(components) > ACTION_ROWS_MAX:
        errors.add(
            ["components"], "BASE_TYPE_MAX_LENGTH", f"Must be {ACTION_ROWS_MAX} or fewer in length."
        )
    for i, row in enumerate(components):
        if row.get("type") != 1:
            errors.add(
                ["components", i, "type"],
                "UNION_TYPE_CHOICES",
                "Top-level components must be action rows.",
            )
            continue
        items = row.get("components") or []
        if not items or len(items) > ROW_ITEMS_MAX:
            errors.add(
                ["components", i, "components"],
                "BASE_TYPE_BAD_LENGTH",
                f"Must be between 1 and {ROW_ITEMS_MAX} in length.",
            )
        for j, item in enumerate(items):
            path: list[str | int] = ["components", i, "components", j]
            if item.get("type") == 2:
                _max_len(errors, [*path, "label"], item.get("label"), BUTTON_LABEL_MAX)
                if item.get("style") == 5:
                    if not item.get("url") or item.get("custom_id"):
                        errors.add(
                            path, "COMPONENT_INVALID", "Link buttons need a url and no custom_id."
                        )
                    _check_url(errors, [*path, "url"], item.get("url"))
                elif not item.get("custom_id") and item.get("style") != 6:
                    errors.add([*path, "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")


def _validate_custom_ids(errors: _Errors, components: list[JSON]) -> None:
    seen: set[str] = set()

    def walk(items: list[JSON]) -> None:
        for item in items:
            custom_id = item.get("custom_id")
            if custom_id is not None:
                if len(str(custom_id)) > CUSTOM_ID_MAX:
                    errors.add(
                        ["components"],
                        "BASE_TYPE_MAX_LENGTH",
                        f"custom_id must be {CUSTOM_ID_MAX} or fewer in length.",
                    )
                if custom_id in seen:
                    errors.add(
                        ["components"],
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                seen.add(custom_id)
            walk(item.get("components") or [])
            for key in ("accessory", "component"):
                if isinstance(item.get(key), dict):
                    walk([item[key]])

    walk(components)


def _validate_allowed_mentions(errors: _Errors, allowed: JSON | None) -> None:
    if allowed is None:
        return
    if not isinstance(allowed, dict):
        errors.add(["allowed_mentions"], "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        return
    parse = allowed.get("parse") or []
    if not isinstance(parse, list):
        errors.add(
            ["allowed_mentions", "parse"], "LIST_TYPE_CONVERT", "Only iterables may be used."
        )
        parse = []
    for i, kind in enumerate(parse):
        if kind not in MENTION_PARSE_TYPES:
            errors.add(
                ["allowed_mentions", "parse", i],
                "ENUM_TYPE_COERCE",
                f'Value "{kind}" is not a valid enum value.',
            )
    for kind in ("users", "roles"):
        ids = allowed.get(kind) or []
        if not isinstance(ids, list):
            errors.add(
                ["allowed_mentions", kind], "LIST_TYPE_CONVERT", "Only iterables may be used."
            )
            continue
        for i, entry in enumerate(ids):
            if not str(entry).isdigit():
                errors.add(
                    ["allowed_mentions", kind, i], "NUMBER_TYPE_COERCE", "Value is not snowflake."
                )
        if kind in parse and allowed.get(kind):
            errors.add(
                ["allowed_mentions", kind],
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
        if len(ids) > 100:
            errors.add(
                ["allowed_mentions", kind],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            )
    replied = allowed.get("replied_user")
    if replied is not None and not isinstance(replied, bool):
        errors.add(
            ["allowed_mentions", "replied_user"],
            "BOOLEAN_TYPE_COERCE",
            "Must be either true or false.",
        )


def validate_message(
    body: JSON, *, file_count: int = 0, creating: bool = True, existing_has_content: bool = False
) -> None:
    """Raise ``DiscordAPIError`` if Discord would reject this message create/edit body."""
    errors = _Errors()
    _max_len(errors, ["content"], body.get("content"), CONTENT_MAX)
    embeds = body.get("embeds") or []
    _validate_embeds(errors, embeds)
    components = body.get("components") or []
    flags = int(body.get("flags") or 0)
    _validate_components(errors, components, flags)
    _validate_custom_ids(errors, components)
    _validate_allowed_mentions(errors, body.get("allowed_mentions"))
    errors.raise_if_any()
    if creating and not existing_has_content:
        has_something = (
            bool(discord_trim(body.get("content")))
            or bool(embeds)
            or bool(components)
            or file_count > 0
            or bool(body.get("sticker_ids"))
            or bool(body.get("poll"))
        )
        if not has_something:
            raise DiscordAPIError(400, EMPTY_MESSAGE, "Cannot send an empty message")


def validate_modal(body: JSON) -> None:
    errors = _Errors()
    _max_len(errors, ["data", "title"], body.get("title"), 45)
    if not body.get("custom_id"):
        errors.add(["data", "custom_id"], "BASE_TYPE_REQUIRED", "This field is required")
    components = body.get("components") or []
    if not 1 <= len(components) <= 5:
        errors.add(
            ["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
    errors.raise_if_any()


COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


def _validate_options(errors: _Errors, path: list[str | int], options: list[JSON]) -> None:
    if len(options) > 25:
        errors.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for i, option in enumerate(options):
        here: list[str | int] = [*path, i]
        name = str(option.get("name", ""))
        if not COMMAND_NAME_RE.match(name) or name != name.lower():
            errors.add(
                [*here, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if name in names:
            errors.add(
                [*here, "name"],
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(name)
        if not 1 <= len(str(option.get("description", ""))) <= 100:
            errors.add(
                [*here, "description"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if option.get("type") in (1, 2):
            _validate_options(errors, [*here, "options"], option.get("options") or [])
            continue
        if option.get("required"):
            if seen_optional:
                errors.add(
                    here,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        if len(option.get("choices") or []) > 25:
            errors.add([*here, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")


def validate_commands(payloads: list[JSON]) -> None:
    """Reject command bodies Discord would refuse on a bulk overwrite (names, lengths, order)."""
    errors = _Errors()
    if len(payloads) > 100:
        errors.add([], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    seen: set[tuple[str, int]] = set()
    for i, command in enumerate(payloads):
        kind = int(command.get("type", 1))
        name = str(command.get("name", ""))
        if kind == 1:
            if not COMMAND_NAME_RE.match(name) or name != name.lower():
                errors.add(
                    [i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
                )
            if not 1 <= len(str(command.get("description", ""))) <= 100:
                errors.add(
                    [i, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            _validate_options(errors, [i, "options"], command.get("options") or [])
        elif not 1 <= len(name) <= 32:
            errors.add([i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        if (name, kind) in seen:
            errors.add(
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        seen.add((name, kind))
    errors.raise_if_any()
