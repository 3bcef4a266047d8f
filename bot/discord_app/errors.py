"""The one place errors become a user-facing line.

Expected problems (a refusal, a NewsbotError from the engine, a bad option) are shown as-is,
ephemerally. Anything else gets a short apology with an error id, and the traceback is logged
with the same id so an operator can find it.
"""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands

from bot.discord_app.render.spec import CONTENT_LIMIT
from bot.discord_app.render.text import neutralize_mentions, trim
from bot.discord_app.tokens import (
    PUBLIC_PLACEHOLDER,
    private_after_public,
    refused_token,
    token_expired,
)
from index.errors import ConfigError, NewsbotError, StoreTimedOut, StoreUnavailable

log = logging.getLogger("newsbot.discord")

TOKEN_HELP = (
    "Get one in the Discord developer portal (https://discord.com/developers/applications) → "
    "your application → Bot → Reset Token, then set it as DISCORD_TOKEN."
)

# What an asker sees while the store's database cannot be reached: nothing of the internals
# (no host, no driver message), and the bot gets on by itself once the server is back.
STORE_UNAVAILABLE = "The news store is unreachable right now; try again in a moment."
# What an asker sees when the answer did not come in time: the question's deadline
# (discord.answer_timeout_s) passed, or the database cancelled a read that ran past
# [store] statement_timeout_s (a lock held elsewhere, a frozen or overloaded server).
TOOK_TOO_LONG = "That took too long; try again in a moment."

# key in Interaction.extras set once a command has sent its real reply: an error after that
# must not overwrite it
REPLIED = "newsbot_replied"


class MissingToken(ConfigError):
    def __init__(self) -> None:
        super().__init__(f"No Discord bot token is configured. {TOKEN_HELP}")


class LoginRejected(NewsbotError):
    def __init__(self) -> None:
        super().__init__(
            "Discord rejected the bot token (DISCORD_TOKEN): it is wrong or was reset. "
            + TOKEN_HELP
        )


class Refusal(app_commands.CheckFailure):
    """A polite no, shown to the user as-is (ephemeral where possible)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class NotAdmin(Refusal):
    def __init__(self) -> None:
        super().__init__(
            "Only members with Manage Server (or a bot admin role) can manage the news index."
        )


class NotAllowedHere(Refusal):
    pass


class Busy(Refusal):
    pass


class TookTooLong(Refusal):
    """A question's deadline passed (NewsBot.deadline): no answer is coming for it."""

    def __init__(self) -> None:
        super().__init__(TOOK_TOO_LONG)


def new_error_id() -> str:
    return secrets.token_hex(4)


def _unwrap(error: BaseException) -> BaseException:
    seen = 0
    while isinstance(error, (app_commands.CommandInvokeError,)) and seen < 5:
        error = error.original
        seen += 1
    return error


def store_unreachable(error: BaseException) -> bool:
    """The store's database is away (StoreUnavailable, or the driver's own connection error
    when it reached us unwrapped): a passing fault, not a bug."""
    if isinstance(error, StoreUnavailable):
        return True
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # pragma: no cover - both are dependencies
        return False
    return isinstance(error, psycopg.OperationalError | psycopg_pool.PoolTimeout)


def store_too_slow(error: BaseException) -> bool:
    """The store's database cancelled a read for its statement or lock timeout."""
    if isinstance(error, StoreTimedOut):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - a dependency
        return False
    return isinstance(error, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable)


def describe_error(error: BaseException, *, public: bool = False) -> tuple[str, str | None]:
    """(the line to show, an error id or None when the error is an expected one).

    `public`: the line goes where everyone in the channel reads it (the mention path), so
    only the bot's own refusals are shown as they are; anything else, an engine error
    included, is the short apology with an error id. The caller logs; this only decides
    what the user sees.
    """
    error = _unwrap(error)
    if isinstance(error, Refusal):
        return error.text, None
    if store_too_slow(error):
        return TOOK_TOO_LONG, None
    if store_unreachable(error):
        return STORE_UNAVAILABLE, None
    if public:
        eid = new_error_id()
        return f"Something went wrong on my side (error id {eid}). Please try again later.", eid
    if isinstance(error, NewsbotError):
        return str(error) or "That didn't work.", None
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command works only in a server.", None
    if isinstance(error, app_commands.MissingPermissions):
        perms = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"You need the {perms} permission for this.", None
    if isinstance(error, app_commands.BotMissingPermissions):
        perms = ", ".join(p.replace("_", " ") for p in error.missing_permissions)
        return f"I need the {perms} permission here.", None
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {max(1, round(error.retry_after))} s.", None
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here.", None
    if isinstance(error, app_commands.TransformerError):
        return (
            f"I couldn't use {str(error.value)[:100]!r} for that option "
            "(is it in this server, and can I see it?).",
            None,
        )
    if isinstance(error, (app_commands.CommandNotFound, app_commands.CommandSignatureMismatch)):
        return (
            "This command is out of date. An admin needs to run `newsbot sync` to update it.",
            None,
        )
    eid = new_error_id()
    if isinstance(error, discord.Forbidden):
        return f"I don't have permission to do that here (error id {eid}).", eid
    return f"Something went wrong on my side (error id {eid}). Please try again later.", eid


def log_error(error: BaseException, eid: str | None, where: str) -> None:
    inner = _unwrap(error)
    if isinstance(inner, TookTooLong):
        log.warning("%s: no answer within its deadline (discord.answer_timeout_s)", where)
    elif store_too_slow(inner):
        log.warning("%s: the store took too long: %s", where, inner)
    elif store_unreachable(inner):
        log.warning("%s: the store is unreachable: %s", where, inner)
    elif eid is None:
        log.info("%s: %s: %s", where, type(inner).__name__, inner)
    else:
        log.error("error %s in %s", eid, where, exc_info=(type(inner), inner, inner.__traceback__))


def user_line(text: str) -> str:
    return trim(neutralize_mentions(text), CONTENT_LIMIT)


async def reply_to_interaction(interaction: discord.Interaction, text: str) -> None:
    """Show `text` to the user alone: ephemeral when possible; after a private "thinking…"
    deferral the placeholder is replaced; after a public one (/ask) the text goes in a
    private follow-up and the placeholder is removed (tokens.private_after_public). Nothing
    is tried with a token Discord no longer takes."""
    text = user_line(text)
    response = interaction.response
    try:
        if not response.is_done():
            await response.send_message(text, ephemeral=True)
        elif token_expired(interaction):
            log.info("no error reply (the interaction's token has expired): %s", text)
        elif (
            response.type == discord.InteractionResponseType.deferred_channel_message
            and not interaction.extras.get(REPLIED)
        ):
            if interaction.extras.get(PUBLIC_PLACEHOLDER):
                await private_after_public(interaction, text)
            else:
                await interaction.edit_original_response(content=text, embeds=[], view=None)
        else:
            await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:
        refused_token(interaction, exc)
        log.warning("could not send an error reply: %s", exc)


def describe_interaction(interaction: discord.Interaction) -> str:
    cmd = interaction.command
    name = (
        f"/{cmd.qualified_name}"
        if cmd is not None
        else (f"component {(interaction.data or {}).get('custom_id', '?')}")
    )
    return f"{name} (user {interaction.user.id}, guild {interaction.guild_id})"


async def handle_interaction_error(interaction: discord.Interaction, error: BaseException) -> None:
    """The central handler for slash commands and buttons."""
    text, eid = describe_error(error)
    log_error(error, eid, describe_interaction(interaction))
    await reply_to_interaction(interaction, text)


class NewsCommandTree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        await handle_interaction_error(interaction, error)
