"""The learned reader: answer choice and declining weighed by a model trained on news quizzes.

`reader` is the reader itself (the rules reader's sentences, re-ordered by the model);
`features` turns the rules' evidence for each sentence (bot/reader/ranking.py) into a vector;
`model` holds the shipped weights (`reader-model.json` beside it, with its card) and scores
with numpy alone; `data` builds training inputs from RealTime QA's training weeks as the
product would see them, and `train` fits and calibrates the model (`newsbot reader train`,
bot/cli/reader.py). Imports: bot.reader's rules, ranking and questions, index/, and for
training bot.evaluation's datasets and metrics (never discord).
"""
