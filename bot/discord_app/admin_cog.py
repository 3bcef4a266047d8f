"""/news: manage the index and where/who the bot answers. Server admins only.

Discord hides the group from members without Manage Server (default_permissions), but server
owners can change that in Server Settings → Integrations, so every command is also checked here
(AdminCog.interaction_check): Manage Server, or a role whose id is in config.discord.admin_roles
(decided from the interaction's own role ids and permissions, so also while the server is
unavailable). Jobs that write the index run in the bot's admin lane, one at a time, never in a
question slot; their summary is only ever shown to the admin (see NewsBot.deliver_privately).
How a job runs (input checks, the admin lane, progress, the summary): admin_jobs.py.

Command tree (all replies ephemeral):
  /news add-url urls:        one or more article URLs, separated by spaces
  /news add-file file:       an attachment (.txt .md .html .htm .json .jsonl)
  /news feed url:            an RSS/Atom feed URL; every entry is fetched
  /news remove articles:     article URLs or ids, separated by spaces
  /news rebuild              re-cut and re-embed this server's articles
  /news stats                this server's collection (and the shared one it searches)
  /news shared [include:]    whether questions here also search the shared articles
  /news follow url: [every:] follow a feed: its new entries are added as they appear
  /news unfollow url:        stop following a feed
  /news feeds                this server's feeds: interval, last fetch, last new article, error
  /news channels allow channel: | deny channel: | list | reset
  /news askers allow role: | deny role: | list | reset
  /news threads enabled:     thread per question: an answer opens a thread for follow-ups
  /news free-response add channel: | remove channel: | list
                             channels where every message is a question (needs the
                             privileged Message Content intent: discord.message_content)

Every index command acts on this server's own collection (`guild:<id>`): another server's
articles cannot be listed, removed, rebuilt or cited here.
"""

from __future__ import annotations

import asyncio
from typing import cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.admin_jobs import (
    ProgressEditor,
    check_attachment,
    defer,
    finish,
    long_job,
    own_collection,
    parse_http_urls,
)
from bot.discord_app.embeds import to_embed
from bot.discord_app.errors import REPLIED, NotAdmin, Refusal
from bot.discord_app.render.admin import (
    render_channel_rules,
    render_ingest,
    render_remove,
    render_roles,
    render_stats,
    render_summary,
)
from bot.discord_app.render.feeds import link, render_feeds, render_followed
from bot.discord_app.render.text import safe_text, trim
from bot.discord_app.shared import NewsBotLike, role_ids
from bot.discord_app.tokens import edit_original
from bot.feeds.following import feed_url, parse_every
from index.errors import InputError

FREE_RESPONSE_UNAVAILABLE = (
    "Free-response channels are unavailable: they need Discord's privileged Message Content "
    "intent, which is off. The bot's operator can turn it on in the developer portal (Bot → "
    "Privileged Gateway Intents → Message Content Intent) and set discord.message_content = "
    "true in the config. Until then, mention me or use /ask."
)
AnswerableChannel = (
    discord.TextChannel
    | discord.Thread
    | discord.VoiceChannel
    | discord.StageChannel
    | discord.ForumChannel
)


