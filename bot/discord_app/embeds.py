"""EmbedSpec (pure, from render/spec.py) → discord.Embed."""

from __future__ import annotations

import discord

from bot.discord_app.render.spec import EmbedSpec


def to_embed(spec: EmbedSpec) -> discord.Embed:
    embed = discord.Embed(
        title=spec.title,
        description=spec.description,
        url=spec.url if spec.title else None,
        color=spec.color,
    )
    for f in spec.fields:
        embed.add_field(name=f.name, value=f.value, inline=f.inline)
    if spec.footer:
        embed.set_footer(text=spec.footer)
    return embed


def to_embeds(specs: list[EmbedSpec]) -> list[discord.Embed]:
    return [to_embed(s) for s in specs]
