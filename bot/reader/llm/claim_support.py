"""Does what a sentence asserts stand in the passages it cites? The word-level half of the
citation check (bot/reader/llm/citation_check.py), pure functions over text.

A sentence is unsupported (`problem` says why, in one line) when
- a quantity in it (digits or number words, bot/reader/llm/numbers.py) is not among the passages';
- a name in it (a run of capitalised words, or an acronym of one) is not in the passages,
  compared in any case, possessives and hyphens aside ("Chicago" is in "Chicago-born");
- a word of it that is no common English word (pyspellchecker's frequency list) is not in the
  passages: an invented name written in lower case;
- it negates what the passages state ("never closed" where the passage says it closed), or
  states what they negate;
- it uses a word whose opposite the passages use and not the word ("rose" where they say
  "fell"; a short list of the opposites news text turns on);
- it gives a cause ("because …", "due to …") that the passages do not give;
- fewer than MIN_SUPPORTED_SHARE of its content words (stemmed, Snowball) are in the
  passages.
It cannot see who did what to whom ("A beat B" against "B beat A") or a claim made only of
the passages' own words in a new order: the measured precision and recall on a set of
grounded and edited sentences are in README.md (python -m bot.evaluation.claims).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import snowballstemmer
from spellchecker import SpellChecker

from bot.evaluation.metrics import normalize
from bot.reader.llm.numbers import NUMBER_WORDS, quantities, values
from index.text import STOP_WORDS

MIN_SUPPORTED_SHARE = 0.6  # of a sentence's content words, found (stemmed) in the passages
RARE_BELOW = 500  # pyspellchecker counts: a word rarer than this is taken for a name
# Sentence openers that are capitalised only because they open the sentence
OPENERS = STOP_WORDS | frozenset(
    """
    however meanwhile yes officials overall instead still yet thus therefore also although
    though despite earlier later today yesterday tomorrow
    """.split()
)
_DAYS_MONTHS = frozenset(
    """
    monday tuesday wednesday thursday friday saturday sunday january february march april may
    june july august september october november december jan feb mar apr jun jul aug sep sept
    oct nov dec
    """.split()
)
# amounts without a number, compared as words: "dozens" dead is not "hundreds" dead
VAGUE_AMOUNTS = frozenset(
    "dozens hundreds thousands millions billions half halves quarter quarters".split()
)
NEGATIONS = frozenset(
    "not no never none nobody nothing neither nor without cannot nowhere".split()
)
# a cause the sentence gives, and the words by which a passage gives one
_CAUSES = frozenset("because due owing caused blamed thanks".split())
_PASSAGE_CAUSES = _CAUSES | frozenset(
    "after amid following prompted led result resulted forced since so cause causes reason "
    "why when".split()
)
_OPPOSITES = [
    ("rise", "fall"), ("rose", "fell"), ("risen", "fallen"), ("increase", "decrease"),
    ("increase", "reduce"), ("increase", "cut"), ("raise", "lower"), ("raise", "cut"),
    ("gain", "loss"), ("gain", "lose"), ("gain", "slide"), ("rise", "slide"), ("rose", "sank"),
    ("win", "lose"), ("won", "lost"), ("more", "less"), ("more", "fewer"),
    ("higher", "lower"), ("highest", "lowest"), ("longest", "shortest"),
    ("longer", "shorter"), ("largest", "smallest"), ("bigger", "smaller"),
    ("brighter", "dimmer"), ("approve", "reject"), ("accept", "reject"),
    ("accept", "decline"), ("support", "oppose"), ("favor", "against"),
    ("guilty", "innocent"), ("convict", "acquit"), ("enhance", "reduce"),
    ("enhance", "lower"), ("add", "remove"), ("hire", "fire"), ("alive", "dead"),
    ("survive", "die"), ("best", "worst"), ("strengthen", "weaken"), ("expand", "shrink"),
    ("legal", "illegal"), ("allow", "ban"), ("lift", "impose"), ("dropped", "rose"),
    ("drop", "rise"), ("up", "down"), ("surge", "slump"), ("boost", "cut"),
    ("keep", "lose"), ("kept", "lost"), ("open", "shut"),
]
_STEMMER = snowballstemmer.stemmer("english")
# words: letters and digits, a clitic kept apart ("didn't" -> "did" "n't", "Dubai's" -> "dubai")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’](?:s|t|re|ve|ll|d|m)\b)?")
_IRREGULAR_NOT = {"can't": "can", "won't": "will", "shan't": "shall"}
_NUMBER_SIGN = re.compile(r"\bno\.(?=\s*\d)", re.IGNORECASE)
_NAME_WORD = re.compile(r"[A-Z][\w'’.\-]*|[A-Z]")
_WORD = re.compile(r"[\w'’.\-&]+")
_POSSESSIVE = re.compile(r"['’]s?$")


@lru_cache(maxsize=1)
def _lexicon() -> SpellChecker:
    return SpellChecker(language="en", distance=1)


def is_common_word(word: str) -> bool:
    """Is `word` (lower case) a common English word, not something only a name would be?"""
    return _lexicon().word_frequency[word] >= RARE_BELOW


def stem(word: str) -> str:
    return _STEMMER.stemWord(word)


@lru_cache(maxsize=1)
def _opposites() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for a, b in _OPPOSITES:
        out.setdefault(stem(a), set()).add(stem(b))
        out.setdefault(stem(b), set()).add(stem(a))
    return {k: frozenset(v) for k, v in out.items()}


def tokens(text: str) -> list[str]:
    """Lower-case words; "n't" becomes "not", a possessive is dropped; hyphens split words;
    "No. 5" is a number, not a negation."""
    out: list[str] = []
    for m in _TOKEN.finditer(_NUMBER_SIGN.sub("number ", text)):
        word = m.group(0).lower().replace("’", "'")
        if word.endswith("n't"):
            out += [_IRREGULAR_NOT.get(word, word[:-3]), "not"]
            continue
        out.append(re.sub(r"'(s|re|ve|ll|d|m)$", "", word))
    return out


def _is_number(word: str) -> bool:
    return word.isdigit() or word in NUMBER_WORDS


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in tokens(text) if w not in STOP_WORDS and not _is_number(w)]


# --------------------------------------------------------------------------- names


def name_runs(sentence: str) -> list[str]:
    """Runs of consecutive capitalised words ("European Central Bank", "Joe Biden"), broken at
    punctuation; a weekday or month is a run of its own; the sentence's first word only when
    it is not an opener."""
    runs: list[list[str]] = []
    current: list[str] = []
    last_end = 0
    for i, match in enumerate(_WORD.finditer(sentence)):
        word = match.group(0).rstrip(".") if match.group(0).count(".") == 1 else match.group(0)
        gap = sentence[last_end:match.start()]
        last_end = match.end()
        bare = _POSSESSIVE.sub("", word)
        is_name = bool(_NAME_WORD.fullmatch(word)) and not (i == 0 and word.lower() in OPENERS)
        if word.lower() == "i":
            is_name = False
        if current and (not is_name or gap.strip() or bare.lower() in _DAYS_MONTHS):
            runs.append(current)
            current = []
        if is_name:
            current.append(bare)
            if bare.lower() in _DAYS_MONTHS or bare != word:  # ends at a possessive
                runs.append(current)
                current = []
    if current:
        runs.append(current)
    return [" ".join(run) for run in runs]


def _plain(text: str) -> str:
    """The evaluation's normal form, hyphens, slashes and possessives first made breaks."""
    text = re.sub(r"['’]s\b", "", text)
    return normalize(re.sub(r"[\-/–—]", " ", text))


