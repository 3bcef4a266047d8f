"""Checking a generated answer against the passages it cites, before anyone sees it.

Pure functions, no I/O. A reply is split into sentences; a sentence is kept only when
- it carries at least one [n] marker, and every marker names a passage that was given;
- it holds no link, no @mention and no markdown link (nothing an article's text could smuggle
  into a message by instructing the model);
- every number (digits or number words), and every name (a run of capitalised words; the
  sentence's first word counts unless it is a stop word), occurs in at least one of the
  passages the sentence cites, compared in the evaluation's normal form
  (bot/evaluation/metrics.normalize: lower case, no punctuation, no a/an/the), as whole words;
- at least half of its content words occur in the cited passages, so that a sentence with no
  name or number cannot say something the passages do not.
At most `MAX_SENTENCES` sentences that pass are kept, in the reply's order.

Why this is enough against instructions hidden in an article: whatever the model is led to
write, only sentences whose every fact is in a passage they visibly cite get through, so an
article can at most have its own words repeated under its own [n] (what the extractive reader
may quote too); it cannot put a claim under another article's number, add links or mentions,
or make the bot say anything no passage says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.evaluation.metrics import normalize
from index.sentences import split_sentences
from index.text import STOP_WORDS, content_words

MAX_SENTENCES = 2
MIN_SUPPORTED_SHARE = 0.5  # of a sentence's content words, found in the passages it cites

# [1], [2, 3], [2; 3]: a citation marker (several numbers in one pair of brackets allowed)
_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
# markers written after the sentence's full stop ("… billion. [1]") move before it, so the
# sentence splitter keeps them with their sentence
_MARKERS_AFTER_STOP = re.compile(
    r"([.!?…])((?:\s*\[\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*\])+)"
)
# An OpenAI-style secret key ("sk-…", "sk-proj-…"): never shown, whoever's it is
_SK_TOKEN = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")
REDACTED = "[secret removed]"
_LINK = re.compile(
    r"https?://|\bwww\.|\b[\w-]+\.(?:com|org|net|io|ru|xyz|info|biz|co|ly)\b|\]\(|<@|@\w|<#|<t:",
    re.IGNORECASE,
)
# a number as written: digits with thousands separators or a decimal point ("1,500", "3.5");
# "2025-03-01" and "9:30" are read as their parts
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = frozenset(
    """
    two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
    hundred thousand million billion trillion dozen dozens hundreds thousands millions billions
    first second third fourth fifth sixth seventh eighth ninth tenth half quarter
    """.split()
)
# A capitalised word (Apple, U.S., O'Brien, COVID-19, McDonald's)
_CAP_WORD = re.compile(r"[A-Z][\w'’.\-]*")
_WORD = re.compile(r"[\w'’.\-]+")
_POSSESSIVE = re.compile(r"['’]s?$")
# Sentence openers that are capitalised only because they open the sentence
_OPENERS = STOP_WORDS | frozenset(
    """
    however meanwhile yes officials overall instead still yet thus therefore also although
    though despite earlier later today yesterday tomorrow
    """.split()
)


@dataclass(frozen=True)
class Sentence:
    """One sentence of a reply: its text without markers, and the passage numbers it cites."""

    text: str
    cites: tuple[int, ...]


@dataclass(frozen=True)
class Dropped:
    sentence: str
    reason: str


@dataclass(frozen=True)
class CheckResult:
    kept: list[Sentence]
    dropped: list[Dropped]


def scrub_secrets(reply: str, key: str | None = None) -> str:
    """`reply` with the configured API `key` and any `sk-`-like token replaced by REDACTED
    (which check_sentence then refuses), so that an endpoint echoing a key cannot get it shown.
    """
    if key:
        reply = reply.replace(key, REDACTED)
    return _SK_TOKEN.sub(REDACTED, reply)


def split_reply(reply: str) -> list[Sentence]:
    """The sentences of a model's reply with their [n] markers taken out and collected.

    A line that is only markers belongs to the sentence before it."""
    text = _MARKERS_AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", reply.strip())
    out: list[Sentence] = []
    for raw in split_sentences(text):
        cites = tuple(
            int(n) for group in _MARKER.findall(raw) for n in re.split(r"\s*[,;]\s*", group)
        )
        clean = " ".join(_MARKER.sub(" ", raw).split())
        clean = re.sub(r"\s+([.!?,;:])", r"\1", clean)
        if not re.search(r"\w", clean):
            if out and cites:  # markers alone: they cite for the sentence before
                out[-1] = Sentence(out[-1].text, out[-1].cites + cites)
            continue
        out.append(Sentence(clean, cites))
    return out


def facts(sentence: str) -> list[str]:
    """The numbers and names in `sentence` that the cited passages must contain, as written."""
    found = [m.group(0) for m in _DIGITS.finditer(sentence)]
    found += [
        w.strip(".'’-") for w in _WORD.findall(sentence) if w.lower().strip(".'’-") in _NUMBER_WORDS
    ]
    found += _name_runs(sentence)
    return found


def _name_runs(sentence: str) -> list[str]:
    """Runs of consecutive capitalised words: "European Central Bank", "Joe Biden"."""
    runs: list[list[str]] = []
    current: list[str] = []
    for i, match in enumerate(_WORD.finditer(sentence)):
        word = match.group(0)
        is_name = bool(_CAP_WORD.fullmatch(word)) and not (
            i == 0 and word.lower() in _OPENERS
        )
        if word.lower() == "i":
            is_name = False
        if is_name:
            current.append(_POSSESSIVE.sub("", word))
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [" ".join(run) for run in runs]


def occurs(fact: str, passage: str) -> bool:
    """Does `fact` occur in `passage`?

    Words: as whole words, both in the evaluation's normal form. Numbers: as a number of the
    passage, thousands separators and leading zeros aside ("1,500" is "1500", "03" is "3",
    "500" is in "$500bn"); a decimal point is kept, so 3.5 is never 35."""
    if _DIGITS.fullmatch(fact):
        return _number(fact) in {_number(m.group(0)) for m in _DIGITS.finditer(passage)}
    needle = normalize(fact)
    if not needle:
        return True  # nothing left to check (punctuation only)
    return f" {needle} " in f" {normalize(passage)} "


def _number(text: str) -> str:
    digits = text.replace(",", "")
    whole, dot, frac = digits.partition(".")
    frac = frac.rstrip("0")
    return (whole.lstrip("0") or "0") + (f".{frac}" if dot and frac else "")


def check_sentence(sentence: Sentence, passages: Sequence[str]) -> str | None:
    """Why `sentence` may not be shown (one line), or None when every check passes.

    `passages` are the texts the model was given, numbered from 1 in this order."""
    if not sentence.cites:
        return "cites no passage"
    bad = [n for n in sentence.cites if not 1 <= n <= len(passages)]
    if bad:
        return f"cites [{bad[0]}], but only {len(passages)} passages were given"
    if REDACTED in sentence.text or _SK_TOKEN.search(sentence.text):
        return "held a secret (an API key), removed"
    if _LINK.search(sentence.text):
        return "holds a link or a mention"
    cited = [passages[n - 1] for n in dict.fromkeys(sentence.cites)]
    for fact in facts(sentence.text):
        if not any(occurs(fact, p) for p in cited):
            return f"{fact!r} is not in the passages it cites"
    words = [w for w in content_words(sentence.text) if not w.isdigit()]
    if words:
        cited_words = {w for p in cited for w in content_words(p)}
        supported = sum(w in cited_words for w in words)
        if supported < MIN_SUPPORTED_SHARE * len(words):
            return f"only {supported} of its {len(words)} words are in the passages it cites"
    return None


def check_reply(reply: str, passages: Sequence[str]) -> CheckResult:
    """The sentences of `reply` that pass check_sentence (at most MAX_SENTENCES), and the
    ones dropped with the reason."""
    kept: list[Sentence] = []
    dropped: list[Dropped] = []
    for sentence in split_reply(reply):
        reason = check_sentence(sentence, passages)
        if reason is None and len(kept) >= MAX_SENTENCES:
            reason = f"more than {MAX_SENTENCES} sentences"
        if reason is None:
            kept.append(sentence)
        else:
            dropped.append(Dropped(sentence.text, reason))
    return CheckResult(kept=kept, dropped=dropped)
