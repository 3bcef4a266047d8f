"""Answer choice by the learned model: re-order the rules' sentences and say how sure it is."""

from __future__ import annotations

import numpy as np

from bot.learned.features import feature_names, question_vector, sentence_matrix
from bot.learned.model import ReaderModel, sigmoid
from bot.questions import Question
from bot.ranking import Scored


def rerank(model: ReaderModel, question: Question, ranked: list[Scored]) -> tuple[
        list[Scored], float]:
    """`ranked` best first by the model (each `score` becomes its logit) and the chance that
    the best sentence answers the question. A model trained with spans needs the span
    features already in each sentence's `features` (bot/learned/span.py add_features)."""
    if not ranked:
        return ranked, 0.0
    sentence_names, question_names = feature_names(model.span)
    logits = model.sentence.logits(sentence_matrix(question, ranked, sentence_names))
    order = np.argsort(-logits, kind="stable")
    out = [ranked[i] for i in order]
    for s, logit in zip(out, logits[order], strict=True):
        s.score = float(logit)
    vector = question_vector(question, out, logits[order], question_names)
    confidence = float(sigmoid(model.question.logits(vector[None, :])[0]))
    return out, confidence