def name_occurs(name: str, passage: str) -> bool:
    """Is `name` in `passage`, in any case, or is it an acronym of a name there ("FDA")?"""
    needle = _plain(name)
    if not needle:
        return True
    if f" {needle} " in f" {_plain(passage)} ":
        return True
    letters = name.replace(".", "")
    return letters.isupper() and 2 <= len(letters) <= 6 and letters in _acronyms(passage)


def _acronyms(passage: str) -> set[str]:
    """The initials of every run of capitalised words in `passage` and of its parts, the small
    words inside a name ("of", "and", "for", "the") skipped."""
    found: set[str] = set()
    run: list[str] = []
    for word in [*_WORD.findall(passage), "."]:
        if _NAME_WORD.fullmatch(word):
            run.append(word[0])
        elif word.lower() in ("of", "and", "for", "the", "&") and run:
            continue
        else:
            for i in range(len(run)):
                for j in range(i + 2, len(run) + 1):
                    found.add("".join(run[i:j]))
            run = []
    return found


# --------------------------------------------------------------------------- the check


def problem(sentence: str, passages: Sequence[str]) -> str | None:
    """Why `sentence` is not supported by `passages` (the ones it cites), or None."""
    joined = "\n".join(passages)
    passage_values = values(joined)
    for q in quantities(sentence):
        if q.value not in passage_values:
            return f"{q.text!r} is not in the passages it cites"
    passage_tokens = tokens(joined)
    passage_stems = {stem(w) for w in passage_tokens} | set(passage_tokens)
    for w in tokens(sentence):
        if w in VAGUE_AMOUNTS and w not in passage_tokens:
            return f"{w!r} is not in the passages it cites"
    first = True
    for name in name_runs(sentence):
        opener = first and sentence.lstrip("\"'“‘(").startswith(name)
        first = False
        if name_occurs(name, joined):
            continue
        if opener and " " not in name and is_common_word(name.lower()):
            continue  # "Voters …", "Born in …": capitalised because it opens the sentence
        return f"{name!r} is not in the passages it cites"
    words = [w for w in tokens(sentence) if not _is_number(w)]
    # capitalised words were checked as names above; what is left of an invented name is
    # written in lower case and is no common word
    written_lower = {
        w for m in _TOKEN.finditer(sentence) if m.group(0).islower() for w in tokens(m.group(0))
    }
    for w in words:
        if w in STOP_WORDS or stem(w) in passage_stems or w in passage_stems:
            continue
        if w in written_lower and not is_common_word(w):
            return f"{w!r} is not in the passages it cites"
    reason = _polarity(tokens(sentence), passage_tokens)
    if reason:
        return reason
    for w in words:
        s = stem(w)
        if s in passage_stems:
            continue
        against = _opposites().get(s, frozenset()) & passage_stems
        if against:
            return f"it says {w!r} where the passages it cites say the opposite"
    reason = _cause(sentence, passage_tokens, passage_stems)
    if reason:
        return reason
    stems = content_stems(sentence)
    if stems:
        supported = sum(s in passage_stems for s in stems)
        if supported < MIN_SUPPORTED_SHARE * len(stems):
            return f"only {supported} of its {len(stems)} words are in the passages it cites"
    return None


