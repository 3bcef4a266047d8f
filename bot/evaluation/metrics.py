"""Scoring extractive answers against gold answer strings.

Text is normalised SQuAD-style (lower case, punctuation dropped, the articles a/an/the
dropped, white space folded), with every Unicode punctuation mark counted as punctuation so
that curly quotes and dashes in news text behave like their ASCII forms. A gold answer
"appears" in a text when its normalised words occur there as a run of whole words.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_MARKER = re.compile(r"\[(\d+)\]")  # an answer's citation marker [n]

LEAD_CHARS = 300  # contains@answer looks at this many characters of the answer


def normalize(text: str) -> str:
    """SQuAD normal form: lower case, no punctuation, no articles, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(c).startswith("Z") else c for c in text)
    text = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def appears(gold: str, text: str) -> bool:
    """Does the normalised `gold` occur in the normalised `text` as whole words?"""
    needle = normalize(gold)
    if not needle:
        return False
    return f" {needle} " in f" {normalize(text)} "


def any_appears(golds: Sequence[str], text: str) -> bool:
    return any(appears(g, text) for g in golds)


def lead_text(answer: str) -> str:
    """The part of an answer that contains@answer reads: its first 300 characters, no [n]."""
    return _MARKER.sub(" ", answer[:LEAD_CHARS])


def exclusive(golds: Sequence[str], wrong: Sequence[str], text: str) -> bool:
    """A gold answer appears in `text` and no wrong choice does (outside the gold itself)."""
    norm = f" {normalize(text)} "
    found = [g for g in map(normalize, golds) if g and f" {g} " in norm]
    if not found:
        return False
    for gold in found:
        norm = norm.replace(f" {gold} ", "  ")
    return not any(w and f" {w} " in norm for w in map(normalize, wrong))


@dataclass(frozen=True)
class QuestionScore:
    """One question's outcome; `exclusive` is None where the set has no wrong choices."""

    question_id: str
    hit5: bool
    contains: bool
    exclusive: bool | None
    cited: bool
    declined: bool
    latency_ms: float


def score_answer(
    question_id: str, answer: dict, golds: Sequence[str], wrong: Sequence[str] | None,
    latency_ms: float,
) -> QuestionScore:
    """Score one `newsbot ask --json` object against the gold answers."""
    answered = bool(answer["answered"])
    lead = lead_text(answer["answer"]) if answered else ""
    marked = {int(n) for n in _MARKER.findall(answer["answer"])} if answered else set()
    quotes = [c["quote"] for c in answer["citations"] if c["n"] in marked]
    return QuestionScore(
        question_id=question_id,
        hit5=any(any_appears(golds, r["text"]) for r in answer["retrieved"][:5]),
        contains=answered and any_appears(golds, lead),
        exclusive=None if wrong is None else answered and exclusive(golds, wrong, lead),
        cited=any(any_appears(golds, q) for q in quotes),
        declined=not answered,
        latency_ms=latency_ms,
    )


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile by linear interpolation (statistics' inclusive method)."""
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return float(cuts[int(pct) - 1])


@dataclass(frozen=True)
class Summary:
    """Shares over a set of questions (0..1) and per-question latency in milliseconds."""

    questions: int
    hit5: float
    contains: float
    exclusive: float | None
    cited: float
    declined: float
    wrong: float  # answered, but the gold answer is not in the lead
    latency_p50_ms: float
    latency_p95_ms: float

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def summarise(scores: Sequence[QuestionScore]) -> Summary:
    n = len(scores)

    def share(flags: list[bool]) -> float:
        return sum(flags) / n if n else 0.0

    with_choices = [s.exclusive for s in scores if s.exclusive is not None]
    latencies = [s.latency_ms for s in scores]
    return Summary(
        questions=n,
        hit5=share([s.hit5 for s in scores]),
        contains=share([s.contains for s in scores]),
        exclusive=(sum(with_choices) / len(with_choices)) if with_choices else None,
        cited=share([s.cited for s in scores]),
        declined=share([s.declined for s in scores]),
        wrong=share([not s.declined and not s.contains for s in scores]),
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
    )
