"""Extractive answers: the sentences of the retrieved passages that best answer the question.

Nothing here writes text of its own: the lead is one or two sentences copied from stored
passages, each followed by the [n] of the source it came from. The search reads the top
passages (recent articles moved up a little); bot/reader/ranking.py scores each of their sentences as
an answer; the best leads, and a second one joins it when it scores nearly as well and both fit
in `lead_max_chars`. The passages shown as sources are re-ordered by their best sentence, so
the lead's source comes first.

The answer declines, and lists the closest articles instead, when no passage is close enough
to the question (`min_similarity`), or when the question asks for a name, number or date and
no sentence scores well enough as an answer (`min_score`, judged on `Scored.relevance`: the
article's date is left out of that score, so undated articles are judged like dated ones, and
so is the bonus for a candidate of the kind asked, which says nothing of whether the sentence
is about the question).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

from bot import dating
from bot.reader.answer import NOT_FOUND, SHORT_ANSWER_SEPARATOR, Answer, Citation, Retrieved
from bot.reader.copies import Stories
from bot.reader.learned.model import ReaderModel
from bot.reader.learned.reader import rerank
from bot.reader.questions import Kind, Question, analyse
from bot.reader.ranking import Scored, date_detail, rank, recency
from index.search import Filters, Hit, Searcher
from index.settings import AnswerSettings

SECOND_SENTENCE_MARGIN = 0.5  # a second lead sentence may score at most this much less
# A short answer needs a clear win: the lead sentence's best candidate ahead of its others by
# this much strength (support, focus, kind), and of every sentence offering another candidate
# by this much score.
SHORT_WITHIN_MARGIN = 0.25
SHORT_MARGIN = 0.25
# A question asking for a name, date or number whose best sentence holds no entity of that
# type is declined, when the passages carry entities (see benchmarks/README.md); like the
# min_score check, answer.min_score = -100 turns this off.
DECLINE_WITHOUT_CANDIDATE = True
MIN_SCORE_OFF = -100.0
SEARCH_RANK_WEIGHT = 0.1  # per place in the search results, when ordering the sources
# The search returns RECENCY_POOL times the passages read; an article of the week before the
# day asked moves up RECENCY_PLACES places among them (less as it ages, down if dated after).
RECENCY_POOL = 2
RECENCY_PLACES = 10


class Answerer:
    """The extractive answerer. With `model` (the learned reader, bot/reader/learned/), the model
    orders the sentences the rules gather and decides, by its confidence, whether to answer
    and whether to lead with a short answer; without it the hand-set weights do."""

    def __init__(
        self, searcher: Searcher, settings: AnswerSettings, top_k: int,
        model: ReaderModel | None = None,
    ) -> None:
        self.searcher = searcher
        self.settings = settings
        self.top_k = top_k
        self.model = model
        self.reader = "learned" if model is not None else "extractive"

    def answer(
        self, question: str, *, context: str | None = None, filters: Filters | None = None,
        as_of: str | date | None = None,
    ) -> Answer:
        """Answer `question` from the store.

        `as_of` is the day the question is asked (default: today, UTC): articles of the days
        before it are preferred and articles dated after it distrusted, as a reader of the
        news on that day would. `context` (earlier conversation) joins the search query only.
        """
        started = time.perf_counter()
        query = f"{context} {question}" if context else question
        day = _day(as_of)
        limit = max(self.top_k, self.settings.passages_read)
        hits = _recent_first(
            self.searcher.search(query, limit=RECENCY_POOL * limit, filters=filters),
            day,
        )[:limit]
        # One copy per story among the sources (bot/reader/copies.py); the others are named on it.
        # A story's newest and previous versions join the passages read (the search keeps one).
        stories = Stories(
            self.searcher.store.db, (h.passage.article.id for h in hits),
            filters.collections if filters else None,
        )
        hits = stories.with_versions(hits, day)
        read = hits[: self.model.passages_read if self.model else self.settings.passages_read]
        parsed = analyse(question)
        idf = self.searcher.idf(parsed.terms.values())
        ranked = rank(parsed, read, {s: idf[w] for s, w in parsed.terms.items()}, day)
        confidence = None
        if self.model is not None:
            ranked, confidence = rerank(self.model, parsed, ranked)
        shown = stories.one_per_story(_by_best_sentence(hits, ranked))[: self.top_k]
        retrieved = [_retrieved(h) for h in shown]
        if not ranked or self._declines(parsed, ranked, read, confidence):
            return Answer(
                question=question, answer=NOT_FOUND, answered=False, retrieved=retrieved,
                latency_ms=(time.perf_counter() - started) * 1000, reader=self.reader,
                confidence=confidence,
            )
        # Reports of different days that disagree: the newer leads (bot/reader/dating.py).
        conflict = dating.disagreement(parsed, ranked, read, day)
        lead = [conflict.newer] if conflict else self._lead(ranked)
        lead_hits = [read[s.hit] for s in lead]
        quoted = lead_hits + ([read[conflict.older.hit]] if conflict else [])
        numbers: dict[str, int] = {}  # by story: two copies of one story share a number
        citations: list[Citation] = []
        # Cited sources first, in the order the answer cites them, then the other top articles.
        for hit in quoted + shown:
            article = hit.passage.article
            key = stories.key(article.id)
            if key in numbers:
                continue
            numbers[key] = len(numbers) + 1
            quote = next(
                (h.passage.text for h in quoted if stories.key(h.passage.article.id) == key),
                hit.passage.text,
            )
            citations.append(
                Citation(
                    n=numbers[key], title=article.display_title, source=article.source,
                    published=article.published, url=article.url, quote=quote,
                    article_id=article.id,
                )
            )
        parts = [
            f"{s.sentence} [{numbers[stories.key(h.passage.article.id)]}]"
            for s, h in zip(lead, lead_hits, strict=True)
        ]
        if conflict:
            older = read[conflict.older.hit].passage.article
            parts.append(dating.earlier_note(
                conflict.older, older, numbers[stories.key(older.id)], day
            ))
        # The short answer is the best sentence's; a newer report that overrules it has none.
        short = short_answer(ranked, parsed) if lead[0] is ranked[0] else None
        if self.model is not None and (confidence or 0.0) < self.model.short_threshold:
            short = None  # the model is not sure enough of the candidate itself
        text = " ".join(parts)
        if short:
            text = f"**{short}**{SHORT_ANSWER_SEPARATOR}{text}"
        text = dating.as_of_prefix(lead_hits[0].passage.article, day) + text
        return Answer(
            question=question, answer=text, answered=True,
            citations=stories.with_copies(citations), retrieved=retrieved,
            latency_ms=(time.perf_counter() - started) * 1000, short_answer=short,
            reader=self.reader, confidence=confidence,
            span_passage=lead_hits[0].passage.text if short else None,
        )

    def _declines(
        self, parsed: Question, ranked: list[Scored], read: list[Hit], confidence: float | None
    ) -> bool:
        """Is no sentence a good enough answer? The model's confidence decides when there is
        a model and the question asks for a name, date or number; otherwise the rules' bars
        (see the module docstring). The model learned from news quizzes, whose answers are
        names, dates and numbers: whether a sentence answers "why" or "what happened" is not
        in its labels, so open questions keep the rules' similarity bar."""
        if self.model is not None and parsed.kind is not Kind.OPEN:
            return (confidence or 0.0) < self.model.answer_threshold
        return rules_decline(parsed, ranked, read, self.settings)


    def _lead(self, ranked: list[Scored]) -> list[Scored]:
        """The best sentence, and the next best when it is nearly as good and both fit."""
        best = ranked[0]
        room = self.settings.lead_max_chars - len(best.sentence) - 1
        for cand in ranked[1:6]:
            if cand.score < best.score - SECOND_SENTENCE_MARGIN:
                break
            if len(cand.sentence) <= room and cand.sentence not in best.sentence:
                return [best, cand]
        return [best]


