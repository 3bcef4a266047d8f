"""The Discord front door: a thin discord.py layer over bot.engine.NewsEngine.

Pure modules (no discord import): render (answers/reports → Discord-sized text and EmbedSpecs),
permissions (admin check, cooldown, concurrency gate); the bot's own state (per-server settings,
answers, feedback) is bot/guilds/settings.py, in SQLite or the store's PostgreSQL database.
discord.py modules: client (NewsBot, run/sync entry points), ask_cog (/ask, mentions, follow-ups,
answer buttons), admin_cog (/news): extensions the client loads by name, so it never imports
them; shared (NewsBot's interface for the cogs, ACK_S, MAX_QUESTION_CHARS, role_ids) imports
neither side; errors (the one error handler), embeds (EmbedSpec → Embed).
"""
