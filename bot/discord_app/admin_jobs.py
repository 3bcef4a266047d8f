"""How a /news job runs: its input checked (URLs, attachments, the server's own collection),
its turn in the admin lane with throttled progress edits in the deferred reply, and its summary
delivered privately (the reply, else a DM, else /news stats; never the channel)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import discord
from discord import app_commands

from bot.discord_app.errors import REPLIED, Refusal
from bot.discord_app.render.admin import human_bytes, render_progress
from bot.discord_app.render.text import safe_text, trim
from bot.discord_app.shared import NewsBotLike
from bot.discord_app.tokens import edit_original
from index.collections import guild_collection

log = logging.getLogger("newsbot.discord")

ALLOWED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".json", ".jsonl")
MAX_URLS = 20
PROGRESS_INTERVAL_S = 2.0


def parse_http_urls(text: str, *, limit: int = MAX_URLS) -> list[str]:
    """Whitespace-separated http(s) URLs; a Refusal naming the first bad one otherwise."""
    urls = [u.strip("<>") for u in text.split()]
    if not urls:
        raise Refusal("Give at least one URL.")
    if len(urls) > limit:
        raise Refusal(f"At most {limit} URLs at a time, please.")
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise Refusal(
                f"{trim(safe_text(u), 200)} is not an http(s) URL; only web addresses can be added."
            )
    return list(dict.fromkeys(urls))


def check_attachment(filename: str, size: int, max_bytes: int) -> None:
    suffix = PurePosixPath(filename.lower()).suffix
    if suffix not in ALLOWED_SUFFIXES:
        raise Refusal(
            f"I can read {', '.join(ALLOWED_SUFFIXES)} files; "
            f"{trim(safe_text(filename), 100)} is not one of them."
        )
    if size > max_bytes:
        raise Refusal(f"That file is {human_bytes(size)}; the limit is {human_bytes(max_bytes)}.")


def own_collection(interaction: discord.Interaction) -> str:
    """The collection this server's /news commands read and write (never another's)."""
    if interaction.guild_id is None:  # /news is guild-only; interaction_check refuses DMs
        raise app_commands.NoPrivateMessage()
    return guild_collection(interaction.guild_id)


class ProgressEditor:
    """Shows engine progress in the deferred reply, at most one edit per `interval` seconds.

    `report` is the engine's Progress callback: it runs in the worker thread and only hands the
    latest (stage, done, total) to the event loop. An `edit` that returns False (the reply can
    no longer be edited: its token has run out) ends the edits; the job goes on.
    """

    def __init__(
        self,
        edit: Callable[[str], Awaitable[object]],
        loop: asyncio.AbstractEventLoop,
        *,
        interval: float = PROGRESS_INTERVAL_S,
    ) -> None:
        self._edit = edit
        self._loop = loop
        self.interval = interval
        self._latest: tuple[str, int, int] | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._shown: str | None = None
        self.edits = 0

    def report(self, stage: str, done: int, total: int) -> None:  # worker thread
        with contextlib.suppress(RuntimeError):  # loop closed: nobody is watching any more
            self._loop.call_soon_threadsafe(self._update, str(stage), int(done), int(total))

    def _update(self, stage: str, done: int, total: int) -> None:
        self._latest = (stage, done, total)
        self._changed.set()

    async def _run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._latest is None:
                continue
            text = render_progress(*self._latest)
            if text != self._shown:
                try:
                    if await self._edit(text) is False:
                        return
                    self._shown = text
                    self.edits += 1
                except discord.HTTPException as exc:
                    log.debug("progress edit failed: %s", exc)
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> ProgressEditor:
        self._task = asyncio.create_task(self._run(), name="newsbot-progress")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def finish(bot: NewsBotLike, interaction: discord.Interaction, text: str) -> None:
    """The final summary in the deferred private reply. If that can no longer be edited
    (the interaction token lasts 15 minutes: a long rebuild), the admin gets it by DM,
    else /news stats shows it; never the channel."""
    try:
        edited = await edit_original(interaction, content=text, embeds=[], view=None)
    except discord.HTTPException as exc:
        log.warning("could not edit the /news reply (%s); delivering it privately", exc)
        edited = False
    if not edited:  # its token has run out (15 minutes), or Discord refused the edit
        await bot.deliver_privately(interaction, text)
    interaction.extras[REPLIED] = True


async def defer(interaction: discord.Interaction) -> None:
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=True, thinking=True)


async def long_job(
    bot: NewsBotLike,
    interaction: discord.Interaction,
    job: Callable[..., object],
    *args: object,
    render: Callable[[object], str],
    **kwargs: object,
) -> None:
    """Defer, wait for the admin lane, run job(*args, progress=..., **kwargs) in the admin
    worker with throttled progress, summarise."""
    await defer(interaction)
    async with bot.admin_job():
        loop = asyncio.get_running_loop()
        editor = ProgressEditor(
            lambda text: edit_original(interaction, content=text), loop
        )
        started = time.monotonic()
        async with editor:
            result = await bot.run_admin(job, *args, progress=editor.report, **kwargs)
        log.info(
            "%s by user %s in guild %s took %.1fs",
            getattr(job, "__name__", "job"),
            interaction.user.id,
            interaction.guild_id,
            time.monotonic() - started,
        )
    await finish(bot, interaction, render(result))
