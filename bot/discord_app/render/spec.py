"""Discord's message limits and the embed records measured against them (EmbedSpec, which
bot.discord_app.embeds turns into a discord.Embed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELD_COUNT_LIMIT = 25
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBED_TOTAL_LIMIT = 6000  # per message: the sum over all its embeds
EMBEDS_PER_MESSAGE = 10


@dataclass(frozen=True)
class FieldSpec:
    name: str
    value: str
    inline: bool = False


@dataclass(frozen=True)
class EmbedSpec:
    title: str | None = None
    description: str | None = None
    url: str | None = None
    color: int | None = None
    footer: str | None = None
    fields: tuple[FieldSpec, ...] = ()

    def total_length(self) -> int:
        """What Discord counts toward the 6,000 characters of a message's embeds."""
        n = len(self.title or "") + len(self.description or "") + len(self.footer or "")
        return n + sum(len(f.name) + len(f.value) for f in self.fields)

    def problems(self) -> list[str]:
        """Every Discord limit this embed breaks (empty when it is fine to send)."""
        out = []
        if self.title is not None and len(self.title) > TITLE_LIMIT:
            out.append(f"title {len(self.title)} > {TITLE_LIMIT}")
        if self.description is not None and len(self.description) > DESCRIPTION_LIMIT:
            out.append(f"description {len(self.description)} > {DESCRIPTION_LIMIT}")
        if self.footer is not None and len(self.footer) > FOOTER_LIMIT:
            out.append(f"footer {len(self.footer)} > {FOOTER_LIMIT}")
        if len(self.fields) > FIELD_COUNT_LIMIT:
            out.append(f"{len(self.fields)} fields > {FIELD_COUNT_LIMIT}")
        for f in self.fields:
            if not f.name or len(f.name) > FIELD_NAME_LIMIT:
                out.append(f"field name length {len(f.name)}")
            if not f.value or len(f.value) > FIELD_VALUE_LIMIT:
                out.append(f"field value length {len(f.value)}")
        if self.total_length() > EMBED_TOTAL_LIMIT:
            out.append(f"total {self.total_length()} > {EMBED_TOTAL_LIMIT}")
        return out


def message_problems(embeds: Sequence[EmbedSpec], content: str | None = None) -> list[str]:
    """Every limit one message (content plus embeds) breaks."""
    out = [p for e in embeds for p in e.problems()]
    if len(embeds) > EMBEDS_PER_MESSAGE:
        out.append(f"{len(embeds)} embeds > {EMBEDS_PER_MESSAGE}")
    total = sum(e.total_length() for e in embeds)
    if total > EMBED_TOTAL_LIMIT:
        out.append(f"embeds total {total} > {EMBED_TOTAL_LIMIT}")
    if content is not None and len(content) > CONTENT_LIMIT:
        out.append(f"content {len(content)} > {CONTENT_LIMIT}")
    return out
