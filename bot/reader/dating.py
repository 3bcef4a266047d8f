"""Dated answers: when a report is from, and which of two disagreeing reports leads.

- A lead drawn from a report older than the last day or two before the day asked says so:
  "As of 3 March (Reuters): …". (Every cited source shows its date in the source list too.)
- When the best answers come from reports of different days and give different answers (a
  death toll that rises, a count that changes), the newer report leads and the answer adds
  that earlier reports said otherwise, quoting the older one with its own citation.

"Different answers" uses the ranking's answer candidates (bot/reader/ranking.py): two sentences that
both answer a name, number or date question, score nearly as well, share none of their
candidates and speak of the same thing (they share words of the question besides them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.reader.copies import publisher
from bot.reader.questions import Kind, Question, stem
from bot.reader.ranking import Scored
from index.models import Article
from index.search import Hit
from index.text import content_words

RECENT_DAYS = 2  # a report this many days before the day asked (or after) needs no date
DISAGREE_MARGIN = 0.5  # the older and newer answers score within this of each other
DISAGREE_LOOK = 10  # ranked sentences looked at for a disagreeing one
FUTURE_SLACK_DAYS = 2  # as bot/reader/ranking.recency: later-dated reports are distrusted

_MONTHS = (
    "January February March April May June July August September October November December"
).split()


def day_of(published: str | None) -> date | None:
    if not published:
        return None
    try:
        return date.fromisoformat(published.strip()[:10])
    except ValueError:
        return None


def shown_date(published: str | None) -> str:
    """A source's date as the source lists show it: its day, or "date unknown"."""
    day = day_of(published)
    if day is not None:
        return day.isoformat()
    return published.strip() if published and published.strip() else "date unknown"


def spoken_day(day: date, as_of: date) -> str:
    """"3 March", with the year when it is not the year asked in."""
    text = f"{day.day} {_MONTHS[day.month - 1]}"
    return text if day.year == as_of.year else f"{text} {day.year}"


def as_of_prefix(article: Article, as_of: date) -> str:
    """"As of 3 March (Reuters): " for a report older (or newer) than the last day or two
    before `as_of`; "" for a recent or undated one."""
    day = day_of(article.published)
    if day is None or abs((as_of - day).days) <= RECENT_DAYS:
        return ""
    who = publisher(article.source, article.url)
    return f"As of {spoken_day(day, as_of)}" + (f" ({who})" if who else "") + ": "


@dataclass(frozen=True)
class Disagreement:
    newer: Scored
    older: Scored


def disagreement(
    question: Question, ranked: list[Scored], read: list[Hit], as_of: date
) -> Disagreement | None:
    """The best answer and a nearly-as-good one of another day that gives another answer,
    newer first; None when the top answers agree, or cannot be dated."""
    if question.kind is Kind.OPEN or not ranked or not ranked[0].candidates:
        return None
    best = ranked[0]
    best_day = _day(read[best.hit], as_of)
    if best_day is None:
        return None
    asked = set(question.terms)
    best_words = _words(best.sentence, best.candidates) & asked
    for other in ranked[1 : 1 + DISAGREE_LOOK]:
        if other.score < best.score - DISAGREE_MARGIN:
            break
        if (
            not other.candidates or _tokens(other.candidates) & _tokens(best.candidates)
            or read[other.hit].passage.article.id == read[best.hit].passage.article.id
        ):
            continue
        other_day = _day(read[other.hit], as_of)
        if other_day is None or other_day == best_day:
            continue
        if not best_words & _words(other.sentence, other.candidates):
            continue  # not about the same thing
        if other_day > best_day:
            return Disagreement(newer=other, older=best)
        return Disagreement(newer=best, older=other)
    return None


def earlier_note(older: Scored, article: Article, n: int, as_of: date) -> str:
    """The clause saying what the older report said, with its citation number."""
    day = day_of(article.published)
    who = publisher(article.source, article.url)
    when = ", ".join(x for x in (who, spoken_day(day, as_of) if day else None) if x)
    return f"Earlier reports said otherwise{f' ({when})' if when else ''}: “{older.sentence}” [{n}]"


def _day(hit: Hit, as_of: date) -> date | None:
    """The report's day; None when undated or dated past the day asked (distrusted)."""
    day = day_of(hit.passage.article.published)
    if day is None or (day - as_of).days > FUTURE_SLACK_DAYS:
        return None
    return day


def _tokens(candidates: list[str]) -> set[str]:
    """The words of answer candidates: "30" and "at least 30 people" share one, so agree."""
    return {w for c in candidates for w in content_words(c) or c.split()}


def _words(sentence: str, candidates: list[str]) -> set[str]:
    """The stems of a sentence's content words, less those of its answer candidates."""
    skip = {stem(w) for c in candidates for w in c.split()}
    return {stem(w) for w in content_words(sentence)} - skip
