"""The buttons under every answer: "Show sources" and the feedback votes.

Every answer is stored (bot/guilds/settings.py) under a random key that the buttons' custom_ids
carry (`newsbot:<src|up|down>:<key>`), so they keep working for old messages and after a
restart: AnswerButton is a DynamicItem, which ask_cog's `setup` registers.
"""

from __future__ import annotations

import re
import secrets
from typing import ClassVar

import discord

from bot.discord_app.embeds import to_embeds
from bot.discord_app.errors import Refusal, handle_interaction_error
from bot.discord_app.render.sources import render_passages
from bot.discord_app.shared import ACK_S, NewsBotLike


def new_answer_key() -> str:
    return secrets.token_hex(8)


class AnswerButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"newsbot:(?P<action>src|up|down):(?P<key>[0-9a-f]{8,32})",
):
    LOOK: ClassVar[dict[str, tuple[str, discord.ButtonStyle, str]]] = {
        "src": ("Show sources", discord.ButtonStyle.secondary, "📄"),
        "up": ("Helpful", discord.ButtonStyle.secondary, "👍"),
        "down": ("Not helpful", discord.ButtonStyle.secondary, "👎"),
    }

    def __init__(self, action: str, key: str) -> None:
        label, style, emoji = self.LOOK[action]
        super().__init__(
            discord.ui.Button(
                label=label, style=style, emoji=emoji, custom_id=f"newsbot:{action}:{key}"
            )
        )
        self.action = action
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item, match: re.Match[str], /
    ) -> AnswerButton:
        return cls(match["action"], match["key"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            if self.action == "src":
                await show_sources(interaction, self.key)
            else:
                await record_vote(interaction, self.key, helpful=self.action == "up")
        except Exception as exc:  # buttons are not app commands: route to the central handler
            await handle_interaction_error(interaction, exc)


def answer_view(key: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ("src", "up", "down"):
        view.add_item(AnswerButton(action, key))
    return view


def _bot(interaction: discord.Interaction) -> NewsBotLike:
    return interaction.client  # type: ignore[return-value]


async def show_sources(interaction: discord.Interaction, key: str) -> None:
    bot = _bot(interaction)
    # A click must be answered within Discord's 3 s: a store that never answers gets the
    # clicker "took too long" in time rather than Discord's "This interaction failed".
    async with bot.deadline(ACK_S):
        stored = await bot.db(bot.guild_store.get_answer, key)
    if stored is None:
        raise Refusal("I no longer have the sources for that answer; please ask again.")
    messages = render_passages(stored.answer)
    await interaction.response.send_message(embeds=to_embeds(messages[0]), ephemeral=True)
    for specs in messages[1:]:
        await interaction.followup.send(embeds=to_embeds(specs), ephemeral=True)


async def record_vote(interaction: discord.Interaction, key: str, *, helpful: bool) -> None:
    bot = _bot(interaction)
    # within Discord's 3 s, as show_sources; a vote given up on may still land, and
    # voting again only updates it
    async with bot.deadline(ACK_S):
        stored = await bot.db(bot.guild_store.get_answer, key)
        if stored is None:
            raise Refusal("That answer is too old to rate, but thanks!")
        new = await bot.db(
            bot.guild_store.record_feedback,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
            question=stored.question,
            answer=stored.answer.answer,
            helpful=helpful,
            answer_key=key,
        )
    text = "Thanks for the feedback!" if new else "Thanks, I've updated your feedback."
    await interaction.response.send_message(text, ephemeral=True)
