"""At most one typing indicator per channel at a time.

Discord shows a bot's typing indicator for about 10 seconds (or until it posts), and limits
the typing route per channel (a few requests per second): a burst of questions in one
channel, each asking for its own indicator, brought 429s on itself. One indicator already
shows that the bot is working there, so a channel gets a new one only once the last has run
out; questions that arrive meanwhile (queued ones included) send none.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import discord

TYPING_LASTS_S = 10.0  # how long Discord shows one indicator
_PRUNE_AT = 1024  # entries kept before the ones that ran out are dropped


class TypingGate:
    def __init__(
        self, lasts_s: float = TYPING_LASTS_S, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lasts_s = lasts_s
        self._clock = clock
        self._until: dict[int, float] = {}  # channel id: when its indicator runs out
        self.sent = 0

    def claim(self, channel_id: int) -> bool:
        """True (and the channel's indicator is counted as shown) when none shows there now."""
        now = self._clock()
        if self._until.get(channel_id, 0.0) > now:
            return False
        if len(self._until) >= _PRUNE_AT:
            self._until = {c: t for c, t in self._until.items() if t > now}
        self._until[channel_id] = now + self.lasts_s
        return True

    async def show(self, channel: discord.abc.Messageable) -> None:
        """Start the typing indicator in `channel` unless one already shows there. A refusal
        is only logged: the indicator is a courtesy, the answer does not depend on it."""
        channel_id = getattr(channel, "id", None)
        if channel_id is None or not self.claim(channel_id):
            return
        self.sent += 1
        with contextlib.suppress(discord.HTTPException):
            await channel.typing()