NEGATION_SCOPE = 2  # content words after a negation that it governs


def _negated(words: list[str]) -> tuple[list[tuple[str, set[str]]], set[str], set[str]]:
    """What `words` negate and state: ([("not close", {stems it governs}), ...], the stems
    governed by a negation, the stems governed by none). A negation governs the next
    NEGATION_SCOPE content words ("did not reopen the road": reopen, road)."""
    phrases: list[tuple[str, set[str]]] = []
    negated: set[str] = set()
    plain: set[str] = set()
    scope = 0
    for w in words:
        if w in NEGATIONS:
            phrases.append((w, set()))
            scope = NEGATION_SCOPE
            continue
        if w in STOP_WORDS or _is_number(w):
            continue
        if scope:
            cue, stems = phrases[-1]
            if not stems:
                phrases[-1] = (f"{cue} {w}", stems)
            stems.add(stem(w))
            negated.add(stem(w))
            scope -= 1
        else:
            plain.add(stem(w))
    return [p for p in phrases if p[1]], negated, plain


def _polarity(sentence_words: list[str], passage_words: list[str]) -> str | None:
    said_not, _, said = _negated(sentence_words)
    # "left without power" and "lost power" say the same: a passage's "without" is not held
    # against a sentence that leaves it out
    _, text_not, text = _negated(passage_words)
    strong, _, _ = _negated([w for w in passage_words if w != "without"])
    for phrase, stems in said_not:
        if not stems & text_not:
            return f"it says {phrase!r}, which the passages it cites do not"
    for phrase, stems in strong:
        if stems & said and not stems & text:
            return f"the passages it cites say {phrase!r}, and it does not"
    return None


def _cause(sentence: str, passage_words: list[str], passage_stems: set[str]) -> str | None:
    """A cause given ("because …", "due to …") must be one the passages give."""
    words = tokens(sentence)
    for w in words:
        if w not in _CAUSES:
            continue
        if not _PASSAGE_CAUSES & set(passage_words):
            return "it gives a cause, and the passages it cites give none"
        clause = re.split(r"[,;:.!?]", sentence[_nth_word_end(sentence, w):], maxsplit=1)[0]
        stems = content_stems(clause)
        if stems and sum(s in passage_stems for s in stems) < 0.75 * len(stems):
            return f"the cause it gives ({clause.strip()!r}) is not in the passages it cites"
    return None


def _nth_word_end(sentence: str, word: str) -> int:
    m = re.search(rf"\b{re.escape(word)}\b", sentence, re.IGNORECASE)
    return m.end() if m else 0
