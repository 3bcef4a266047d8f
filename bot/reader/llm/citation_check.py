"""Checking a generated answer against the passages it cites, before anyone sees it.

Pure functions, no I/O. A reply is split into sentences; a sentence is kept only when
- it carries at least one [n] marker, and every marker names a passage that was given;
- it holds no link, no @mention and no markdown link (nothing an article's text could smuggle
  into a message by instructing the model), and no secret (an API key, scrubbed from the
  reply by `scrub_secrets` before the check, or an `sk-` token);
- what it asserts is supported by the passages it cites (bot/reader/llm/claim_support.py): every
  quantity (digits or number words, as values), every name (in any case), no negation,
  opposite or cause the passages do not have, and at least 60 % of its content words.
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

from bot.reader.llm.claim_support import name_occurs, name_runs, problem
from bot.reader.llm.numbers import quantities, values
from index.sentences import split_sentences

MAX_SENTENCES = 2

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
    """The quantities and names in `sentence` that the cited passages must contain, as
    written."""
    return [q.text for q in quantities(sentence)] + name_runs(sentence)


def occurs(fact: str, passage: str) -> bool:
    """Does `fact` (a quantity or a name) occur in `passage`?

    Quantities as values, in digits or words ("1,500" is "1500" and "one thousand five
    hundred", "3.5" is never "35"); names as whole words in any case
    (bot/reader/llm/claim_support.py)."""
    found = quantities(fact)
    if found and found[0].text == fact.strip():
        return found[0].value in values(passage)
    return name_occurs(fact, passage)


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
    return problem(sentence.text, cited)


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
