"""An interaction's token: what may still be sent with it, and a public placeholder's exit.

Discord lets a bot edit its reply and send follow-ups with an interaction's token for 15
minutes; after that every such request is refused (401, error 50027 Invalid Webhook Token),
and refused requests count toward the invalid-request limit. So the bot stops using a token
once it has run out (by the clock, or at the first refusal, whichever comes first) and
delivers what it still has to say another way (admin summaries by DM:
NewsBot.deliver_privately).

A public "thinking…" placeholder (/ask) cannot be turned private: its visibility was fixed
by the deferral, and the first follow-up only fills it in. A failure to show there is made
private by `private_after_public`.
"""

from __future__ import annotations

import discord

EXPIRED = "newsbot:token-expired"  # interaction.extras: Discord refused the token
PUBLIC_PLACEHOLDER = "newsbot:public-placeholder"  # interaction.extras: deferred publicly
INVALID_WEBHOOK_TOKEN = 50027
# what the public placeholder says for the moment between the error and its removal
NO_ANSWER = "No answer this time."


def token_expired(interaction: discord.Interaction) -> bool:
    """True once the token cannot be used: refused before, or past its 15 minutes."""
    return bool(interaction.extras.get(EXPIRED)) or interaction.is_expired()


def refused_token(interaction: discord.Interaction, exc: discord.HTTPException) -> bool:
    """Whether `exc` is Discord refusing the token (then remembered, so nothing more is
    tried with it)."""
    if exc.status == 401 or exc.code == INVALID_WEBHOOK_TOKEN:
        interaction.extras[EXPIRED] = True
        return True
    return False


async def edit_original(interaction: discord.Interaction, **fields: object) -> bool:
    """Edit the interaction's reply while its token works; False, without a request, once it
    does not (or when this edit is the one refused). Other failures raise."""
    if token_expired(interaction):
        return False
    try:
        await interaction.edit_original_response(**fields)  # type: ignore[arg-type]
    except discord.HTTPException as exc:
        if refused_token(interaction, exc):
            return False
        raise
    return True


async def private_after_public(interaction: discord.Interaction, text: str) -> None:
    """Show `text` to the user alone although the reply was deferred publicly: the placeholder
    is made neutral (so it is no longer "thinking…" and the follow-up becomes a message of its
    own, which may be ephemeral), the text follows privately, then the placeholder goes."""
    await interaction.edit_original_response(content=NO_ANSWER, embeds=[], view=None)
    await interaction.followup.send(text, ephemeral=True)
    await interaction.delete_original_response()
