"""Quantities in English text, digits and number words alike, as comparable values.

"1,100", "1100", "one thousand one hundred" and "1.1 thousand" are the same quantity;
"seventy-five" is 75; "$550m" and "550 million" are 550,000,000; "3.5" is never 35. Ordinals
("fourteenth", "14th") are kept apart from cardinals; "a dozen" is 12. Vague amounts
("dozens", "hundreds", "half") are not quantities here: the citation check compares them as words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {
    w: i for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * i for i, w in enumerate(
    "twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2
)}
_SCALES = {"dozen": 12, "hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9,
           "trillion": 10**12}
# "$550m", "500bn", "20k": a scale written straight after the digits
_SUFFIXES = {"k": 10**3, "m": 10**6, "mn": 10**6, "bn": 10**9, "b": 10**9, "tn": 10**12}
_ORDINALS = {
    w: i for i, w in enumerate(
        "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh "
        "twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth "
        "nineteenth".split()
    )
} | {"twentieth": 20, "thirtieth": 30, "fortieth": 40, "fiftieth": 50, "hundredth": 100}
NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_SCALES) | frozenset(_ORDINALS)

# digits (with thousands separators or a decimal point) and an attached scale; or a word
_TOKEN = re.compile(
    r"(?<![\d.,])(?P<num>\d+(?:[.,]\d+)*)(?P<suffix>st|nd|rd|th|k|mn|m|bn|b|tn|s)?(?![\dA-Za-z])"
    r"|(?P<word>[A-Za-z]+)"
)


@dataclass(frozen=True)
class Quantity:
    text: str  # as written, for messages
    value: str  # canonical: "1100", "3.5", "ord:14"
    parts: tuple[str, ...]  # values a passage may also be matched by (digits before a scale)


def _canon(x: float) -> str:
    text = f"{x:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _digits(text: str) -> float:
    # "1,100" is 1100; "3.5" is 3.5; "1.100.000" (dots as separators) is 1100000
    if text.count(".") > 1:
        text = text.replace(".", "")
    return float(text.replace(",", ""))


def quantities(text: str) -> list[Quantity]:
    """The quantities of `text`, in order."""
    out: list[Quantity] = []
    tokens = list(_TOKEN.finditer(text))
    i = 0
    while i < len(tokens):
        m = tokens[i]
        word = (m.group("word") or "").lower()
        if m.group("num"):
            value = _digits(m.group("num"))
            suffix = (m.group("suffix") or "").lower()
            if suffix in ("st", "nd", "rd", "th"):
                out.append(Quantity(m.group(0), f"ord:{_canon(value)}", ()))
                i += 1
                continue
            j, scale = i + 1, _SUFFIXES.get(suffix, 1)
            # "1.5 million", "20 thousand": a scale word after the digits
            while scale == 1 and j < len(tokens) and _gap_ok(text, tokens[j - 1], tokens[j]):
                nxt = (tokens[j].group("word") or "").lower()
                if nxt in _SCALES:
                    scale = _SCALES[nxt]
                    j += 1
                else:
                    break
            written = text[m.start():tokens[j - 1].end()]
            parts = (_canon(value),) if scale != 1 else ()
            out.append(Quantity(written, _canon(value * scale), parts))
            i = j
        elif word in _ORDINALS:
            out.append(Quantity(m.group(0), f"ord:{_ORDINALS[word]}", ()))
            i += 1
        elif word in _UNITS or word in _TENS or (
            word == "a" and i + 1 < len(tokens)
            and (tokens[i + 1].group("word") or "").lower() in ("dozen", "hundred", "thousand")
        ):
            j, value = _words_value(text, tokens, i)
            out.append(Quantity(text[m.start():tokens[j - 1].end()], _canon(value), ()))
            i = j
        else:
            i += 1
    return out


def _gap_ok(text: str, left: re.Match[str], right: re.Match[str]) -> bool:
    """Do two tokens belong to one number: only spaces or a hyphen between them."""
    return text[left.end():right.start()] in (" ", "-")


def _words_value(text: str, tokens: list[re.Match[str]], i: int) -> tuple[int, float]:
    """The value of the number words from tokens[i] on, and the index after them."""
    total, current, j = 0.0, 0.0, i
    while j < len(tokens):
        if j > i and not _gap_ok(text, tokens[j - 1], tokens[j]):
            break
        word = (tokens[j].group("word") or "").lower()
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "a" and j == i:
            current += 1
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in _SCALES:
            total += (current or 1) * _SCALES[word]
            current = 0
        elif word == "and" and j + 1 < len(tokens) and (
            (tokens[j + 1].group("word") or "").lower() in _UNITS | _TENS
        ):
            pass  # "one hundred and fifty"
        else:
            break
        j += 1
    return j, total + current


def values(text: str) -> set[str]:
    """Every value a quantity of `text` can be matched by."""
    found: set[str] = set()
    for q in quantities(text):
        found.add(q.value)
        found.update(q.parts)
        if not q.value.startswith("ord:"):  # "the No. 12 seed" is the "12th seed"
            found.add(f"ord:{q.value}")
    return found
