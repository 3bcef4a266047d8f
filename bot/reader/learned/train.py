"""Fitting the learned reader (`newsbot reader train`): features, labels, fit, calibration.

Labels are distant supervision: a sentence is a positive when a gold answer occurs in it as
whole words (the evaluation's normalisation, bot/evaluation/metrics.py). The sentence model is
fitted on the training weeks; the question model learns, on the same weeks, whether the
sentence model's best sentence is right; both thresholds are then set on the held-out weeks.
The answer threshold: the fewest wrong answers that keep as many right answers as the
hand-set rules give on the same questions. The short-answer threshold: the bold answer right
at least `MIN_SHORT_PRECISION` of the time. Open questions are declined by the rules' bars
(see LearnedReader._declines), here as in the product.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from bot.evaluation.metrics import any_appears
from bot.reader.learned.features import feature_names, sentence_matrix
from bot.reader.learned.model import Linear, ReaderModel, Trees
from bot.reader.learned.reader import rerank
from bot.reader.learned.span import PassageSpans, SpanReader, add_features
from bot.reader.questions import Kind, Question, analyse
from bot.reader.ranking import Scored, rank
from bot.reader.rules import rules_decline, short_answer
from index.errors import InputError
from index.models import Article, PassageRow
from index.search import Hit
from index.settings import AnswerSettings

# The answer threshold's fallback bar (see _answer_threshold): at most this share of the
# held-out questions answered wrongly. (At most one wrong in four *answers* would leave, on
# held-out weeks where the best sentence is right for about one question in seven, almost
# every question declined: see the curve in the model's card.)
MAX_WRONG_SHARE = 0.25
MIN_SHORT_PRECISION = 0.5
TREES = 150  # boosting rounds of the sentence scorer
MAX_DEPTH: int | None = None  # of each tree (None: as deep as its 15 leaves take it)
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
    rules_declined: bool  # the hand-set bars (bot/reader/rules.py) would decline


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


def example(
    record: dict, passages_read: int | None = None, reads: list[PassageSpans] | None = None
) -> Example:
    """The record's question ranked by the rules' code, with its features and labels; with
    `reads` (the span reader's reading of its passages), the span features too."""
    question = analyse(record["question"])
    hits = _hits(record, passages_read)
    idf = record.get("idf") or {}
    ranked = rank(question, hits, {s: idf.get(s, 1.0) for s in question.terms},
                  date.fromisoformat(record["day"]))
    golds = record["golds"]
    y = np.array([any_appears(golds, s.sentence) for s in ranked], dtype=np.int8)
    if reads is not None:
        add_features(reads, [h.passage.text for h in hits], ranked)
    x = sentence_matrix(question, ranked, feature_names(reads is not None)[0])
    readable = any(any_appears(golds, h.passage.text) for h in hits)
    declined = not ranked or rules_decline(question, ranked, hits, AnswerSettings())
    return Example(record["question_id"], record["split"], question, ranked, x, y, golds,
                   readable, declined)


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


def _fit_trees(x: np.ndarray, y: np.ndarray, names: tuple[str, ...]) -> Trees:
    """Gradient-boosted trees, exported to plain arrays (see Trees)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(
        max_iter=TREES, learning_rate=0.05, max_leaf_nodes=15, max_depth=MAX_DEPTH,
        min_samples_leaf=40,
        random_state=SEED,
    )
    clf.fit(x, y)
    feature, threshold, left, right, value, roots = [], [], [], [], [], []
    depth = 0
    for (predictor,) in clf._predictors:  # one tree per boosting round (binary task)
        nodes = predictor.nodes
        base = len(feature)
        roots.append(base)
        for i, node in enumerate(nodes):
            leaf = bool(node["is_leaf"])
            feature.append(0 if leaf else int(node["feature_idx"]))
            threshold.append(float("inf") if leaf else float(node["num_threshold"]))
            left.append(base + i if leaf else base + int(node["left"]))
            right.append(base + i if leaf else base + int(node["right"]))
            value.append(float(node["value"]) if leaf else 0.0)
            depth = max(depth, int(node["depth"]))
    trees = Trees(names, np.array(feature, dtype=np.int32), np.array(threshold),
                  np.array(left, dtype=np.int32), np.array(right, dtype=np.int32),
                  np.array(value), np.array(roots, dtype=np.int32), depth,
                  float(np.ravel(clf._baseline_prediction)[0]))
    # The export must score as the library does (missing values never occur here).
    check = x[: min(len(x), 2000)].astype(np.float64)
    if not np.allclose(trees.logits(check), clf.decision_function(check), atol=1e-6):
        raise RuntimeError("the exported trees do not reproduce scikit-learn's scores")
    return trees


@dataclass
class Outcome:
    """One question under a model: its confidence, and whether the lead / short are right."""

    confidence: float
    right: bool
    # Open questions are answered or declined by the rules' bars (bot/reader/rules.py), whatever
    # the confidence: whether they are answered, else None.
    by_rules: bool | None
    short: str | None
    short_right: bool
    readable: bool


def outcomes(model: ReaderModel, examples: list[Example]) -> list[Outcome]:
    out = []
    for ex in examples:
        if not ex.ranked:
            out.append(Outcome(0.0, False, None, None, False, ex.readable))
            continue
        ranked = [_copy(s) for s in ex.ranked]
        ranked, confidence = rerank(model, ex.question, ranked)
        short = short_answer(ranked, ex.question)
        by_rules = None if ex.question.kind is not Kind.OPEN else not ex.rules_declined
        out.append(Outcome(
            confidence, bool(any_appears(ex.golds, ranked[0].sentence)), by_rules, short,
            bool(short and any_appears(ex.golds, short)), ex.readable,
        ))
    return out


def _copy(s: Scored) -> Scored:
    return Scored(s.sentence, s.hit, s.score, list(s.candidates), s.recency, list(s.spans),
                  dict(s.strength), s.wanted, dict(s.features))


def fit(
    train: list[Example], held_out: list[Example], passages_read: int, c: float = 1.0,
    scorer: str = "trees", span: bool = False,
) -> tuple[ReaderModel, dict]:
    """The model and its held-out report (curve, thresholds, contains). `span`: the examples
    carry the span reader's features."""
    from bot.reader.learned.features import question_vector

    sentence_names, question_names = feature_names(span)

    x = np.concatenate([ex.x for ex in train if len(ex.y)])
    y = np.concatenate([ex.y for ex in train if len(ex.y)])
    if len(set(y.tolist())) < 2:
        raise InputError("the training questions need both right and wrong answers to learn"
                         " from (too few questions, or none whose articles hold the answer)")
    sentence = (_fit_trees(x, y, sentence_names) if scorer == "trees"
                else _fit_linear(x, y, sentence_names, c))
    # The decline model learns from scores the sentence model gives questions it was not
    # fitted on (two folds), as it will meet new questions: its own training questions'
    # scores are overconfident.
    folds = [train[0::2], train[1::2]]
    held_scorers = []
    for k in range(2):
        fx = np.concatenate([ex.x for ex in folds[1 - k] if len(ex.y)])
        fy = np.concatenate([ex.y for ex in folds[1 - k] if len(ex.y)])
        held_scorers.append(_fit_trees(fx, fy, sentence_names) if scorer == "trees"
                            else _fit_linear(fx, fy, sentence_names, c))
    qx, qy = [], []
    for k, fold in enumerate(folds):
        for ex in fold:
            if not len(ex.y):
                continue
            logits = held_scorers[k].logits(ex.x)
            order = np.argsort(-logits, kind="stable")
            ranked = [ex.ranked[i] for i in order]
            qx.append(question_vector(ex.question, ranked, logits[order], question_names))
            qy.append(int(ex.y[order[0]]))
    question = _fit_linear(np.stack(qx), np.array(qy), question_names, c)
    draft = ReaderModel(sentence, question, 0.0, 0.0, passages_read, span)
    results = outcomes(draft, held_out)
    answer_t, curve = _answer_threshold(results, rules_summary(held_out)["contains"])
    short_t = _short_threshold(results, answer_t)
    model = ReaderModel(sentence, question, answer_t, short_t, passages_read, span)
    return model, {"curve": curve, "held_out": summary(outcomes(model, held_out), model),
                   "answer_threshold": answer_t, "short_threshold": short_t}


def _answers(r: Outcome, threshold: float) -> bool:
    return r.by_rules if r.by_rules is not None else r.confidence >= threshold


def _answer_threshold(results: list[Outcome], rules_right: float) -> tuple[float, list[dict]]:
    """The threshold, and the curve of answered / right / wrong as it moves.

    The highest threshold at which at least as many questions are answered right as the
    hand-set rules answer right on the same questions (`rules_right`): as few wrong answers
    as possible without losing right ones. When no threshold keeps that many, the lowest at
    which at most MAX_WRONG_SHARE of the questions are answered wrongly."""
    n = len(results) or 1
    curve = []
    for t in np.round(np.arange(0.0, 1.0001, 0.0125), 4):
        answered = [r for r in results if _answers(r, t)]
        right = sum(r.right for r in answered)
        curve.append({"threshold": float(t), "answered": len(answered) / n, "right": right / n,
                      "wrong": (len(answered) - right) / n})
    keeping = [p["threshold"] for p in curve if p["answered"] and p["right"] >= rules_right]
    if keeping and max(keeping) > 0.0:
        return max(keeping), curve
    bounded = [p["threshold"] for p in curve if p["answered"] and p["wrong"] <= MAX_WRONG_SHARE]
    return (min(bounded) if bounded else 1.0), curve


def _short_threshold(results: list[Outcome], answer_t: float) -> float:
    for t in np.round(np.arange(answer_t, 1.0001, 0.025), 3):
        shown = [r for r in results if _answers(r, t) and r.confidence >= t and r.short]
        if shown and sum(r.short_right for r in shown) / len(shown) >= MIN_SHORT_PRECISION:
            return float(t)
    return 1.01


def summary(results: list[Outcome], model: ReaderModel) -> dict:
    n = len(results) or 1
    answered = [r for r in results if _answers(r, model.answer_threshold)]
    readable = [r for r in results if r.readable]
    shorts = [r for r in answered if r.short and r.confidence >= model.short_threshold]
    return {
        "questions": len(results),
        "contains": sum(r.right for r in answered) / n,
        "answered_wrongly": sum(not r.right for r in answered) / n,
        "declined": 1 - len(answered) / n,
        "readable": len(readable),
        "readable_contains": (sum(r.right and _answers(r, model.answer_threshold)
                                  for r in readable) / (len(readable) or 1)),
        "readable_top_right": sum(r.right for r in readable) / (len(readable) or 1),
        "short_shown": len(shorts) / n,
        "short_right": sum(r.short_right for r in shorts) / (len(shorts) or 1),
    }


def rules_summary(examples: list[Example]) -> dict:
    """The hand-set rules on the same examples, for comparison (as `summary` reports)."""
    n = len(examples) or 1
    readable = [ex for ex in examples if ex.readable]
    right = {ex.question_id for ex in examples if ex.ranked and ex.y[0] == 1}
    answered = [ex for ex in examples if not ex.rules_declined]
    return {
        "questions": len(examples),
        "contains": sum(ex.question_id in right for ex in answered) / n,
        "answered_wrongly": sum(ex.question_id not in right for ex in answered) / n,
        "declined": 1 - len(answered) / n,
        "readable": len(readable),
        "readable_contains": sum(ex.question_id in right and not ex.rules_declined
                                 for ex in readable) / (len(readable) or 1),
        "readable_top_right": sum(ex.question_id in right for ex in readable)
        / (len(readable) or 1),
    }


def span_reads(
    records: list[dict], reader: SpanReader, passages_read: int | None, cache: Path,
    progress: Progress | None = None,
) -> dict[str, list[PassageSpans]]:
    """The span reader's reading of every record's passages, kept in `cache` (a pickle,
    keyed by the span model's file digest) so that refitting does not read them again."""
    import pickle

    key = reader.digest
    done: dict[str, list[PassageSpans]] = {}
    if cache.exists():
        stored = pickle.loads(cache.read_bytes())
        done = stored["reads"] if stored.get("model") == key else {}
    for n, record in enumerate(records, 1):
        if record["question_id"] not in done:
            texts = [p["text"] for p in record["passages"][:passages_read]]
            done[record["question_id"]] = reader.read(record["question"], texts)
        if progress:
            progress(n, len(records))
        if n % 100 == 0 or n == len(records):
            cache.write_bytes(pickle.dumps({"model": key, "reads": done}))
    return done


def split_examples(
    records: list[dict], passages_read: int | None, share: float = 1.0,
    progress: Progress | None = None, reads: dict[str, list[PassageSpans]] | None = None,
) -> tuple[list[Example], list[Example]]:
    rng = random.Random(SEED)
    train, held = [], []
    for n, record in enumerate(records, 1):
        if record["split"] == "train" and rng.random() >= share:
            continue
        ex = example(record, passages_read,
                     reads[record["question_id"]] if reads is not None else None)
        (train if record["split"] == "train" else held).append(ex)
        if progress:
            progress(n, len(records))
    return train, held
