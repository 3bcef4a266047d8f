"""Ranking the sentences of the retrieved passages as answers to a question.

Every sentence of the passages read gets one score from evidence a reader would use:

- how much of the question it says (its words, weighted by how rare they are in the store),
  and how well its passage as a whole matches (the passage's words and its embedding);
- the answer candidates it holds: things of the kind asked for that the question does not
  already say (a number for "how many", a date for "when", a name for "who" or "which
  company"), worth as much as the relevant articles agree on them: a name that several
  articles give is more likely the answer than one a single article mentions; more when it
  is of the narrower kind asked (a person's name for "who", a percentage, a sum of money) and
  when some sentence names it next to what the question asks for ("the tech giant Apple");
- the numbers the question names ("in 2019") appearing in it;
- how recent its article is, as of the day the question is asked (news questions mean the
  latest reports; an article dated after that day is distrusted).

The weights were set on two public news QA sets (RealTime QA 2025 and RGB) and are deliberately
few and round; benchmarks/README.md gives what each part is worth on them. Sentences are not
embedded: the passage's similarity stands in, which keeps a question within tens of ms.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from bot.reader.questions import Kind, Question, numerals, stem
from index.entities import Entity
from index.search import Hit
from index.sentences import split_sentences
from index.text import content_words

# Weights of the sentence score (see the module docstring).
W_WORDS = 0.5  # share of the question's (idf-weighted) words in the sentence
W_PASSAGE_WORDS = 0.5  # ... in the sentence's passage and its article title
W_PASSAGE_SIMILARITY = 1.5  # cosine similarity of the question and the passage
W_RECENCY = 1.0  # 1 for an article of the last week before the question, less when older
W_SUPPORT = 1.0  # agreement of articles on the sentence's answer candidate (0..1)
W_NUMERALS = 1.0  # share of the question's numbers that the sentence repeats
W_DATE_DETAIL = 0.4  # a full date beats a bare year when the question asks "when"
W_FOCUS = 1.0  # some sentence names the candidate next to what is asked ("tech giant Apple")
FOCUS_WINDOW = 3  # words either side of a candidate
W_WANTED = 0.5  # a candidate of the narrower kind: a percentage, a sum of money, a person's name
W_RANK = 0.005  # per place of the passage in the search results
SUPPORT_TEMPERATURE = 0.4  # how fast a less relevant passage's vote fades
RECENT_DAYS = 7  # articles this close before the question count as fully recent
RECENCY_SCALE_DAYS = 30.0  # ...and older ones fade over about this many days
MIN_WORDS = 4  # shorter "sentences" are headings, bylines or captions

_MONTHS = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
           r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_DATE = re.compile(
    rf"\b{_MONTHS}\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+\d{{4}})?\b|\b\d{{1,2}}\s+{_MONTHS}\b"
    r"|\b(?:19|20)\d\d\b|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
    r"|\b[A-Z][a-z]+ Day\b"
)
_FULL_DATE = re.compile(r"\d{1,2},?\s+\d{4}|\d{4}-\d\d-\d\d")
_PARTIAL_DATE = re.compile(r"[A-Za-z]+\.? \d{4}|[A-Za-z]+\.? \d{1,2}\b")
_NUMBER = re.compile(
    r"(?:[$€£]\s?)?\b\d[\d,.]*(?:\s?(?:%|percent|million|billion|trillion|thousand))?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|hundred|thousand|"
    r"million|billion|dozen|half)\b",
    re.I,
)
# Runs of capitalised words, allowing a few lower-case joiners ("Bank of England").
_CAPITALISED = re.compile(
    r"[A-Z][\w’'.&-]*(?:\s+(?:(?:of|the|de|du|la|le|von|van|al|bin|for|and|&)\s+)*"
    r"[A-Z0-9][\w’'.&-]*)*"
)
_INNER_CAPITAL = re.compile(r"(?<=[\w,;:’')\]] )[A-Z][a-z]+")
_QUOTED = re.compile(r"[\"“‘']([^\"”’']{2,60})[\"”’']")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_POSSESSIVE = re.compile(r"(?<=\w)['’]s\b")
# Capitalised only because they start a sentence or a name: never an answer on their own.
_LEADING = frozenset(
    "the a an but and in on at for of to as by with from after before when while if this that"
    " these those it its he she they we i you his her their our my mr ms mrs dr more most some"
    " many one two all also so yet then there here what who which where how why no not new last"
    " first next".split()
)
_CALENDAR_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday today yesterday january february"
    " march april may june july august september october november december jan feb mar apr jun"
    " jul aug sep sept oct nov dec".split()
)


@dataclass
class Scored:
    """A candidate sentence and its score; `hit` indexes the passages read."""

    sentence: str
    hit: int
    score: float
    candidates: list[str]  # answer candidates it holds, normalised
    recency: float = 0.0  # the part of `score` that its article's date gave
    spans: list[str] = field(default_factory=list)  # the candidates as the sentence writes them
    # Per candidate (normalised): the parts of its strength the ranking gave (support across
    # articles, named next to what is asked, of the narrower kind asked), for the short answer.
    strength: dict[str, float] = field(default_factory=dict)
    wanted: frozenset[str] = frozenset()  # its candidates of the narrower kind asked
    # The evidence behind `score`, unweighted, by name: what the learned reader
    # (bot/reader/learned/) weighs instead of the hand-set weights above.
    features: dict[str, float] = field(default_factory=dict)
    # The answer a trained span reader found in it, as written (bot/reader/learned/span_lead.py).
    found_span: str | None = None

    @property
    def relevance(self) -> float:
        """The score less what its report's date and its candidate's kind gave: how well the
        sentence matches the question, which is what the decline bar judges. A sentence that
        holds a country for "which country" is no better a match for it."""
        return self.score - self.recency - (W_WANTED if self.wanted else 0.0)


class _Punctuation(dict[int, int | None]):
    """For str.translate: None (drop) for a Unicode punctuation mark of the Basic Multilingual
    Plane, the character itself otherwise. Filled as characters are met: listing all 65,536
    up front took 35 ms of every `newsbot ask`, and a hit is quicker than a miss."""

    def __missing__(self, c: int) -> int | None:
        kept = None if c < 0x10000 and unicodedata.category(chr(c)).startswith("P") else c
        self[c] = kept
        return kept


_PUNCTUATION = _Punctuation()


def _punctuation() -> dict[int, int | None]:
    return _PUNCTUATION


@functools.lru_cache(maxsize=100_000)
def normalise(text: str) -> str:
    """Lower case, no possessive 's, punctuation or articles, single spaces: for matching."""
    text = _POSSESSIVE.sub("", text.lower()).translate(_punctuation())
    return " ".join(_ARTICLES.sub(" ", text).split())


