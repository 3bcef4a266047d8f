"""The Discord front door: a thin discord.py layer over bot.engine.NewsEngine.

Pure modules (no discord import): render (answers/reports → Discord-sized text and EmbedSpecs),
guild_settings (the bot's SQLite state), permissions (admin check, cooldown, concurrency gate).
discord.py modules: client (NewsBot, run/sync entry points), ask_cog (/ask, mentions, follow-ups,
answer buttons), admin_cog (/news), errors (the one error handler), embeds (EmbedSpec → Embed).
"""
