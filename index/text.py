"""Small text helpers shared by search and answering: words, stop words, normalisation."""

from __future__ import annotations

import re
import unicodedata

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves s t don now according said says say new latest recent recently week
    """.split()
)

_WORD = re.compile(r"[\w’']+", re.UNICODE)
# "Trump's", "don't", "they're": the clitic is dropped, so that a search for the word is not a
# phrase search for the word followed by "s" or "t", tokens in nearly every passage.
_CLITIC = re.compile(r"['’](?:s|t|re|ve|ll|d|m)$")


def words(text: str) -> list[str]:
    """Lower-cased words of `text`, a clitic dropped ("Trump's" -> "trump")."""
    lowered = text.lower()
    # Lowering the whole text at once finds the same words, unless a letter lowers to two
    # characters ("İ" -> "i" + a combining dot, which splits a word): then word by word.
    if len(lowered) == len(text):
        out = _WORD.findall(lowered)
    else:
        out = [w.lower() for w in _WORD.findall(text)]
    if "'" not in lowered and "’" not in lowered:
        return out
    return [_CLITIC.sub("", w).strip("’'") if "'" in w or "’" in w else w for w in out]


def content_words(text: str) -> list[str]:
    """Lower-cased words of `text` without stop words, in order."""
    return [w for w in words(text) if w and w not in STOP_WORDS]


def fold(text: str) -> str:
    """Lower case, no accents, quotes unified: for comparing texts, never for showing them."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("’", "'").replace("“", '"').replace("”", '"').lower()
