"""Answers and reports as Discord-sized text. Pure: no discord import.

Everything here returns plain strings or `EmbedSpec` records that fit Discord's limits; the cogs
turn a spec into a `discord.Embed` (see `bot.discord_app.embeds`). Text that comes from articles
or users is markdown-escaped and has its mentions neutralised before it is measured, and long
text is cut at a sentence boundary, else a word boundary with "…", never inside a word.

spec (Discord's limits, EmbedSpec), text (escaping, mentions, trimming), sources (a source's
line and its quoted passages), answers (the answer embed), admin (/news replies), feeds
(followed feeds). May import bot.reader.answer, bot.reader.copies, bot.reader.dating,
bot.feeds and index records; never discord, the client or the cogs.
"""