def recency(published: str | None, as_of: date | None) -> float:
    """1 for an article of the week before `as_of`, fading with age; -1 if dated after it."""
    if not published or as_of is None:
        return 0.0
    try:
        days = (as_of - date.fromisoformat(published[:10])).days
    except ValueError:
        return 0.0
    if days < -2:  # a day or two of slack for time zones and late-dated copies
        return -1.0
    return 1.0 / (1.0 + max(0, days - RECENT_DAYS) / RECENCY_SCALE_DAYS)


def candidates(sentence: str, kind: Kind, names: frozenset[str] = frozenset()) -> list[str]:
    """Spans of `sentence` that could answer a question of `kind` (none for open questions).

    `names` are words seen capitalised inside sentences nearby: such a word opening this
    sentence is a name too, not just a capital letter."""
    if kind is Kind.NUMBER:
        return [m.group(0).strip() for m in _NUMBER.finditer(sentence)]
    if kind is Kind.DATE:
        return [m.group(0) for m in _DATE.finditer(sentence)]
    if kind is Kind.NAMED:
        return _names(sentence, names)
    return []


# How the answer candidates of a name question are found when the passages carry entities:
# "entities" uses the model's entities only; "union" adds the capitalised-word rules' names.
NAMED_CANDIDATES = "entities"


