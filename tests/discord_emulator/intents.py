"""Gateway intents, and which events need which intent."""

from __future__ import annotations

from enum import IntFlag


class Intent(IntFlag):
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15


#: Intents that Discord only grants to bots that enabled them in the developer portal.
PRIVILEGED_INTENTS = Intent.GUILD_MEMBERS | Intent.MESSAGE_CONTENT | (1 << 8)
