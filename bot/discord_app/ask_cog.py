"""/ask, questions by mention, follow-ups by reply; the extension also registers the answer
buttons (bot/discord_app/answer_buttons.py).

Every answer is stored (bot/guilds/settings.py) under a random key that the buttons' custom_ids
carry, so "Show sources" and the feedback buttons keep working for old messages and after a
restart (AnswerButton is a DynamicItem registered in `setup`). A reply to one of the bot's
answers is a follow-up: the earlier question (looked up by the answer's message id) goes to
the engine as `context=`.

Ways of asking, all through the same checks, cooldown and engine gate: /ask, a mention, a
reply to an answer, a DM (when allowed), any message in a free-response channel (needs the
Message Content intent), and, with thread per question on, any question asked inside a
thread one of our answers opened: its earlier questions are the context.

Where Discord refuses a reply (the bot lacks Read Message History: error 160002), the answer
is posted as a plain message instead (`reply_or_post`); where the bot lacks Embed Links (Discord
would drop the embed and leave only the buttons), the answer goes as text (`answer_as_text`).
Where it may not post at all, it stays quiet; a thread opens only where it may post in it
(bot/discord_app/channel_rights.py). Only members' own messages are questions, never system
messages. In a free-response channel, a message the bot will not answer (the cooldown, no
asker role…) gets no reply: people chat there, and a refusal under every line would flood it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.answer_buttons import AnswerButton, answer_view, new_answer_key
from bot.discord_app.channel_rights import (
    can_embed_in,
    can_post_in,
    is_askable,
    may_open_thread,
    my_permissions,
    reply_or_post,
)
from bot.discord_app.embeds import to_embed
from bot.discord_app.errors import (
    REPLIED,
    NotAllowedHere,
    Refusal,
    describe_error,
    log_error,
    user_line,
)
from bot.discord_app.render.answers import render_answer
from bot.discord_app.render.spec import CONTENT_LIMIT, EmbedSpec
from bot.discord_app.render.text import trim
from bot.discord_app.shared import ACK_S, MAX_QUESTION_CHARS, NewsBotLike, role_ids
from bot.discord_app.thread_names import thread_name
from bot.discord_app.tokens import PUBLIC_PLACEHOLDER
from bot.discord_app.typing_gate import TypingGate
from bot.guilds.settings import THREAD_CONTEXT_QUESTIONS
from bot.reader.answer import Answer

log = logging.getLogger("newsbot.discord")

REFUSAL_DELETE_AFTER = 30.0  # seconds a public refusal (mention path) stays up
_UNESCAPE = re.compile(r"\\(.)")


def answer_as_text(spec: EmbedSpec) -> str:
    """An answer embed as message content: the title in bold, then the body (lead and
    sources), within Discord's 2,000 characters."""
    parts = [f"**{spec.title}**" if spec.title else "", spec.description or ""]
    parts += [f"**{f.name}**\n{f.value}" for f in spec.fields]
    return trim("\n".join(p for p in parts if p), CONTENT_LIMIT)


def is_thread(channel: object) -> bool:
    return isinstance(channel, discord.Thread)


def strip_bot_mentions(content: str, bot_id: int) -> str:
    text = re.sub(rf"<@!?{bot_id}>", " ", content)
    return re.sub(r"\s+", " ", text).strip()


def question_from_embed(message: discord.Message) -> str | None:
    """Fallback for follow-ups to answers that are not in the store: the embed title is the
    (markdown-escaped, possibly trimmed) question."""
    for embed in message.embeds:
        if embed.title:
            return _UNESCAPE.sub(r"\1", embed.title).replace("\u200b", "")
    return None


