"""The servers' own state: per-server settings, the answers given and the feedback on them.

settings (the rules: GuildSettings over a GuildDatabase, open_guild_settings picks one),
sqlite (the default, bot.sqlite3 in the data directory), postgres (the same tables in the
store's PostgreSQL database), migrate (copies the SQLite tables into PostgreSQL for
`newsbot migrate`).

May import index/ and bot.reader.answer (the answer record it stores); never bot.engine,
bot.feeds, bot.cli or bot.discord_app, and never discord.
"""
