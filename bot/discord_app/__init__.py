"""The Discord front door: a thin discord.py layer over bot.engine.NewsEngine.

Pure modules (no discord import): render/ (answers, sources, /news replies and feeds →
Discord-sized text and EmbedSpecs), permissions (admin check, cooldown, concurrency lanes),
sharding; the bot's own state (per-server settings, answers, feedback) is
bot/guilds/settings.py, in SQLite or the store's PostgreSQL database.
discord.py modules: client (NewsBot: dependencies, lifecycle, lanes, who may ask where),
startup (`newsbot run` / `newsbot sync`, shards, SIGTERM), connection (endpoints, intents,
token), work (running work, a lane's turn); ask_cog (/ask, mentions, follow-ups) with
answer_buttons, and admin_cog (/news) with admin_jobs: extensions the client loads by name, so
it never imports them; shared (NewsBot's interface for the cogs, ACK_S, MAX_QUESTION_CHARS,
role_ids) imports neither side; errors (the one error handler), embeds (EmbedSpec → Embed),
and the small helpers channel_rights, tokens, typing_gate, thread_names.
May import bot/ (engine, guilds, feeds, settings, the answer record) and index/; the only part
of the project that imports discord.
"""
