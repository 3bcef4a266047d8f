"""What a question asks for: its kind of answer, its search terms and the numbers it names.

A question's kind decides which sentences can answer it: "How many..." wants a number,
"When..." a date, "Which company..." or "Who..." a name, and "Why..." or "What happened..."
any sentence that matches it well. The rules read only the question's own words, so they
work the same on any news question.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from index.text import STOP_WORDS, content_words


class Kind(StrEnum):
    NUMBER = "number"  # how many, how much, what percentage...
    DATE = "date"  # when, what year, what deadline...
    NAMED = "named"  # who, where, which X, what is the name of...
    OPEN = "open"  # why, how, what happened...


# Words of a question that say what kind of thing it asks about, never what it is about.
QUESTION_WORDS = frozenset(
    "following which what who whom whose where when why how many much name named one ones kind"
    " type among part did does".split()
)
_AUX = frozenset(
    "is was are were did does do has have had will can could would should happened caused causes"
    " makes made might may led prompted".split()
)
_OPEN_NOUNS = frozenset(
    "outcome reason reasons purpose goal result impact effect cause problem issue concern message"
    " plan change changes significance role status decision idea point main primary key".split()
)
_DATE_NOUNS = frozenset("year date month day time deadline week season decade century".split())
_NUMBER_NOUNS = frozenset(
    "percentage percent share proportion number amount price fraction portion sum total level"
    " rate cost revenue sales profit profits loss earnings valuation worth attendance turnout"
    " toll height distance length duration weight speed".split()
)
# Nouns of a keyword query ("Super Bowl 2021 location") that say what it wants.
_KEYWORD_DATE = frozenset("date released release founded premiere launch launched".split())
_KEYWORD_NAMED = frozenset(
    "location venue winner winners champion champions ceo president founder host won wins mvp"
    " director".split()
)
_NUMBER_Q = re.compile(r"\bhow (many|much|long|old|far|big|large|high|fast|tall|often)\b|"
                       r"\bby how much\b")
_WHEN_Q = re.compile(r"^when\b|\bwhen (is|was|are|were|did|does|do|will|has|have|had)\b")
_WH_REST = re.compile(r"\b(which|what)(?:'s|’s)?\s+(.*)")
_NAMED_Q = re.compile(r"\bwho(m|se)?\b|\bwhere\b|\bname\b|\bcalled\b")
_ANY_WH = re.compile(r"\b(what|which|why|how|who|where|when)\b")
_NUMERAL = re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match "pledged" with "pledge", "tariffs" with "tariff"."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


@dataclass(frozen=True)
class Question:
    text: str
    kind: Kind
    terms: dict[str, str]  # stem -> a word of the question with that stem, in question order
    numerals: frozenset[str]  # numbers the question names ("2019", "500")

    @property
    def years(self) -> frozenset[str]:
        return frozenset(n for n in self.numerals if len(n) == 4 and n[:2] in ("19", "20"))


def analyse(text: str) -> Question:
    terms: dict[str, str] = {}
    for word in content_words(text):
        if word not in QUESTION_WORDS:
            terms.setdefault(stem(word), word)
    return Question(
        text=text, kind=kind_of(text), terms=terms,
        numerals=frozenset(n.replace(",", "") for n in _NUMERAL.findall(text)),
    )


def kind_of(question: str) -> Kind:
    q = question.lower()
    if _NUMBER_Q.search(q):
        return Kind.NUMBER
    if _WHEN_Q.search(q) and not re.search(r"\b(which|what|who)\b", q):
        return Kind.DATE
    match = _WH_REST.search(q)
    if match:
        kind = _kind_from_head(match.group(2).split(), q)
        if kind is not None:
            return kind
    if _NAMED_Q.search(q):
        return Kind.NAMED
    if not _ANY_WH.search(q):
        words = set(re.findall(r"\w+", q))
        if words & _KEYWORD_DATE:
            return Kind.DATE
        if words & _NUMBER_NOUNS:
            return Kind.NUMBER
        if words & _KEYWORD_NAMED:
            return Kind.NAMED
    return Kind.OPEN


def _kind_from_head(rest: list[str], q: str) -> Kind | None:
    """The kind from the words after "which"/"what": "which country" names, "what percentage"
    counts, "what did they..." is open."""
    if not rest:
        return None
    if rest[0] == "of":  # "which of the following"
        return Kind.NAMED
    i = 0
    if rest[0] in _AUX:
        i = 1
        if not rest[1:2] or rest[1] not in ("the", "a", "an"):
            # "what did they do", "what is causing": a clause, not a noun
            return Kind.NAMED if _NAMED_Q.search(q) else Kind.OPEN
    if rest[i : i + 1] and rest[i] in ("the", "a", "an"):
        i += 1
    head = [w.strip("?,.\"“”") for w in rest[i : i + 3]]
    if head and head[0] in _AUX:
        return Kind.OPEN
    for word in head:
        if word in _DATE_NOUNS:
            return Kind.DATE
        if word in _NUMBER_NOUNS:
            return Kind.NUMBER
        if word in _OPEN_NOUNS:
            return Kind.OPEN
    if any(w and w not in STOP_WORDS for w in head):
        return Kind.NAMED
    return None