def entity_candidates(
    sentence_entities: list[tuple[str, str]], labels: frozenset[str]
) -> list[tuple[str, str]]:
    """(text, label) of the sentence's entities whose label an answer may have."""
    return [(text, label) for text, label in sentence_entities if label in labels]


def _sentence_entities(
    text: str, sentences: tuple[str, ...], entities: tuple[Entity, ...]
) -> list[list[tuple[str, str]]]:
    """The (text, label) entities inside each sentence of a passage, by character offsets."""
    out: list[list[tuple[str, str]]] = []
    at = 0
    for sentence in sentences:
        start = text.find(sentence, at)
        if start < 0:  # split_sentences strips; it never rewrites, but stay safe
            out.append([])
            continue
        end = start + len(sentence)
        at = end
        out.append([(text[s:e], label) for s, e, label in entities if s >= start and e <= end])
    return out


def names_inside(sentences: list[str]) -> frozenset[str]:
    """Capitalised words that occur somewhere other than at the start of a sentence."""
    return frozenset(w for s in sentences for w in _inner_capitals(s))


@functools.lru_cache(maxsize=100_000)
def _inner_capitals(sentence: str) -> tuple[str, ...]:
    return tuple(w for w in _INNER_CAPITAL.findall(sentence) if w.lower() not in _LEADING)


def _names(sentence: str, names: frozenset[str]) -> list[str]:
    return [span for span, opening in _name_spans(sentence) if not opening or span in names]


@functools.lru_cache(maxsize=100_000)
def _name_spans(sentence: str) -> tuple[tuple[str, bool], ...]:
    """The sentence's possible names, each with whether it is one capitalised word opening
    the sentence (a name only if capitalised elsewhere too). Cached: passages recur."""
    out: list[tuple[str, bool]] = []
    for match in _CAPITALISED.finditer(sentence):
        words = match.group(0).split()
        while words and words[0].lower().strip("’'.") in _LEADING:
            words = words[1:]
        if not words:
            continue
        # "Chile's National Electricity Coordinator" names two things: Chile, and its agency.
        for part in re.split(r"(?:’s|'s)\s+", " ".join(words).rstrip(".,’'")):
            span = re.sub(r"(’s|'s)$", "", part)
            if span.lower() in _CALENDAR_WORDS or len(span) < 2:
                continue
            # One capitalised word opening the sentence is usually just an ordinary word
            # ("Amid"), unless it is possessive ("Denny's") or capitalised elsewhere too.
            opening = (
                sentence.startswith(span) and " " not in span and span[1:].islower()
                and not re.match(r"\S+(’s|'s)\b", sentence)
            )
            out.append((span, opening))
    out += [(m.group(1).strip(), False) for m in _QUOTED.finditer(sentence)
            if 1 <= len(m.group(1).split()) <= 8]
    return tuple(out)


@functools.lru_cache(maxsize=20_000)
def _sentences(text: str) -> tuple[str, ...]:
    """The sentences of a passage (cached: passages recur across questions)."""
    return tuple(split_sentences(text))


# The caches of this module hold strings and tuples only, never sets: the garbage collector
# stops tracking a tuple of strings, but walks every set on each full collection, and ~70,000
# cached frozensets made those take ~170 ms, the slowest answers of the latency benchmark
# (benchmarks/README.md, issue 21). A set is built from its cached tuple when it is needed.
@functools.lru_cache(maxsize=100_000)
def _stem_list(text: str) -> tuple[str, ...]:
    """The stems of the content words of `text`, in order (cached: passages recur across
    questions)."""
    return tuple(stem(w) for w in content_words(text))


def _stems(text: str) -> frozenset[str]:
    """The stems of the content words of `text`."""
    return frozenset(_stem_list(text))


def _is_new(span: str, question: Question, question_norm: str) -> bool:
    """Does `span` tell something the question does not already say?"""
    norm = normalise(span)
    if not norm or f" {norm} " in question_norm:
        return False
    stems = _stem_list(span)
    if not stems:
        return any(c.isdigit() for c in span)
    return not all(s in question.terms for s in stems)