class AdminCog(commands.Cog):
    news = app_commands.Group(
        name="news",
        description="Manage the news index and where the bot answers",
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        allowed_installs=app_commands.AppInstallationType(guild=True),
        default_permissions=discord.Permissions(manage_guild=True),
    )
    channels = app_commands.Group(
        name="channels", description="Choose the channels the bot answers in", parent=news
    )
    askers = app_commands.Group(
        name="askers", description="Choose which roles may ask questions", parent=news
    )
    free = app_commands.Group(
        name="free-response",
        description="Channels where every message is a question (no mention needed)",
        parent=news,
    )

    def __init__(self, bot: NewsBotLike) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.guild is None:
            raise app_commands.NoPrivateMessage()
        # from the interaction's own data: role ids and resolved permissions (no cache needed)
        if self.bot.member_is_admin(
            role_ids(interaction.user), interaction.permissions.manage_guild
        ):
            return True
        raise NotAdmin()

    # ------------------------------------------------------------------ index

    @news.command(name="add-url", description="Add articles by URL (several: separate by spaces)")
    @app_commands.describe(urls="One or more article URLs, separated by spaces")
    async def add_url(
        self, interaction: discord.Interaction, urls: app_commands.Range[str, 8, 4000]
    ) -> None:
        parsed = parse_http_urls(urls)
        engine = self.bot.require_engine()
        await long_job(
            self.bot,
            interaction,
            engine.add_urls,
            parsed,
            render=lambda r: render_ingest(r),
            collection=own_collection(interaction),
        )

    @news.command(name="add-file", description="Add articles from an attached file")
    @app_commands.describe(
        file="A .txt, .md, .html, .htm, .json or .jsonl file (one article, or JSON lines)"
    )
    async def add_file(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        check_attachment(file.filename, file.size, self.bot.config.discord.max_attachment_bytes)
        engine = self.bot.require_engine()
        await defer(interaction)
        async with self.bot.admin_job():
            data = await file.read()
            check_attachment(file.filename, len(data), self.bot.config.discord.max_attachment_bytes)
            loop = asyncio.get_running_loop()
            editor = ProgressEditor(
                lambda text: edit_original(interaction, content=text), loop
            )
            async with editor:
                result = await self.bot.run_admin(
                    engine.add_bytes,
                    file.filename,
                    data,
                    progress=editor.report,
                    collection=own_collection(interaction),
                )
        await finish(self.bot, interaction, render_ingest(result))

    @news.command(name="feed", description="Add every article of an RSS or Atom feed")
    @app_commands.describe(url="The feed's URL")
    async def feed(
        self, interaction: discord.Interaction, url: app_commands.Range[str, 8, 2000]
    ) -> None:
        (feed_url,) = parse_http_urls(url, limit=1)
        engine = self.bot.require_engine()
        await long_job(
            self.bot,
            interaction,
            engine.add_feed,
            feed_url,
            render=render_ingest,
            collection=own_collection(interaction),
        )

    @news.command(name="remove", description="Remove articles by URL or article id")
    @app_commands.describe(articles="Article URLs or ids, separated by spaces")
    async def remove(
        self, interaction: discord.Interaction, articles: app_commands.Range[str, 1, 4000]
    ) -> None:
        refs = list(dict.fromkeys(a.strip("<>") for a in articles.split()))
        if not refs:
            raise Refusal("Give at least one article URL or id.")
        if len(refs) > 100:
            raise Refusal("At most 100 articles at a time, please.")
        engine = self.bot.require_engine()
        await defer(interaction)
        async with self.bot.admin_job():
            report = await self.bot.run_admin(
                engine.remove, refs, collection=own_collection(interaction)
            )
        await finish(self.bot, interaction, render_remove(report))

    @news.command(name="rebuild", description="Rebuild the search index from stored articles")
    async def rebuild(self, interaction: discord.Interaction) -> None:
        engine = self.bot.require_engine()
        await long_job(
            self.bot,
            interaction,
            engine.rebuild,
            render=lambda r: render_summary(r, heading=""),
            collection=own_collection(interaction),
        )

    @news.command(name="stats", description="Show the size of the news index")
    async def stats(self, interaction: discord.Interaction) -> None:
        engine = self.bot.require_engine()
        await interaction.response.defer(ephemeral=True, thinking=True)
        # a quick read in a plain thread: never behind a rebuild or a busy question queue
        searched = await self.bot.collections_for(interaction.guild)
        own = own_collection(interaction)
        # This server's collection and the shared one it searches; never another server's.
        stats = await self.bot.db(engine.stats, [own, *(c for c in searched if c != own)])
        undelivered = self.bot.take_undelivered(interaction.guild_id or 0)
        notes = [f"/{u.command} for <@{u.user_id}>: {u.text}" for u in undelivered]
        try:
            await interaction.edit_original_response(
                embed=to_embed(render_stats(stats, own=own, undelivered=notes))
            )
        except BaseException:
            for item in undelivered:  # not shown after all: keep them for the next time
                self.bot.keep_undelivered(interaction.guild_id or 0, item)
            raise
        interaction.extras[REPLIED] = True

    @news.command(
        name="shared",
        description="Also answer from the bot operator's shared articles (default: on)",
    )
    @app_commands.describe(include="On: search the shared articles too; off: this server's only")
    async def shared(self, interaction: discord.Interaction, include: bool | None = None) -> None:
        guild_id = interaction.guild_id
        if include is not None:
            await self.bot.db(self.bot.guild_store.set_searches_shared, guild_id, include)
        now = await self.bot.db(self.bot.guild_store.searches_shared, guild_id)
        text = (
            "Questions here search this server's articles and the shared ones."
            if now
            else "Questions here search this server's articles only."
        )
        await interaction.response.send_message(text, ephemeral=True)


    # ------------------------------------------------------------------ followed feeds

    @news.command(name="follow", description="Follow a feed: new articles are added as they appear")
    @app_commands.describe(
        url="The RSS or Atom feed's URL",
        every="How often to check it: 30m, 2h, 1d (default 1h, at least 5m)",
    )
    async def follow(
        self, interaction: discord.Interaction, url: app_commands.Range[str, 8, 2000],
        every: app_commands.Range[str, 1, 20] | None = None,
    ) -> None:
        (raw,) = parse_http_urls(url, limit=1)
        poller = self.bot.require_poller()
        collection = own_collection(interaction)
        try:
            parse_every(every, self.bot.config.follow.interval_minutes)
            feed = feed_url(raw)
        except InputError as exc:
            raise Refusal(f"{exc}.") from exc
        await defer(interaction)
        async with self.bot.admin_job():
            row = await self.bot.run_admin(poller.follow, feed, collection, every)
            # The first fetch now, so the admin sees at once whether the feed works.
            report = await self.bot.run_admin(poller.poll_due, urls=[feed], expire=False)
            poll = next((p for p in report.polls if p.url == feed), None)
            row = await self.bot.run_admin(poller.book.get, feed) or row
        await finish(self.bot, interaction, render_followed(row, collection, poll))

    @news.command(name="unfollow", description="Stop following a feed")
    @app_commands.describe(url="The feed's URL, as /news feeds lists it")
    async def unfollow(
        self, interaction: discord.Interaction, url: app_commands.Range[str, 8, 2000]
    ) -> None:
        poller = self.bot.require_poller()
        try:
            feed = feed_url(url.strip("<>"))
        except InputError as exc:
            raise Refusal(f"{exc}.") from exc
        done = await self.bot.db(poller.unfollow, feed, own_collection(interaction))
        text = (f"No longer following {link(feed)}; the articles it brought stay."
                if done else f"This server does not follow {link(feed)}.")
        await interaction.response.send_message(text, ephemeral=True)

    @news.command(name="feeds", description="The feeds this server follows and how they are doing")
    async def feeds(self, interaction: discord.Interaction) -> None:
        poller = self.bot.require_poller()
        collection = own_collection(interaction)
        rows = await self.bot.db(poller.feeds, collection)
        await interaction.response.send_message(
            render_feeds(rows, collection, self.bot.config.follow.failing_after), ephemeral=True
        )

    # ------------------------------------------------------------------ channels

    def _same_guild(self, interaction: discord.Interaction, thing: object, what: str) -> None:
        guild = getattr(thing, "guild", None)
        if guild is None or guild.id != interaction.guild_id:
            raise Refusal(f"That {what} is not in this server.")

    async def _channel_summary(self, interaction: discord.Interaction) -> str:
        allowed, denied = await self.bot.db(
            self.bot.guild_store.list_channels, interaction.guild_id
        )
        return render_channel_rules(
            allowed, denied, self.bot.default_channels_for(interaction.guild)
        )

    @channels.command(name="allow", description="Answer questions in this channel")
    @app_commands.describe(channel="A channel (or thread) where the bot should answer")
    async def channels_allow(
        self, interaction: discord.Interaction, channel: AnswerableChannel
    ) -> None:
        self._same_guild(interaction, channel, "channel")
        await self.bot.db(self.bot.guild_store.allow_channel, interaction.guild_id, channel.id)
        summary = await self._channel_summary(interaction)
        await interaction.response.send_message(
            trim(f"Allowed {channel.mention}.\n{summary}", 2000), ephemeral=True
        )

    @channels.command(name="deny", description="Stop answering questions in this channel")
    @app_commands.describe(channel="A channel (or thread) where the bot should stay quiet")
    async def channels_deny(
        self, interaction: discord.Interaction, channel: AnswerableChannel
    ) -> None:
        self._same_guild(interaction, channel, "channel")
        await self.bot.db(self.bot.guild_store.deny_channel, interaction.guild_id, channel.id)
        summary = await self._channel_summary(interaction)
        await interaction.response.send_message(
            trim(f"Denied {channel.mention}.\n{summary}", 2000), ephemeral=True
        )

    @channels.command(name="list", description="Show where the bot answers")
    async def channels_list(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            await self._channel_summary(interaction), ephemeral=True
        )

    @channels.command(name="reset", description="Forget this server's channel settings")
    async def channels_reset(self, interaction: discord.Interaction) -> None:
        n = await self.bot.db(self.bot.guild_store.reset_channels, interaction.guild_id)
        summary = await self._channel_summary(interaction)
        await interaction.response.send_message(
            trim(f"Cleared {n} channel setting(s).\n{summary}", 2000), ephemeral=True
        )

    # ------------------------------------------------------------------ askers

    async def _roles_summary(self, interaction: discord.Interaction) -> str:
        ids = await self.bot.db(self.bot.guild_store.list_asker_roles, interaction.guild_id)
        guild = interaction.guild
        roles = [
            (i, (r.name if (r := guild.get_role(i)) else None) if guild else None) for i in ids
        ]
        return render_roles(roles)

    @askers.command(name="allow", description="Let members with this role ask questions")
    @app_commands.describe(role="Members with this role may ask")
    async def askers_allow(self, interaction: discord.Interaction, role: discord.Role) -> None:
        self._same_guild(interaction, role, "role")
        if role.is_default():
            raise Refusal("Everyone can ask when no roles are set: use /news askers reset.")
        await self.bot.db(self.bot.guild_store.allow_asker_role, interaction.guild_id, role.id)
        summary = await self._roles_summary(interaction)
        await interaction.response.send_message(summary, ephemeral=True)

    @askers.command(name="deny", description="Remove a role from those who may ask")
    @app_commands.describe(role="The role to remove")
    async def askers_deny(self, interaction: discord.Interaction, role: discord.Role) -> None:
        self._same_guild(interaction, role, "role")
        removed = await self.bot.db(
            self.bot.guild_store.deny_asker_role, interaction.guild_id, role.id
        )
        summary = await self._roles_summary(interaction)
        head = "" if removed else f"{safe_text(role.name)} was not an asker role.\n"
        await interaction.response.send_message(trim(head + summary, 2000), ephemeral=True)

    @askers.command(name="list", description="Show which roles may ask")
    async def askers_list(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            await self._roles_summary(interaction), ephemeral=True
        )

    @askers.command(name="reset", description="Let everyone ask again")
    async def askers_reset(self, interaction: discord.Interaction) -> None:
        await self.bot.db(self.bot.guild_store.reset_asker_roles, interaction.guild_id)
        await interaction.response.send_message(
            await self._roles_summary(interaction), ephemeral=True
        )

    # ------------------------------------------------------------------ ways of asking

    @news.command(name="threads", description="Open a thread for every answer, for follow-ups")
    @app_commands.describe(enabled="On: each answer opens a thread; follow-ups go inside it")
    async def threads(self, interaction: discord.Interaction, enabled: bool) -> None:
        await self.bot.db(
            self.bot.guild_store.set_thread_per_question, interaction.guild_id, enabled
        )
        text = (
            "Thread per question is on: each answer opens a thread, and questions asked in it "
            "(mention me) are answered with the thread's earlier questions in mind. I need the "
            "Create Public Threads and Send Messages in Threads permissions."
            if enabled
            else "Thread per question is off: answers stay in the channel."
        )
        await interaction.response.send_message(text, ephemeral=True)

    def _require_message_content(self) -> None:
        if not self.bot.config.discord.message_content:
            raise Refusal(FREE_RESPONSE_UNAVAILABLE)

    async def _free_summary(self, interaction: discord.Interaction) -> str:
        ids = await self.bot.db(self.bot.guild_store.list_free_channels, interaction.guild_id)
        if not ids:
            return "No free-response channels: questions need a mention or /ask."
        return "Every message is a question in: " + ", ".join(f"<#{i}>" for i in ids)

    @free.command(name="add", description="Take every message in this channel as a question")
    @app_commands.describe(channel="A channel where members ask without mentioning me")
    async def free_add(self, interaction: discord.Interaction, channel: AnswerableChannel) -> None:
        self._require_message_content()
        self._same_guild(interaction, channel, "channel")
        await self.bot.db(self.bot.guild_store.add_free_channel, interaction.guild_id, channel.id)
        summary = await self._free_summary(interaction)
        await interaction.response.send_message(trim(summary, 2000), ephemeral=True)

    @free.command(name="remove", description="Stop taking every message here as a question")
    @app_commands.describe(channel="The free-response channel to turn back to normal")
    async def free_remove(
        self, interaction: discord.Interaction, channel: AnswerableChannel
    ) -> None:
        self._require_message_content()
        self._same_guild(interaction, channel, "channel")
        removed = await self.bot.db(
            self.bot.guild_store.remove_free_channel, interaction.guild_id, channel.id
        )
        head = "" if removed else f"{channel.mention} was not a free-response channel.\n"
        summary = await self._free_summary(interaction)
        await interaction.response.send_message(trim(head + summary, 2000), ephemeral=True)

    @free.command(name="list", description="Show the free-response channels")
    async def free_list(self, interaction: discord.Interaction) -> None:
        self._require_message_content()
        await interaction.response.send_message(
            trim(await self._free_summary(interaction), 2000), ephemeral=True
        )


async def setup(bot: commands.Bot) -> None:
    """The extension's entry point (NewsBot.setup_hook loads this module by name)."""
    await bot.add_cog(AdminCog(cast("NewsBotLike", bot)))
