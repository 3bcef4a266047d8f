"""The learned reader: answer choice and declining weighed by a model trained on news quizzes.

`features` turns the rules' evidence for each sentence (bot/reader/ranking.py) into a vector;
`model` holds the shipped logistic-regression weights and scores with numpy alone; `data`
builds training inputs from RealTime QA's training weeks as the product would see them, and
`train` fits and calibrates the model (`newsbot reader train`). Imports: bot.reader.ranking,
bot.reader.questions, index/ (never discord).
"""
