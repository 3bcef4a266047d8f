"""The reader: everything that turns the passages found for a question into an answer.

`answer` is the answer record both front doors show; `questions` reads what a question asks
for; `passages` gathers the passages the search finds (recent first, a story's versions
joined); `base` is the `Reader` interface the engine calls. The readers: `rules` (hand-set
weights over `ranking`'s sentence scores, `dating` for reports that disagree across days,
`copies` for one story's copies), `learned/` (the same sentences ordered by a model trained on
news quizzes, and its training) and `llm/` (a chat model's answer, every citation checked).

May import index/, bot.settings (the LLM's settings) and bot.evaluation's datasets and metrics
(answer normalisation; the learned reader's training data); never bot.engine, bot.cli,
bot.guilds, bot.feeds or bot.discord_app, and never discord. This file imports nothing, so
that importing one reader's module never loads another's.
"""
