"""Fitting the learned reader (`newsbot reader train`): features, labels, fit, calibration.

Labels are distant supervision: a sentence is a positive when a gold answer occurs in it as
whole words (the evaluation's normalisation, bot/evaluation/metrics.py). The sentence model is
fitted on the training weeks; the question model learns, on the same weeks, whether the
sentence model's best sentence is right; both thresholds are then set on the held-out weeks
(the answer threshold: the fewest declines with less than `MAX_WRONG_SHARE` of answers wrong;
the short-answer threshold: the bold answer right at least `MIN_SHORT_PRECISION` of the time).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from bot.answering import short_answer
from bot.evaluation.metrics import any_appears
from bot.learned.features import sentence_matrix
from bot.learned.model import Linear, ReaderModel
from bot.learned.reader import rerank
from bot.questions import Question, analyse
from bot.ranking import Scored, rank
from index.database import PassageRow
from index.errors import InputError
from index.models import Article
from index.search import Hit

MAX_WRONG_SHARE = 0.25  # of the answers given, on the held-out weeks
MIN_SHORT_PRECISION = 0.75
SEED = 13

Progress = Callable[[int, int], None]


@dataclass
class Example:
    """One question as the reader sees it: its ranked sentences and their labels."""

    question_id: str
    split: str
    question: Question
    ranked: list[Scored]
    x: np.ndarray
    y: np.ndarray
    golds: list[str]
    readable: bool  # a gold answer occurs in some passage read


def read_records(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _hits(record: dict, passages_read: int | None) -> list[Hit]:
    hits = []
    for n, p in enumerate(record["passages"][:passages_read]):
        article = Article(
            id=p["article"], title=p["title"], url=p["article"], source=None,
            published=p["published"], author=None, text="", content_hash="", added_at="",
            updated_at="",
        )
        entities = (tuple(tuple(e) for e in p["entities"])
                    if p.get("entities") is not None else None)
        row = PassageRow(id=n, position=p["position"], text=p["text"], article=article,
                         entities=entities)  # type: ignore[arg-type]
        hits.append(Hit(row, 0.0, p["similarity"], p.get("lexical_rank")))
    return hits


def example(record: dict, passages_read: int | None = None) -> Example:
    """The record's question ranked by the rules' code, with its features and labels."""
    question = analyse(record["question"])
    hits = _hits(record, passages_read)
    idf = record.get("idf") or {}
    ranked = rank(question, hits, {s: idf.get(s, 1.0) for s in question.terms},
                  date.fromisoformat(record["day"]))
    golds = record["golds"]
    y = np.array([any_appears(golds, s.sentence) for s in ranked], dtype=np.int8)
    x = sentence_matrix(question, ranked)
    readable = any(any_appears(golds, h.passage.text) for h in hits)
    return Example(record["question_id"], record["split"], question, ranked, x, y, golds,
                   readable)


def _fit_linear(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float) -> Linear:
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:
        raise InputError("the training questions need both right and wrong answers to learn"
                         " from (too few questions, or none whose articles hold the answer)")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=c, max_iter=2000, random_state=SEED)
    model.fit((x - mean) / scale, y)
    return Linear(names, mean.astype(np.float32), scale.astype(np.float32),
                  model.coef_[0].astype(np.float32), float(model.intercept_[0]))


@dataclass
class Outcome:
    """One question under a model: its confidence, and whether the lead / short are right."""

    confidence: float
    right: bool
    short: str | None
    short_right: bool
    readable: bool


def outcomes(model: ReaderModel, examples: list[Example]) -> list[Outcome]:
    out = []
    for ex in examples:
        if not ex.ranked:
            out.append(Outcome(0.0, False, None, False, ex.readable))
            continue
        ranked = [_copy(s) for s in ex.ranked]
        ranked, confidence = rerank(model, ex.question, ranked)
        short = short_answer(ranked, ex.question)
        out.append(Outcome(
            confidence, bool(any_appears(ex.golds, ranked[0].sentence)), short,
            bool(short and any_appears(ex.golds, short)), ex.readable,
        ))
    return out


def _copy(s: Scored) -> Scored:
    return Scored(s.sentence, s.hit, s.score, list(s.candidates), s.recency, list(s.spans),
                  dict(s.strength), s.wanted, dict(s.features))


def fit(
    train: list[Example], held_out: list[Example], passages_read: int, c: float = 1.0
) -> tuple[ReaderModel, dict]:
    """The model and its held-out report (curve, thresholds, contains)."""
    from bot.learned.features import QUESTION_FEATURES, SENTENCE_FEATURES, question_vector

    x = np.concatenate([ex.x for ex in train if len(ex.y)])
    y = np.concatenate([ex.y for ex in train if len(ex.y)])
    sentence = _fit_linear(x, y, SENTENCE_FEATURES, c)
    qx, qy = [], []
    for ex in train:
        if not len(ex.y):
            continue
        logits = sentence.logits(ex.x)
        order = np.argsort(-logits, kind="stable")
        ranked = [ex.ranked[i] for i in order]
        qx.append(question_vector(ex.question, ranked, logits[order]))
        qy.append(int(ex.y[order[0]]))
    question = _fit_linear(np.stack(qx), np.array(qy), QUESTION_FEATURES, c)
    draft = ReaderModel(sentence, question, 0.0, 0.0, passages_read)
    results = outcomes(draft, held_out)
    answer_t, curve = _answer_threshold(results)
    short_t = _short_threshold(results, answer_t)
    model = ReaderModel(sentence, question, answer_t, short_t, passages_read)
    return model, {"curve": curve, "held_out": summary(outcomes(model, held_out), model),
                   "answer_threshold": answer_t, "short_threshold": short_t}


def _answer_threshold(results: list[Outcome]) -> tuple[float, list[dict]]:
    """The lowest threshold at which under MAX_WRONG_SHARE of answers are wrong."""
    curve = []
    best = 1.0
    for t in np.round(np.arange(0.0, 1.0001, 0.025), 3):
        answered = [r for r in results if r.confidence >= t]
        right = sum(r.right for r in answered)
        wrong = len(answered) - right
        n = len(results) or 1
        curve.append({"threshold": float(t), "answered": len(answered) / n, "right": right / n,
                      "wrong": wrong / n})
        if answered and wrong / len(answered) < MAX_WRONG_SHARE and t < best:
            best = float(t)
    return best, curve


def _short_threshold(results: list[Outcome], answer_t: float) -> float:
    for t in np.round(np.arange(answer_t, 1.0001, 0.025), 3):
        shown = [r for r in results if r.confidence >= t and r.short]
        if shown and sum(r.short_right for r in shown) / len(shown) >= MIN_SHORT_PRECISION:
            return float(t)
    return 1.01


def summary(results: list[Outcome], model: ReaderModel) -> dict:
    n = len(results) or 1
    answered = [r for r in results if r.confidence >= model.answer_threshold]
    readable = [r for r in results if r.readable]
    shorts = [r for r in answered if r.short and r.confidence >= model.short_threshold]
    return {
        "questions": len(results),
        "contains": sum(r.right for r in answered) / n,
        "answered_wrongly": sum(not r.right for r in answered) / n,
        "declined": 1 - len(answered) / n,
        "readable": len(readable),
        "readable_contains": (sum(r.right and r.confidence >= model.answer_threshold
                                  for r in readable) / (len(readable) or 1)),
        "readable_top_right": sum(r.right for r in readable) / (len(readable) or 1),
        "short_shown": len(shorts) / n,
        "short_right": sum(r.short_right for r in shorts) / (len(shorts) or 1),
    }


def rules_summary(examples: list[Example]) -> dict:
    """The rules' best sentence on the same examples (never declining), for comparison."""
    readable = [ex for ex in examples if ex.readable]
    right = [bool(ex.ranked) and ex.y[0] == 1 for ex in examples]
    return {"top_right": sum(right) / (len(examples) or 1),
            "readable_top_right": sum(bool(ex.ranked) and ex.y[0] == 1 for ex in readable)
            / (len(readable) or 1)}


def split_examples(
    records: list[dict], passages_read: int | None, share: float = 1.0,
    progress: Progress | None = None,
) -> tuple[list[Example], list[Example]]:
    rng = random.Random(SEED)
    train, held = [], []
    for n, record in enumerate(records, 1):
        if record["split"] == "train" and rng.random() >= share:
            continue
        ex = example(record, passages_read)
        (train if record["split"] == "train" else held).append(ex)
        if progress:
            progress(n, len(records))
    return train, held