def rank(
    question: Question, hits: list[Hit], idf: dict[str, float], as_of: date | None
) -> list[Scored]:
    """Every usable sentence of `hits`, best answer first."""
    total = sum(idf.get(s, 0.0) for s in question.terms) or 1.0

    def coverage(stems: frozenset[str] | set[str]) -> float:
        return sum(idf.get(s, 0.0) for s in question.terms if s in stems) / total

    question_norm = f" {normalise(question.text)} "
    question_pairs = _pairs(question.text)
    rows: list[tuple[Scored, float, str, str]] = []  # (scored, passage evidence, article, norm)
    seen: set[str] = set()
    split = [_sentences(hit.passage.text) for hit in hits]
    names = names_inside([s for ss in split for s in ss]) if question.kind is Kind.NAMED else None
    use_entities = question.kind is not Kind.OPEN and bool(question.labels)
    for i, hit in enumerate(hits):
        article = hit.passage.article
        sentences = [(s, _stems(s)) for s in split[i]]
        passage_stems = set(_stem_list(article.title or "")).union(*(st for _, st in sentences))
        fresh = recency(article.published, as_of)
        passage_covered = coverage(passage_stems)
        passage_evidence = (
            W_PASSAGE_WORDS * passage_covered + W_PASSAGE_SIMILARITY * hit.similarity
            + W_RECENCY * fresh
        )
        ents = hit.passage.entities if use_entities else None
        per_sentence = (
            _sentence_entities(hit.passage.text, split[i], ents) if ents is not None else None
        )
        for j, (sentence, stems) in enumerate(sentences):
            norm = normalise(sentence)
            if len(sentence.split()) < MIN_WORDS or norm in seen:
                continue
            seen.add(norm)  # passages overlap: a sentence is scored once, in its best passage
            if per_sentence is not None:
                typed = entity_candidates(per_sentence[j], question.labels)
                found_spans = [t for t, _ in typed]
                wanted = {t for t, label in typed if label in question.wanted_labels}
                if question.kind is Kind.NAMED and NAMED_CANDIDATES == "union":
                    found_spans += [c for c in candidates(sentence, question.kind, names or
                                                          frozenset()) if c not in found_spans]
            else:
                found_spans = candidates(sentence, question.kind, names or frozenset())
                wanted = (
                    {c for c in found_spans if _is_wanted(c, question.wants)}
                    if question.wants else set()
                )
            spans = [c for c in found_spans if _is_new(c, question, question_norm)]
            words_covered = coverage(stems)
            numerals_shared = _numerals_shared(question, sentence)
            detail = date_detail(spans) if question.kind is Kind.DATE else 0.0
            score = (
                passage_evidence + W_WORDS * words_covered + W_NUMERALS * numerals_shared
                - W_RANK * i + W_DATE_DETAIL * detail
            )
            wanted_here = {normalise(c) for c in spans if c in wanted}
            if wanted_here:
                score += W_WANTED
            found = [normalise(c) for c in spans]
            scored = Scored(sentence, i, score, found, W_RECENCY * fresh, spans,
                            {c: W_WANTED if c in wanted_here else 0.0 for c in found},
                            frozenset(wanted_here))
            scored.features = {
                "words": words_covered, "passage_words": passage_covered,
                "similarity": hit.similarity, "recency": fresh,
                "numerals": numerals_shared, "rank": float(i), "date_detail": detail,
                "wanted": 1.0 if wanted_here else 0.0, "candidates": float(len(found)),
                "position": float(j), "passage_position": float(hit.passage.position),
                "length": float(len(sentence.split())),
                "lexical": 1.0 if hit.lexical_rank is not None else 0.0,
                "support": 0.0, "focus": 0.0, "bigrams": _bigrams_shared(question_pairs, sentence),
            }
            rows.append((scored, passage_evidence, article.id, norm))
    if question.kind is not Kind.OPEN:
        _add_support(rows)
        if question.focus and question.kind is Kind.NAMED:
            _add_focus(rows, question.focus)
    ranked = [r[0] for r in rows]
    ranked.sort(key=lambda s: s.score, reverse=True)
    return ranked


