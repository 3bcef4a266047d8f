"""Extractive answers: the sentences of the retrieved passages that best answer the question.

Nothing here writes text of its own: the lead is one or two sentences copied from stored
passages, each followed by the [n] of the source it came from. When no passage is close
enough to the question, the answer declines and lists the closest articles instead.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from bot.answer_model import NOT_FOUND, Answer, Citation, Retrieved
from index.search import Filters, Hit, Searcher
from index.sentences import split_sentences
from index.settings import AnswerSettings
from index.text import content_words

_NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|"
                     r"hundred|thousand|million|billion)\b", re.I)
_DATE = re.compile(
    r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\b|\b(?:19|20)\d\d\b|"
    r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|yesterday|today)\b",
    re.I,
)
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _type_bonus(question: str, sentence: str) -> float:
    """Does the sentence hold the kind of thing the question asks for?"""
    q = question.lower()
    if re.search(r"\bhow (many|much)\b|\bwhat (percentage|number|amount)\b", q):
        return 1.0 if _NUMBER.search(sentence) else 0.0
    if re.search(r"\bwhen\b|\bwhat (year|date|day|month)\b", q):
        return 1.0 if _DATE.search(sentence) else 0.0
    if re.search(r"\bwho\b|\bwhich (person|company|team|country)\b", q):
        return 1.0 if _NAME.search(sentence) else 0.0
    return 0.0


@dataclass(frozen=True)
class _Candidate:
    sentence: str
    hit_index: int
    score: float


class Answerer:
    def __init__(self, searcher: Searcher, settings: AnswerSettings, top_k: int) -> None:
        self.searcher = searcher
        self.settings = settings
        self.top_k = top_k

    def answer(
        self, question: str, *, context: str | None = None, filters: Filters | None = None
    ) -> Answer:
        started = time.perf_counter()
        query = f"{context} {question}" if context else question
        qvec = self.searcher.embed_query(query)
        limit = max(self.top_k, self.settings.passages_read)
        hits = self.searcher.search(query, limit=limit, filters=filters, query_vector=qvec)
        retrieved = [_retrieved(h) for h in hits[: self.top_k]]
        lead = self._lead(question, qvec, hits[: self.settings.passages_read])
        if not lead:
            return Answer(
                question=question, answer=NOT_FOUND, answered=False, retrieved=retrieved,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        numbers: dict[str, int] = {}
        citations: list[Citation] = []
        parts: list[str] = []
        # Cited sources first, in the order the lead cites them, then the other top articles.
        order = [c.hit_index for c in lead] + list(range(len(hits[: self.top_k])))
        for i in order:
            hit = hits[i]
            article = hit.passage.article
            if article.id in numbers:
                continue
            numbers[article.id] = len(numbers) + 1
            citations.append(
                Citation(
                    n=numbers[article.id], title=article.display_title, source=article.source,
                    published=article.published, url=article.url, quote=hit.passage.text,
                    article_id=article.id,
                )
            )
        for cand in lead:
            parts.append(f"{cand.sentence} [{numbers[hits[cand.hit_index].passage.article.id]}]")
        return Answer(
            question=question, answer=" ".join(parts), answered=True, citations=citations,
            retrieved=retrieved, latency_ms=(time.perf_counter() - started) * 1000,
        )

    def _lead(self, question: str, qvec: np.ndarray, hits: list[Hit]) -> list[_Candidate]:
        if not hits:
            return []
        q_terms = {_stem(w) for w in content_words(question)}
        sentences: list[tuple[str, int]] = []
        for i, hit in enumerate(hits):
            for sentence in split_sentences(hit.passage.text):
                if len(sentence.split()) >= 4:
                    sentences.append((sentence, i))
        if not sentences:
            return []
        vecs = self.searcher.store.embedder.embed([s for s, _ in sentences])
        sims = vecs @ qvec
        candidates = []
        for (sentence, i), sim in zip(sentences, sims, strict=True):
            s_terms = {_stem(w) for w in content_words(sentence)}
            overlap = len(q_terms & s_terms) / len(q_terms) if q_terms else 0.0
            score = (
                float(sim) + 0.3 * overlap + 0.1 * _type_bonus(question, sentence)
                + 0.05 * hits[i].similarity - 0.02 * i
            )
            candidates.append(_Candidate(sentence, i, score))
        candidates.sort(key=lambda c: c.score, reverse=True)
        best = candidates[0]
        top_similarity = max(h.similarity for h in hits)
        if top_similarity < self.settings.min_similarity:
            return []
        lead = [best]
        room = self.settings.lead_max_chars - len(best.sentence)
        for cand in candidates[1:3]:
            if cand.score >= best.score - 0.05 and len(cand.sentence) <= room and (
                cand.sentence not in best.sentence
            ):
                lead.append(cand)
                break
        return lead


def _retrieved(hit: Hit) -> Retrieved:
    article = hit.passage.article
    return Retrieved(
        url=article.url, title=article.display_title, score=hit.similarity,
        text=hit.passage.text, article_id=article.id, passage_id=hit.passage.id,
        source=article.source, published=article.published,
    )
