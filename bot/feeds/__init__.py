"""Following feeds on a schedule: which feed is due, polling it, and who may poll.

following (FeedPoller: polls the followed feeds and indexes their new entries through the
engine; feed URLs and intervals), backlog (the entries not stored yet, retried after a
back-off), leader (the lease that lets one process at a time poll: a file lock, or a
PostgreSQL advisory lock).

May import bot.engine, bot.settings and index/; never bot.cli or bot.discord_app, and never
discord.
"""
