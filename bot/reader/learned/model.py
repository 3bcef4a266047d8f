"""The shipped learned reader model: a sentence scorer, a decline model, calibrated thresholds.

`sentence` (gradient-boosted trees or a logistic regression) scores every candidate sentence
(the chance that it holds the answer); `question` turns how clearly the best one wins into the
chance that it is right, which decides between answering and declining (`answer_threshold`)
and whether the bold short answer is shown (`short_threshold`). Both are plain numbers in a
JSON file, so answering needs numpy only (no scikit-learn) and costs well under a millisecond;
bot/reader/learned/train.py writes the file.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.reader.learned.features import feature_names

MODEL_FILE = Path(__file__).with_name("reader-model.json")


@dataclass(frozen=True)
class Linear:
    """Standardise, then a logistic regression's weights."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def to_json(self) -> dict:
        return {"kind": "linear", "names": list(self.names), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "coef": self.coef.tolist(),
                "intercept": self.intercept}

    @classmethod
    def from_json(cls, data: dict, expected: tuple[str, ...]) -> Linear:
        names = tuple(data["names"])
        _check_names(names, expected)
        return cls(names, np.asarray(data["mean"], dtype=np.float32),
                   np.asarray(data["scale"], dtype=np.float32),
                   np.asarray(data["coef"], dtype=np.float32), float(data["intercept"]))


@dataclass(frozen=True)
class Trees:
    """Gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier, exported): every
    tree of the ensemble walked at once, one level per step, for all rows together."""

    names: tuple[str, ...]
    feature: np.ndarray  # per node (all trees' nodes in one array); leaves point to themselves
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray  # a leaf's contribution to the logit (0 for inner nodes)
    roots: np.ndarray
    depth: int
    baseline: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        rows = np.arange(len(x))[:, None]
        at = np.broadcast_to(self.roots, (len(x), len(self.roots)))
        for _ in range(self.depth):
            go_left = x[rows, self.feature[at]] <= self.threshold[at]
            step = np.where(go_left, self.left[at], self.right[at])
            if np.array_equal(step, at):  # every row is at a leaf of every tree
                break
            at = step
        return self.value[at].sum(axis=1) + self.baseline

    def to_json(self) -> dict:
        return {"kind": "trees", "names": list(self.names), "feature": self.feature.tolist(),
                "threshold": self.threshold.tolist(), "left": self.left.tolist(),
                "right": self.right.tolist(), "value": self.value.tolist(),
                "roots": self.roots.tolist(), "depth": self.depth, "baseline": self.baseline}

    @classmethod
    def from_json(cls, data: dict, expected: tuple[str, ...]) -> Trees:
        _check_names(tuple(data["names"]), expected)
        return cls(tuple(data["names"]), np.asarray(data["feature"], dtype=np.int32),
                   np.asarray(data["threshold"], dtype=np.float64),
                   np.asarray(data["left"], dtype=np.int32),
                   np.asarray(data["right"], dtype=np.int32),
                   np.asarray(data["value"], dtype=np.float64),
                   np.asarray(data["roots"], dtype=np.int32), int(data["depth"]),
                   float(data["baseline"]))


def _check_names(names: tuple[str, ...], expected: tuple[str, ...]) -> None:
    if names != expected:
        raise ValueError(
            "the reader model was trained on other features than this code computes;"
            " retrain it with `newsbot reader train`"
        )


def _scorer(data: dict, expected: tuple[str, ...]) -> Linear | Trees:
    if data.get("kind") == "trees":
        return Trees.from_json(data, expected)
    return Linear.from_json(data, expected)


@dataclass(frozen=True)
class ReaderModel:
    sentence: Linear | Trees
    question: Linear
    answer_threshold: float  # probability the best sentence is right, below which: decline
    short_threshold: float  # ... below which the short answer is not shown
    passages_read: int  # how many passages the model was trained to read
    # Trained with the span reader's features (bot/reader/learned/span.py): answering then runs it.
    span: bool = False

    def to_json(self) -> dict:
        return {"sentence": self.sentence.to_json(), "question": self.question.to_json(),
                "answer_threshold": self.answer_threshold,
                "short_threshold": self.short_threshold, "passages_read": self.passages_read,
                "span": self.span}

    @classmethod
    def from_json(cls, data: dict) -> ReaderModel:
        span = bool(data.get("span", False))
        sentence_names, question_names = feature_names(span)
        return cls(
            _scorer(data["sentence"], sentence_names),
            Linear.from_json(data["question"], question_names),
            float(data["answer_threshold"]), float(data["short_threshold"]),
            int(data["passages_read"]), span,
        )

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        tmp.replace(path)


@functools.lru_cache(maxsize=4)
def load(path: Path = MODEL_FILE) -> ReaderModel:
    """The model in `path` (default: the one shipped beside this module)."""
    return ReaderModel.from_json(json.loads(path.read_text()))


def sha256(path: Path = MODEL_FILE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    """The logistic function (written with tanh: no overflow however far x is from 0)."""
    return 0.5 * (1.0 + np.tanh(np.asarray(x) / 2.0))