def rules_decline(
    parsed: Question, ranked: list[Scored], read: list[Hit], settings: AnswerSettings
) -> bool:
    """The hand-set bars: no passage similar enough, or (for a name, date or number) no
    sentence scoring well enough or holding a candidate of the kind asked."""
    top_similarity = max((h.similarity for h in read), default=0.0)
    return (
        top_similarity < settings.min_similarity
        or (parsed.kind is not Kind.OPEN
            and ranked[0].relevance < settings.min_score)
        or (DECLINE_WITHOUT_CANDIDATE and parsed.kind is not Kind.OPEN
            and settings.min_score > MIN_SCORE_OFF
            and not ranked[0].candidates and _has_entities(read))
    )


def short_answer(ranked: list[Scored], question: Question) -> str | None:
    """The lead sentence's answer candidate, as it writes it, when it wins clearly: ahead of the
    sentence's other candidates, and that sentence ahead of every sentence that offers some
    other candidate but not this one. It must be of the narrower kind asked when the question
    names one ("who" wants a person), and a date must say more than a bare year or month.
    None when nothing wins clearly."""
    if not ranked or not ranked[0].candidates or question.kind is Kind.OPEN:
        return None
    top = ranked[0]
    strength = sorted(
        ((top.strength.get(c, 0.0), i) for i, c in enumerate(top.candidates)
         if top.candidates.index(c) == i
         and (not question.wanted_labels or c in top.wanted)
         and (question.kind is not Kind.DATE or date_detail([top.spans[i]]) >= 0.5)),
        reverse=True,
    )
    if not strength:
        return None
    if len(strength) > 1 and strength[0][0] - strength[1][0] < SHORT_WITHIN_MARGIN:
        return None
    best = top.candidates[strength[0][1]]
    for other in ranked[1:]:
        if top.score - other.score >= SHORT_MARGIN:
            break
        if other.candidates and best not in other.candidates:
            return None
    span = top.spans[strength[0][1]].strip(" ,;:")
    return span or None


def _has_entities(hits: list[Hit]) -> bool:
    return any(h.passage.entities is not None for h in hits)


def _day(as_of: str | date | None) -> date:
    if as_of is None:
        return datetime.now(UTC).date()
    if isinstance(as_of, datetime):
        return as_of.date()
    if isinstance(as_of, date):
        return as_of
    return date.fromisoformat(as_of[:10])


def _recent_first(hits: list[Hit], day: date) -> list[Hit]:
    """Search results with recent articles moved up: news questions mean the latest reports."""
    order = sorted(
        range(len(hits)),
        key=lambda i: i - RECENCY_PLACES * recency(hits[i].passage.article.published, day),
    )
    return [hits[i] for i in order]


def _by_best_sentence(hits: list[Hit], ranked: list[Scored]) -> list[Hit]:
    """Passages ordered by their best sentence's score, a little by their search rank too;
    passages with no scored sentence go last, in search order."""
    best: dict[int, float] = {}
    for s in ranked:
        best.setdefault(s.hit, s.score)
    order = sorted(
        range(len(hits)), key=lambda i: best.get(i, -1e9) - SEARCH_RANK_WEIGHT * i, reverse=True
    )
    return [hits[i] for i in order]


def _retrieved(hit: Hit) -> Retrieved:
    article = hit.passage.article
    return Retrieved(
        url=article.url, title=article.display_title, score=hit.similarity,
        text=hit.passage.text, article_id=article.id, passage_id=hit.passage.id,
        source=article.source, published=article.published,
    )
