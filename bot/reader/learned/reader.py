"""The learned reader ([reader] kind = "learned"): the rules reader's sentences, ordered by the
model, which also decides, by its confidence, whether to answer and whether to lead with a
short answer."""

from __future__ import annotations

import numpy as np

from bot.reader.learned.features import feature_names, question_vector, sentence_matrix
from bot.reader.learned.model import ReaderModel, sigmoid
from bot.reader.questions import Kind, Question
from bot.reader.ranking import Scored
from bot.reader.rules import RulesReader
from index.errors import InputError
from index.search import Hit
from index.settings import AnswerSettings


class LearnedReader(RulesReader):
    """The rules reader with `model` (bot/reader/learned/model.py) ordering the sentences the
    rules gather and deciding when to decline and when to show the short answer."""

    name = "learned"

    def __init__(self, settings: AnswerSettings, top_k: int, model: ReaderModel) -> None:
        super().__init__(settings, top_k)
        self.model = model
        self.spans = None
        if model.span:  # the model weighs what the span reader finds: it must be there
            from bot.reader.learned import span

            self.spans = span.load()
            if self.spans is None:
                raise InputError(
                    f"the learned reader's model was trained with the span reader, but"
                    f" {span.SPAN_FILE.name} or {span.TOKENIZER_FILE.name} is missing beside"
                    " it; reinstall, or retrain with `newsbot reader train`"
                )

    @property
    def passages_read(self) -> int:
        return self.model.passages_read

    def _order(
        self, parsed: Question, ranked: list[Scored], read: list[Hit]
    ) -> tuple[list[Scored], float | None]:
        if self.spans is not None and ranked:
            from bot.reader.learned.span import add_features

            texts = [h.passage.text for h in read]
            add_features(self.spans.read(parsed.text, texts), texts, ranked)
        return rerank(self.model, parsed, ranked)

    def _declines(
        self, parsed: Question, ranked: list[Scored], read: list[Hit], confidence: float | None
    ) -> bool:
        """The model's confidence decides when the question asks for a name, date or number;
        otherwise the rules' bars. The model learned from news quizzes, whose answers are
        names, dates and numbers: whether a sentence answers "why" or "what happened" is not
        in its labels, so open questions keep the rules' similarity bar."""
        if parsed.kind is not Kind.OPEN:
            return (confidence or 0.0) < self.model.answer_threshold
        return super()._declines(parsed, ranked, read, confidence)

    def _sure_of_short(self, confidence: float | None) -> bool:
        return (confidence or 0.0) >= self.model.short_threshold


def rerank(model: ReaderModel, question: Question, ranked: list[Scored]) -> tuple[
        list[Scored], float]:
    """`ranked` best first by the model (each `score` becomes its logit) and the chance that
    the best sentence answers the question. A model trained with spans needs the span
    features already in each sentence's `features` (span.py add_features)."""
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
