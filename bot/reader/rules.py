"""The rules reader ([reader] kind = "extractive"): the sentences of the passages that best
answer the question, chosen by hand-set weights.

Nothing here writes text of its own: the lead is one or two sentences copied from stored
passages, each followed by the [n] of the source it came from. bot/reader/ranking.py scores
each sentence of the passages read (bot/reader/passages.py) as an answer; the best leads, and a
second one joins it when it scores nearly as well and both fit in `lead_max_chars`. The
passages shown as sources are re-ordered by their best sentence, so the lead's source comes
first. The learned reader (bot/reader/learned/reader.py) is this reader with a model ordering
the sentences and deciding when to decline.

The answer declines, and lists the closest articles instead, when no passage is close enough
to the question (`min_similarity`), or when the question asks for a name, number or date and
no sentence scores well enough as an answer (`min_score`, judged on `Scored.relevance`: the
article's date is left out of that score, so undated articles are judged like dated ones, and
so is the bonus for a candidate of the kind asked, which says nothing of whether the sentence
is about the question).
"""

from __future__ import annotations

import time
from datetime import date

from bot.reader import dating
from bot.reader.answer import NOT_FOUND, SHORT_ANSWER_SEPARATOR, Answer, Citation, Retrieved
from bot.reader.passages import Passages
from bot.reader.questions import Kind, Question, analyse
from bot.reader.ranking import Scored, date_detail, rank
from index.search import Hit
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


class RulesReader:
    """The extractive reader with hand-set weights. Its hooks (`passages_read`, `_order`,
    `_declines`, `_sure_of_short`) are what the learned reader replaces."""

    name = "extractive"

    def __init__(self, settings: AnswerSettings, top_k: int) -> None:
        self.settings = settings
        self.top_k = top_k

    @property
    def passages_read(self) -> int:
        """How many of the passages found are read for sentences."""
        return self.settings.passages_read

    def answer(self, question: str, passages: Passages, day: date) -> Answer:
        """Answer `question` asked on `day`: articles of the days before it are preferred and
        articles dated after it distrusted, as a reader of the news on that day would."""
        started = passages.started
        hits, stories = passages.hits, passages.stories
        read = hits[: self.passages_read]
        parsed = analyse(question)
        idf = passages.idf(parsed.terms.values())
        ranked, confidence = self._order(
            parsed, rank(parsed, read, {s: idf[w] for s, w in parsed.terms.items()}, day), read
        )
        shown = stories.one_per_story(_by_best_sentence(hits, ranked))[: self.top_k]
        retrieved = [_retrieved(h) for h in shown]
        if not ranked or self._declines(parsed, ranked, read, confidence):
            return Answer(
                question=question, answer=NOT_FOUND, answered=False, retrieved=retrieved,
                latency_ms=(time.perf_counter() - started) * 1000, reader=self.name,
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
        short = self._short(parsed, ranked, confidence) if lead[0] is ranked[0] else None
        text = " ".join(parts)
        if short:
            text = f"**{short}**{SHORT_ANSWER_SEPARATOR}{text}"
        text = dating.as_of_prefix(lead_hits[0].passage.article, day) + text
        return Answer(
            question=question, answer=text, answered=True,
            citations=stories.with_copies(citations), retrieved=retrieved,
            latency_ms=(time.perf_counter() - started) * 1000, short_answer=short,
            reader=self.name, confidence=confidence,
            span_passage=lead_hits[0].passage.text if short else None,
        )

    def close(self) -> None:
        """Nothing to free."""

    # -- what the learned reader replaces ----------------------------------------------------
    def _order(
        self, parsed: Question, ranked: list[Scored], read: list[Hit]
    ) -> tuple[list[Scored], float | None]:
        """The sentences best first (`Scored.hit` indexes `read`), and how sure the reader is
        of the best (None: no model)."""
        return ranked, None

    def _declines(
        self, parsed: Question, ranked: list[Scored], read: list[Hit], confidence: float | None
    ) -> bool:
        """Is no sentence a good enough answer? The rules' bars (see the module docstring)."""
        return rules_decline(parsed, ranked, read, self.settings)

    def _sure_of_short(self, confidence: float | None) -> bool:
        """May the short answer be shown, as far as the reader's confidence goes?"""
        return True

    def _short(self, parsed: Question, ranked: list[Scored], confidence: float | None
               ) -> str | None:
        """The short answer shown in bold before the lead sentence, or None."""
        if not self._sure_of_short(confidence):
            return None  # the model is not sure enough of the candidate itself
        return short_answer(ranked, parsed)

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
