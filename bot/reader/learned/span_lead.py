"""The span-led reader ([reader] kind = "span"): a trained span reader picks the answer.

The span reader (span.py, a MiniLM question-answering model pre-trained on cloze questions
and fine-tuned on two and a half years of news quizzes) reads the first few passages the
rules reader would read, in the same order. The sentence holding its best span, against the
passage's no-answer score, leads the answer; the rules' ranking orders the rest, and a
sentence the rules score nearly as high (or higher) joins the lead when both fit, as for the
rules reader. The span's margin over "no answer" is the
reader's confidence: below `answer_margin` it declines, from `short_margin` up the span is
shown in bold as the short answer. Both margins and the number of passages read were chosen
on the training weeks and checked on the held-out weeks (`span-reader.json`, its card in
span-model.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.reader.learned import span as span_model
from bot.reader.learned.model import sigmoid
from bot.reader.questions import Question
from bot.reader.ranking import Scored
from bot.reader.rules import RulesReader
from index.errors import InputError
from index.search import Hit
from index.settings import AnswerSettings

SETTINGS_FILE = Path(__file__).with_name("span-reader.json")


@dataclass(frozen=True)
class SpanLeadSettings:
    passages: int = 3  # passages the span reader reads (the first of those the rules read)
    answer_margin: float = 0.0  # best span less no-answer: below it, decline
    short_margin: float = 2.0  # from here the span itself is shown as the short answer
    # Below answer_margin, answer anyway when the rules' bars would (rules.rules_decline).
    rules_may_answer: bool = False

    @classmethod
    def load(cls, path: Path = SETTINGS_FILE) -> SpanLeadSettings:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(int(data["passages"]), float(data["answer_margin"]),
                   float(data["short_margin"]), bool(data.get("rules_may_answer", False)))


@dataclass(frozen=True)
class Found:
    margin: float  # the span's score less its passage's no-answer score
    hit: int  # which passage read
    start: int  # character offsets into that passage's text
    end: int


def best_span(reads: list[span_model.PassageSpans]) -> Found | None:
    """The best span of all passages read, by its margin over its passage's no-answer."""
    best: Found | None = None
    for hit, read in enumerate(reads):
        tokens = np.array([t for t, o in enumerate(read.offsets) if o[0] >= 0], dtype=np.int64)
        score, i, j = span_model._best(read.start, read.end, tokens)
        if i < 0:
            continue
        margin = score - read.null
        if best is None or margin > best.margin:
            best = Found(margin, hit, read.offsets[i][0], read.offsets[j][1])
    return best


def lead_with(ranked: list[Scored], read: list[Hit], found: Found) -> list[Scored]:
    """`ranked` with the sentence holding `found` first (its passage's copy, else any
    sentence quoting the span), marked with the span; unchanged when no sentence holds it."""
    text = read[found.hit].passage.text
    span = text[found.start:found.end]
    holder = None
    for s in ranked:
        if s.hit != found.hit:
            continue
        at = text.find(s.sentence)
        if at >= 0 and at <= found.start and found.end <= at + len(s.sentence):
            holder = s
            break
    if holder is None:  # the sentence was scored in an earlier passage that repeats it
        holder = next((s for s in ranked if span in s.sentence), None)
    if holder is None:
        return ranked
    holder.found_span = span
    # Its score stays the rules': the rules' order is the scores' (see _declines), and a
    # sentence the rules rank nearly as high may still join it in the lead.
    return [holder, *(s for s in ranked if s is not holder)]


class SpanLedReader(RulesReader):
    """The rules reader with the span reader choosing the lead sentence and the decline."""

    name = "span"

    def __init__(self, settings: AnswerSettings, top_k: int, spans: span_model.SpanReader,
                 lead: SpanLeadSettings) -> None:
        super().__init__(settings, top_k)
        self.spans = spans
        self.lead = lead

    @classmethod
    def load(cls, settings: AnswerSettings, top_k: int) -> SpanLedReader:
        """The reader with the span model and settings shipped beside this module."""
        spans = span_model.load()
        if spans is None or not SETTINGS_FILE.exists():
            raise InputError(
                f'[reader] kind = "span" needs {span_model.SPAN_FILE.name},'
                f" {span_model.TOKENIZER_FILE.name} and {SETTINGS_FILE.name} in"
                f" {SETTINGS_FILE.parent}; reinstall, or retrain (README: the span reader)"
            )
        return cls(settings, top_k, spans, SpanLeadSettings.load())

    def _order(
        self, parsed: Question, ranked: list[Scored], read: list[Hit]
    ) -> tuple[list[Scored], float | None]:
        texts = [h.passage.text for h in read[: self.lead.passages]]
        found = best_span(self.spans.read(parsed.text, texts)) if ranked else None
        if found is None:
            return ranked, 0.0
        confidence = float(sigmoid(found.margin))
        return lead_with(ranked, read, found), confidence

    def _declines(
        self, parsed: Question, ranked: list[Scored], read: list[Hit], confidence: float | None
    ) -> bool:
        if (confidence or 0.0) >= sigmoid(self.lead.answer_margin):
            return False
        if not self.lead.rules_may_answer:
            return True
        by_rules = sorted(ranked, key=lambda s: s.score, reverse=True)  # as rank() ordered them
        return super()._declines(parsed, by_rules, read, confidence)

    def _short(self, parsed: Question, ranked: list[Scored], confidence: float | None
               ) -> str | None:
        if (confidence or 0.0) < sigmoid(self.lead.short_margin):
            return None
        return ranked[0].found_span
