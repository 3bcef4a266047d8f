"""Answer choice by the learned model: re-order the rules' sentences and say how sure it is."""

from __future__ import annotations

import numpy as np

from bot.reader.learned.features import question_vector, sentence_matrix
from bot.reader.learned.model import ReaderModel, sigmoid
from bot.reader.questions import Question
from bot.reader.ranking import Scored


def rerank(model: ReaderModel, question: Question, ranked: list[Scored]) -> tuple[
        list[Scored], float]:
    """`ranked` best first by the model (each `score` becomes its logit) and the chance that
    the best sentence answers the question."""
    if not ranked:
        return ranked, 0.0
    logits = model.sentence.logits(sentence_matrix(question, ranked))
    order = np.argsort(-logits, kind="stable")
    out = [ranked[i] for i in order]
    for s, logit in zip(out, logits[order], strict=True):
        s.score = float(logit)
    vector = question_vector(question, out, logits[order])
    confidence = float(sigmoid(model.question.logits(vector[None, :])[0]))
    return out, confidence
