"""pytest fixtures and helpers for running a real discord.py client against the emulator.

In the e2e tests' conftest.py::

    from tests.discord_emulator.fixtures import emulator  # noqa: F401  (re-exported fixture)

(in a test module itself, write ``emulator = fixtures.emulator`` instead, which ruff's F811
doesn't flag). The fixture is async with the project's default fixture loop scope
(``session``), so the tests using it must run on that loop too: mark them
``pytest.mark.asyncio(loop_scope="session")`` or set ``asyncio_default_test_loop_scope =
"session"``. Then::

    async def test_something(emulator):
        guild = emulator.add_guild("g")
        async with running_client(emulator, make_my_bot()) as bot:
            ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

import pytest_asyncio

from .patching import point_discord_py_at
from .server import DiscordEmulator

if TYPE_CHECKING:
    import discord

ClientT = TypeVar("ClientT", bound="discord.Client")


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[DiscordEmulator]:
    """A started emulator, with discord.py pointed at it; fails the test on emulator bugs."""
    async with DiscordEmulator() as emu:
        with point_discord_py_at(emu):
            yield emu
    emu.raise_for_errors()


@asynccontextmanager
async def running_client(
    emu: DiscordEmulator,
    client: ClientT,
    *,
    token: str | None = None,
    ready_timeout: float = 10.0,
    guild_ready_timeout: float | None = 0.05,
    skip_identify_delay: bool = True,
) -> AsyncIterator[ClientT]:
    """Run ``client.start(token)`` in a task on this loop; yield once it is ready; close it.

    ``guild_ready_timeout``: discord.py waits this long after the last GUILD_CREATE before
    ``on_ready`` (default 2 s); the emulator sends them all at once, so a short wait is
    enough. Pass None to keep the client's own setting.

    ``skip_identify_delay``: discord.py's stock ``before_identify_hook`` sleeps 5 s before
    every IDENTIFY after the first (e.g. after a non-resumable INVALID_SESSION); this
    replaces it with a no-op on this instance, unless the client's class overrides the hook.
    """
    import discord

    if guild_ready_timeout is not None:
        client._connection.guild_ready_timeout = guild_ready_timeout
    if (
        skip_identify_delay
        and type(client).before_identify_hook is discord.Client.before_identify_hook
    ):

        async def no_delay(shard_id: int | None, *, initial: bool = False) -> None:
            return None

        client.before_identify_hook = no_delay  # type: ignore[method-assign]
    with point_discord_py_at(emu):
        task = asyncio.create_task(client.start(token or emu.token), name="emulated-discord-client")
        try:
            await _wait_ready(client, task, ready_timeout)
            yield client
        except BaseException:
            await _shut_down(client, task, reraise=False)
            raise
        await _shut_down(client, task, reraise=True)


async def _wait_ready(client: discord.Client, task: asyncio.Task[None], timeout: float) -> None:
    ready = asyncio.create_task(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait(
            {task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        ready.cancel()
    if task in done:
        task.result()  # raises the start-up failure, if any
        raise RuntimeError("client.start() returned before the client was ready")
    if ready not in done:
        raise TimeoutError(f"discord client not ready after {timeout}s")


async def _shut_down(client: discord.Client, task: asyncio.Task[None], *, reraise: bool) -> None:
    """Close the client and reap its task; with ``reraise``, surface a crash of the client."""
    await client.close()
    try:
        await asyncio.wait_for(task, timeout=5.0)
    except (asyncio.CancelledError, TimeoutError):
        pass
    except Exception:
        if reraise:
            raise