class AskCog(commands.Cog):
    def __init__(self, bot: NewsBotLike) -> None:
        self.bot = bot
        self.typing = TypingGate()  # one indicator per channel at a time: no 429s in a burst

    # ------------------------------------------------------------------ shared

    async def _answer(
        self,
        question: str,
        *,
        guild: discord.Guild | None,
        context: str | None = None,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> Answer:
        """The answer from the collections this place may see (NewsBot.collections_for): a
        server's articles are never searched for another server or a direct message."""
        engine = self.bot.require_engine()
        collections = await self.bot.collections_for(guild)
        return await self.bot.run_engine(
            engine.ask,
            question,
            context=context,
            source=source,
            since=since,
            until=until,
            collections=collections,
        )

    async def _store(
        self,
        answer: Answer,
        *,
        context: str | None,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
    ) -> str:
        """Keep the answer for its buttons and follow-ups; returns its key."""
        key = new_answer_key()
        await self.bot.db(
            self.bot.guild_store.save_answer,
            key,
            answer,
            context=context,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
        )
        return key

    # ------------------------------------------------------------------ /ask

    @app_commands.command(name="ask", description="Ask a question about the indexed news")
    @app_commands.describe(
        question="Your question, e.g. What did the first round of talks agree?",
        source="Only articles from this source (e.g. BBC)",
        since="Only articles published on or after this date (YYYY-MM-DD)",
        until="Only articles published on or before this date (YYYY-MM-DD)",
    )
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
    @app_commands.allowed_installs(guilds=True, users=False)
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 2, MAX_QUESTION_CHARS],
        source: app_commands.Range[str, 1, 100] | None = None,
        since: app_commands.Range[str, 4, 32] | None = None,
        until: app_commands.Range[str, 4, 32] | None = None,
    ) -> None:
        channel = interaction.channel

        async def thinking() -> None:  # "NewsBot is thinking…" within Discord's 3 s
            if not interaction.response.is_done():
                await interaction.response.defer(thinking=True)
                interaction.extras[PUBLIC_PLACEHOLDER] = True  # errors go privately

        async with self.bot.deadline() as deadline:
            # a refusal is private, so these come before the (public) acknowledgement, and
            # must be done in time for it or for a private "try again"
            async with self.bot.deadline(ACK_S):
                await self.bot.check_may_ask(
                    user=interaction.user,
                    guild_id=interaction.guild_id,
                    guild=interaction.guild,
                    channel_id=interaction.channel_id,
                    parent_id=getattr(channel, "parent_id", None),
                    roles=role_ids(interaction.user),
                    manage_guild=interaction.permissions.manage_guild,
                )
                context = await self._thread_context(interaction.channel_id)
            async with self.bot.asking(interaction.user.id, on_wait=thinking):
                await thinking()
                answer = await self._answer(
                    question,
                    guild=interaction.guild,
                    context=context,
                    source=source,
                    since=since,
                    until=until,
                )
                # stored before it is sent, so its buttons work the moment they appear
                key = await self._store(
                    answer,
                    context=context,
                    guild_id=interaction.guild_id,
                    channel_id=interaction.channel_id,
                    user_id=interaction.user.id,
                )
                thread = await self._thread_channel(interaction.guild, channel)
                # the deferred message is filled in by editing it (Discord's route for this)
                message = await interaction.edit_original_response(
                    embed=to_embed(render_answer(answer)), view=answer_view(key)
                )
                interaction.extras[REPLIED] = True
                deadline.reschedule(None)  # answered: what follows is bookkeeping
        await self._after_answer(
            key, message, channel, question, interaction.guild, interaction.app_permissions,
            thread=thread,
        )

    async def _after_answer(
        self,
        key: str,
        answer: discord.Message,
        channel: object,
        question: str,
        guild: discord.Guild | None,
        perms: discord.Permissions | None,
        users: dict[int, str] | None = None,
        *,
        thread: discord.TextChannel | None,
    ) -> None:
        """Once an answer is delivered: record its message id (follow-ups by reply look it up)
        and open its thread in `thread`, the answer's channel when thread per question was on
        there as it was answered (`_thread_channel`).
        A failure here (the store gone right after answering) is only logged: a reply saying
        the store is unreachable under the answer it just gave would tell the channel the
        question failed. Without the record, a reply to the answer
        still follows up on it (question_from_embed), and no thread is opened, since its
        questions could not be found (thread_questions)."""
        try:
            await self.bot.db(self.bot.guild_store.set_answer_message, key, answer.id)
            if thread is not None:
                await self._open_thread(answer, thread, question, guild, perms, users)
        except Exception as exc:
            _, eid = describe_error(exc, public=True)
            log_error(exc, eid, f"bookkeeping after answer {answer.id} (key {key})")

    # ------------------------------------------------------------------ threads

    async def _thread_context(self, channel_id: int | None) -> str | None:
        """The earlier questions of an answer thread, as one context; None elsewhere."""
        if channel_id is None:
            return None
        questions = await self.bot.db(self.bot.guild_store.thread_questions, channel_id)
        if not questions:
            return None
        return " ".join(questions[-THREAD_CONTEXT_QUESTIONS:])

    async def _thread_channel(
        self, guild: discord.Guild | None, channel: object
    ) -> discord.TextChannel | None:
        """The channel to open the answer's thread in: the answer's own, when it is a server's
        text channel with thread per question on; else None. Asked before the answer is
        shown: an answer given while it was off never gets a thread because an admin turned
        it on a moment later, while its bookkeeping ran."""
        if guild is None or is_thread(channel) or not isinstance(channel, discord.TextChannel):
            return None
        wanted = await self.bot.db(self.bot.guild_store.thread_per_question, guild.id)
        return channel if wanted else None

    async def _open_thread(
        self,
        answer: discord.Message,
        channel: discord.TextChannel,
        question: str,
        guild: discord.Guild | None,
        perms: discord.Permissions | None,
        users: dict[int, str] | None,
    ) -> None:
        """Open a thread on the answer for its follow-ups, where the bot's permissions
        (`perms`, in the answer's channel) let it both create the thread and post in it;
        elsewhere the answer stays as it is, with no request Discord would refuse."""
        if not may_open_thread(perms):
            log.info("no thread on answer %s: missing thread permissions there", answer.id)
            return
        name = thread_name(question, guild, users)
        try:  # the thread takes the answer's id, which thread_questions looks up
            await channel.create_thread(name=name, message=answer)
        except discord.HTTPException as exc:
            log.warning("could not open a thread on answer %s: %s", answer.id, exc)

    # ------------------------------------------------------------------ mentions and replies

    async def _follow_up_context(self, message: discord.Message) -> tuple[bool, str | None]:
        """(is this a reply to one of our answers, the earlier question)."""
        ref = message.reference
        me = self.bot.user
        if ref is None or ref.message_id is None or me is None:
            return False, None
        if getattr(ref, "type", discord.MessageReferenceType.reply) != (
            discord.MessageReferenceType.reply
        ):
            return False, None  # a forward is not a follow-up
        resolved = ref.resolved if isinstance(ref.resolved, discord.Message) else None
        if resolved is None:
            resolved = ref.cached_message
        if resolved is not None and resolved.author.id != me.id:
            return False, None  # a reply to someone else: no need to look it up
        stored = await self.bot.db(self.bot.guild_store.answer_for_message, ref.message_id)
        if stored is not None:
            return True, stored.question
        if resolved is not None:  # ours, but not (yet) in the store: the embed title
            question = question_from_embed(resolved)
            return question is not None, question
        return False, None

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot or message.webhook_id is not None:
            return
        if not is_askable(message):  # a system message: nobody asked anything
            return
        if not can_post_in(message):  # typing, an answer, a refusal: all would be refused
            if any(u.id == me.id for u in message.mentions):
                log.info("mentioned in channel %s, where I may not post", message.channel.id)
            return
        free = False
        try:
            async with self.bot.deadline() as deadline:
                is_dm = message.guild is None
                mentioned = any(u.id == me.id for u in message.mentions)
                # inside the error handling: a failing lookup still gets the asker a reply
                is_follow_up, context = await self._follow_up_context(message)
                free = not (mentioned or is_follow_up or is_dm) and await self._is_free(message)
                if not (mentioned or is_follow_up or is_dm or free):
                    return
                thread_context = await self._thread_context(message.channel.id)
                if thread_context is not None:  # a question inside an answer thread
                    context = thread_context
                text = strip_bot_mentions(message.content, me.id)
                await self._handle_message(
                    message, text, context, mentioned=mentioned, deadline=deadline
                )
        except Exception as exc:
            # the reply is public: our own refusals as they are, anything else only as a
            # short apology with an error id (details, which may name files or hosts, go to
            # the log under that id)
            line, eid = describe_error(exc, public=True)
            log_error(
                exc,
                eid,
                f"message {message.id} (user {message.author.id}, "
                f"guild {message.guild.id if message.guild else None})",
            )
            if isinstance(exc, NotAllowedHere):
                return
            if free and isinstance(exc, Refusal):  # chat in a free-response channel: no reply
                return
            try:
                await reply_or_post(
                    message,
                    content=user_line(line),
                    mention_author=False,
                    delete_after=REFUSAL_DELETE_AFTER if eid is None else None,
                )
            except discord.HTTPException as send_exc:
                log.warning("could not reply with an error: %s", send_exc)

    async def _handle_message(
        self, message: discord.Message, text: str, context: str | None, *, mentioned: bool,
        deadline: asyncio.Timeout,
    ) -> None:
        if not text:
            if mentioned:  # an empty mention; a reply without a ping carries no content to us
                await self.bot.check_may_ask(**self._where(message), cooldown=False)
                raise Refusal(
                    f"Ask me a question after the mention, e.g. @{self.bot.user.name} "
                    "what happened at the talks? — or use /ask."
                )
            return
        if len(text) > MAX_QUESTION_CHARS:
            raise Refusal(f"Please keep questions under {MAX_QUESTION_CHARS} characters.")
        await self.bot.check_may_ask(**self._where(message))

        async def typing() -> None:  # lasts ~10 s or until we post; one per channel
            await self.typing.show(message.channel)

        async with self.bot.asking(message.author.id, on_wait=typing):
            await typing()
            answer = await self._answer(text, guild=message.guild, context=context)
            key = await self._store(
                answer,
                context=context,
                guild_id=message.guild.id if message.guild else None,
                channel_id=message.channel.id,
                user_id=message.author.id,
            )
            thread = await self._thread_channel(message.guild, message.channel)
            spec = render_answer(answer)
            body = (
                {"embed": to_embed(spec)}
                if can_embed_in(message)
                else {"content": answer_as_text(spec)}
            )
            reply = await reply_or_post(
                message, **body, view=answer_view(key), mention_author=False
            )
            deadline.reschedule(None)  # answered: what follows is bookkeeping
        users = {u.id: u.display_name for u in message.mentions}
        await self._after_answer(
            key, reply, message.channel, text, message.guild, my_permissions(message), users,
            thread=thread,
        )

    async def _is_free(self, message: discord.Message) -> bool:
        """A message in a free-response channel (or a thread of one) is a question; only with
        the Message Content intent, without which its text never reaches us."""
        if message.guild is None or not self.bot.config.discord.message_content:
            return False
        return await self.bot.db(
            self.bot.guild_store.is_free_channel,
            message.guild.id,
            message.channel.id,
            parent_id=getattr(message.channel, "parent_id", None),
        )

    def _where(self, message: discord.Message) -> dict:
        author = message.author
        perms = getattr(author, "guild_permissions", None)
        return {
            "user": author,
            "guild_id": message.guild.id if message.guild else None,
            "guild": message.guild,
            "channel_id": message.channel.id,
            "parent_id": getattr(message.channel, "parent_id", None),
            "roles": role_ids(author),
            "manage_guild": bool(perms and perms.manage_guild),
        }


async def setup(bot: commands.Bot) -> None:
    """The extension's entry point (NewsBot.setup_hook loads this module by name): the cog,
    and the answer buttons, which work for any earlier message, also after a restart."""
    await bot.add_cog(AskCog(cast("NewsBotLike", bot)))
    bot.add_dynamic_items(AnswerButton)