def _add_support(rows: list[tuple[Scored, float, str, str]]) -> None:
    """Reward sentences whose answer candidate many relevant articles also give."""
    if not rows:
        return
    top = max(r[1] for r in rows)
    weights = [math.exp((r[1] - top) / SUPPORT_TEMPERATURE) for r in rows]
    # Which sentences hold each word, so a candidate is looked for only where its first is.
    cands = {c for r in rows for c in r[0].candidates}
    firsts = {c.split()[0] for c in cands}
    holding: dict[str, list[int]] = {}
    for i, (_, _, _, norm) in enumerate(rows):
        for word in firsts.intersection(norm.split()):
            holding.setdefault(word, []).append(i)
    support: dict[str, float] = {}
    for cand in cands:
        needle = f" {cand} "
        per_article: dict[str, float] = {}
        for i in holding.get(cand.split()[0], ()):
            _, _, article, norm = rows[i]
            if needle in f" {norm} ":
                per_article[article] = max(per_article.get(article, 0.0), weights[i])
        support[cand] = sum(per_article.values())
    best = max(support.values(), default=0.0) or 1.0
    for scored, *_ in rows:
        if scored.candidates:
            share = max(support[c] for c in scored.candidates) / best
            scored.score += W_SUPPORT * share
            scored.features["support"] = share
            for c in scored.candidates:
                scored.strength[c] = scored.strength.get(c, 0.0) + W_SUPPORT * support[c] / best


def _add_focus(rows: list[tuple[Scored, float, str, str]], focus: frozenset[str]) -> None:
    """Reward candidates that some sentence names next to the words of what is asked for."""
    best: dict[str, float] = {}
    for scored, _, _, norm in rows:
        if not scored.candidates:
            continue
        words = norm.split()
        for cand in scored.candidates:
            if best.get(cand) == 1.0:
                continue
            parts = cand.split()
            n = len(parts)
            for i, word in enumerate(words):
                if word == parts[0] and words[i : i + n] == parts:
                    near = words[max(0, i - FOCUS_WINDOW) : i] + words[i + n : i + n + FOCUS_WINDOW]
                    share = len(focus.intersection(map(stem, near))) / len(focus)
                    best[cand] = max(best.get(cand, 0.0), share)
                    break
    for scored, *_ in rows:
        if scored.candidates:
            share = max(best.get(c, 0.0) for c in scored.candidates)
            scored.score += W_FOCUS * share
            scored.features["focus"] = share
            for c in scored.candidates:
                scored.strength[c] = scored.strength.get(c, 0.0) + W_FOCUS * best.get(c, 0.0)


_PERSON = re.compile(r"[A-Z][\w’'.-]+(?: [A-Z][\w’'.-]+){1,2}")


def _is_wanted(span: str, wants: str) -> bool:
    """Is `span` a percentage / a sum of money / shaped like a person's name (2-3 words)?"""
    if wants == "percent":
        return "%" in span or "percent" in span.lower()
    if wants == "money":
        return bool(re.search(r"[$€£]|dollar|euro|pound", span, re.I))
    return _PERSON.fullmatch(span) is not None


def _pairs(text: str) -> frozenset[tuple[str, str]]:
    """The pairs of consecutive content-word stems of `text`."""
    return frozenset(itertools.pairwise(_stem_list(text)))


def _bigrams_shared(wanted: frozenset[tuple[str, str]], sentence: str) -> float:
    """Share of the question's pairs of consecutive content words (`wanted`) that the
    sentence repeats ("interest rates", "prime minister"): phrasing, which single words miss."""
    if not wanted:
        return 0.0
    return len(wanted.intersection(itertools.pairwise(_stem_list(sentence)))) / len(wanted)


def _numerals_shared(question: Question, sentence: str) -> float:
    if not question.numerals:
        return 0.0
    return len(question.numerals & numerals(sentence)) / len(question.numerals)


def date_detail(dates: list[str]) -> float:
    """1 for a full date ("July 21, 2017"), 0.5 for a month and day or year, 0 for a year."""
    best = 0.0
    for d in dates:
        if _FULL_DATE.search(d):
            return 1.0
        if _PARTIAL_DATE.search(d):
            best = 0.5
    return best
