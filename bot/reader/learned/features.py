"""Feature vectors of the learned reader, from the evidence the rules gather
(bot/reader/ranking.py).

A sentence's vector is its `Scored.features` (word overlap weighted by rarity, passage
similarity, recency, candidates and their support and focus, numbers, date detail, places),
the rules' own score, the question's kind, and the kind-dependent evidence once per kind (a
linear model can then weigh support for "who" questions apart from "why" ones). A question's
vector, for declining, describes how clearly its best sentence wins.
"""

from __future__ import annotations

import math

import numpy as np

from bot.reader.questions import Kind, Question
from bot.reader.ranking import Scored

BASE = (
    "words", "passage_words", "similarity", "recency", "numerals", "rank", "date_detail",
    "wanted", "candidates", "position", "passage_position", "length", "lexical", "support",
    "focus", "bigrams",
)
KINDS = tuple(k.value for k in Kind)
# Evidence whose meaning depends on the kind of question asked.
BY_KIND = ("support", "focus", "wanted", "has_candidate", "words", "similarity", "bigrams")


def sentence_names() -> list[str]:
    names = [*BASE, "rules_score", "rules_place", "has_candidate", "log_rank", "log_position",
             "log_passage_position", "short"]
    names += [f"kind_{k}" for k in KINDS]
    names += [f"{f}_x_{k}" for f in BY_KIND for k in KINDS]
    return names


SENTENCE_FEATURES = tuple(sentence_names())
QUESTION_FEATURES = (
    "top_logit", "second_logit", "gap", "top_similarity", "max_similarity", "top_support",
    "top_has_candidate", "top_words", "agreeing", *(f"kind_{k}" for k in KINDS),
)
# What the span reader (bot/reader/learned/span.py) adds, when the model was trained with it: the
# best span inside the sentence against "no answer", against its passage's best span and
# against the best span of all passages read; whether that span is one of the sentence's
# answer candidates; whether the sentence could be read at all (0: cut off or not found).
SPAN_SENTENCE = ("span_score", "span_margin", "span_global", "span_candidate", "span_found")
SPAN_QUESTION = ("top_span", "max_span")


def feature_names(span: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The sentence and question features of a model trained with or without spans."""
    if span:
        return SENTENCE_FEATURES + SPAN_SENTENCE, QUESTION_FEATURES + SPAN_QUESTION
    return SENTENCE_FEATURES, QUESTION_FEATURES


def sentence_matrix(
    question: Question, ranked: list[Scored], names: tuple[str, ...] = SENTENCE_FEATURES
) -> np.ndarray:
    """One row per sentence of `ranked`, columns as `names`."""
    kind = question.kind.value
    rows = np.zeros((len(ranked), len(names)), dtype=np.float32)
    for r, s in enumerate(ranked):
        f = s.features
        values = dict(f)
        values["rules_score"] = s.score
        values["rules_place"] = math.log1p(r)  # `ranked` comes in the rules' order
        values["has_candidate"] = 1.0 if s.candidates else 0.0
        values["log_rank"] = math.log1p(f.get("rank", 0.0))
        values["log_position"] = math.log1p(f.get("position", 0.0))
        values["log_passage_position"] = math.log1p(f.get("passage_position", 0.0))
        values["short"] = 1.0 if f.get("length", 0.0) < 8 else 0.0
        values["length"] = min(f.get("length", 0.0), 80.0) / 40.0
        values["rank"] = f.get("rank", 0.0) / 10.0
        values["position"] = min(f.get("position", 0.0), 20.0) / 10.0
        values["passage_position"] = min(f.get("passage_position", 0.0), 40.0) / 10.0
        values["candidates"] = min(f.get("candidates", 0.0), 5.0)
        values[f"kind_{kind}"] = 1.0
        for name in BY_KIND:
            values[f"{name}_x_{kind}"] = values.get(name, 0.0)
        rows[r] = [values.get(name, 0.0) for name in names]
    return rows


def question_vector(
    question: Question, ranked: list[Scored], logits: np.ndarray,
    names: tuple[str, ...] = QUESTION_FEATURES,
) -> np.ndarray:
    """How clearly the best sentence (by `logits`, ranked best first) wins: for declining."""
    top = ranked[0]
    second = float(logits[1]) if len(logits) > 1 else float(logits[0]) - 5.0
    sims = [s.features.get("similarity", 0.0) for s in ranked]
    agreeing = 0.0
    if top.candidates:  # how many of the next best sentences offer the same candidate
        agreeing = sum(
            1.0 for s in ranked[1:6] if set(s.candidates) & set(top.candidates)
        ) / 5.0
    values = {
        "top_logit": float(logits[0]), "second_logit": second, "gap": float(logits[0]) - second,
        "top_similarity": top.features.get("similarity", 0.0), "max_similarity": max(sims),
        "top_support": top.features.get("support", 0.0),
        "top_has_candidate": 1.0 if top.candidates else 0.0,
        "top_words": top.features.get("words", 0.0), "agreeing": agreeing,
        f"kind_{question.kind.value}": 1.0,
        "top_span": top.features.get("span_score", 0.0),
        "max_span": max(s.features.get("span_score", -20.0) for s in ranked),
    }
    return np.array([values.get(n, 0.0) for n in names], dtype=np.float32)
