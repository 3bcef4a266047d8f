"""The LLM reader: an OpenAI-compatible chat model writes the answer, every citation checked.

`reader` calls the endpoint (bounded in time and in calls at once) and falls back to the
extractive answer; `prompt` is what the model is shown; `citation_check` keeps only the reply's
sentences that cite passages supporting them, with `claim_support` (names, quantities, words)
and `numbers` (quantities in digits or words) deciding what "supported" means.

May import bot.reader's answer, base and passages, bot.settings, bot.evaluation.metrics
(normalising words) and index/; never the other
readers, bot.engine, bot.cli or bot.discord_app, and never discord.
"""
