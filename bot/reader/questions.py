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


# Irregular verb forms news questions and reports use for the same event ("won" / "wins").
_IRREGULAR = {
    form: base
    for base, forms in {
        "win": "won wins winning", "run": "ran runs running", "lead": "led leads leading",
        "sell": "sold sells selling", "buy": "bought buys buying", "hold": "held holds holding",
        "take": "took taken takes taking", "begin": "began begun begins beginning",
        "choose": "chose chosen chooses choosing", "fall": "fell fallen falls falling",
        "rise": "rose risen rises rising", "strike": "struck strikes striking",
        "meet": "met meets meeting", "pay": "paid pays paying", "give": "gave given gives giving",
        "make": "made makes making", "tell": "told tells telling", "bring": "brought brings",
        "die": "died dies dying", "fly": "flew flown flies flying", "sink": "sank sunk sinks",
        "shoot": "shot shoots shooting", "steal": "stole stolen steals", "flee": "fled flees",
        "lose": "lost loses losing", "leave": "left leaves leaving", "get": "got gets getting",
        "go": "went gone goes going", "come": "came comes coming", "see": "saw seen sees",
        "become": "became becomes becoming", "say": "said says saying", "hit": "hits hitting",
        "set": "sets setting", "put": "puts putting", "cut": "cuts cutting",
    }.items()
    for form in forms.split()
}


@functools.lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match "pledged" with "pledge", "tariffs" with "tariff",
    and "won" with "win"."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
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
    # Stems of the noun phrase naming what is asked for: "which tech giant" -> tech, giant.
    # Text often names the answer next to it ("tech giant Apple", "the resort town of ...").
    focus: frozenset[str] = frozenset()
    # Narrower than the kind: "percent" or "money" for a number, "person" for a name ("who").
    wants: str | None = None
    # Entity labels (spaCy's OntoNotes set) an answer may have, and the narrower ones the
    # question names ("which country" -> GPE, "who" -> PERSON); see `entity_labels`.
    labels: frozenset[str] = frozenset()
    wanted_labels: frozenset[str] = frozenset()


def numerals(text: str) -> frozenset[str]:
    """The numbers written in digits in `text`, without thousands separators."""
    return frozenset(n.replace(",", "") for n in _NUMERAL.findall(text))


def analyse(text: str) -> Question:
    terms: dict[str, str] = {}
    for word in content_words(text):
        if word not in QUESTION_WORDS:
            terms.setdefault(stem(word), word)
    kind = kind_of(text)
    focus = focus_of(text)
    wants = _wants(text, kind)
    labels, wanted = entity_labels(text, kind, focus, wants)
    return Question(
        text=text, kind=kind, terms=terms,
        numerals=numerals(text),
        focus=focus, wants=wants, labels=labels, wanted_labels=wanted,
    )


# The entity labels an answer of each kind may carry (OntoNotes, as spaCy's English pipelines
# label). A date question also takes TIME; a name question every label that names something.
NAME_LABELS = frozenset(
    "PERSON ORG GPE LOC NORP FAC EVENT WORK_OF_ART PRODUCT LAW LANGUAGE".split()
)
_KIND_LABELS = {
    Kind.NUMBER: frozenset("CARDINAL QUANTITY MONEY PERCENT".split()),
    Kind.DATE: frozenset("DATE TIME".split()),
    Kind.NAMED: NAME_LABELS,
}
# What the noun of "which X" / "what X" says about the label of X (stems, as focus_of gives).
_FOCUS_LABELS = {
    "PERSON": "person people man woman player actor actress singer rapper star ceo chief"
              " executive president leader minister senator governor mayor judge official"
              " coach founder author writer director artist musician athlete candidate"
              " secretary spokesperson pope king queen prince princess winner host"
              " chairman journalist",
    "ORG": "company firm brand team organization organisation agency group party club"
           " university college network retailer airline bank maker manufacturer giant startup"
           " business corporation union league network channel newspaper outlet publication"
           " carrier automaker insurer platform service school",
    "GPE": "country nation city state town capital county province region territory"
           " village island",
    "LOC": "region continent river mountain ocean sea lake island area",
    "FAC": "airport building stadium bridge venue arena",
    "WORK_OF_ART": "film movie book song show album series novel play title documentary"
                   " episode game painting",
    "EVENT": "event tournament festival championship race storm hurricane war",
    "PRODUCT": "product device app phone model car vehicle drug vaccine software chatbot",
    "LAW": "law bill act legislation treaty",
    "NORP": "nationality religion",
    "LANGUAGE": "language",
}
_FOCUS_LABEL = {
    stem(noun): label for label, nouns in _FOCUS_LABELS.items() for noun in nouns.split()
}
_HOW_LONG = re.compile(r"\bhow (long|old|often)\b")


def entity_labels(
    text: str, kind: Kind, focus: frozenset[str], wants: str | None
) -> tuple[frozenset[str], frozenset[str]]:
    """(labels an answer may have, narrower labels the question names), from its words."""
    labels = _KIND_LABELS.get(kind, frozenset())
    if kind is Kind.NUMBER and _HOW_LONG.search(text.lower()):
        labels = labels | {"DATE", "TIME"}  # "59 years old", "three weeks" are DATE in OntoNotes
    wanted: set[str] = set()
    if wants == "percent":
        wanted.add("PERCENT")
    elif wants == "money":
        wanted.add("MONEY")
    elif wants == "person":
        wanted.add("PERSON")
    if kind is Kind.NAMED:
        wanted.update(_FOCUS_LABEL[w] for w in focus if w in _FOCUS_LABEL)
        if re.search(r"\bwhere\b", text.lower()):
            wanted.update(("GPE", "LOC", "FAC"))
    return labels, frozenset(wanted)


_PERCENT_Q = re.compile(r"\b(percent|percentage|proportion)\b")
_MONEY_Q = re.compile(r"\bhow much (money|did|does|do|will|is|was|are|were)\b|\b(cost|price|worth|"
                      r"revenue|budget|salary|fine|bonus|dollars|paid|pay)\b")
_PERSON_Q = re.compile(r"^who\b|\bwho(m|se)?\b")


def _wants(text: str, kind: Kind) -> str | None:
    q = text.lower()
    if kind is Kind.NUMBER:
        if _PERCENT_Q.search(q):
            return "percent"
        if _MONEY_Q.search(q):
            return "money"
    if kind is Kind.NAMED and _PERSON_Q.search(q):
        return "person"
    return None


# Past forms ("won", "took", "hit") end the noun phrase after "which": they are its verb.
_IRREGULAR_PAST = frozenset(form for form in _IRREGULAR if not form.endswith(("s", "ing")))
_IRREGULAR_PAST |= {"hit", "set", "put", "cut"}
_FOCUS_SKIP = frozenset("name names kind type one ones following these those".split())


def focus_of(text: str) -> frozenset[str]:
    """The words after "which"/"what" up to the verb: what kind of thing the answer is."""
    match = re.search(r"\b(?:which|what)\s+(.*)", text.lower())
    if not match:
        return frozenset()
    rest = [
        re.sub(r"['’](?:s)?$", "", w) for w in re.findall(r"[\w’'-]+|[?,.;:]", match.group(1))
    ]
    if rest[:1] and rest[0] in _AUX:  # "what is the most-nominated show"
        rest = rest[1:]
    if rest[:2] == ["name", "of"] or rest[:3] == ["the", "name", "of"]:
        rest = rest[rest.index("of") + 1 :]
    out: list[str] = []
    for word in rest:
        if word in ("the", "a", "an", "most") and not out:
            continue
        if (
            not word[0].isalnum() or word in STOP_WORDS or word in _AUX
            or word in _IRREGULAR_PAST or word.endswith("ly")
            or (word.endswith("ed") and len(word) > 4 and out and "-" not in word)
            or len(out) == 4
        ):
            break
        if word not in _FOCUS_SKIP:
            out.append(word)
    return frozenset(stem(w) for w in out)


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
            # "what was Tesla's revenue": a possessive noun phrase still says what is asked
            if rest[1:2] and re.search(r"['’]s?$", rest[1]):
                for word in (w.strip("?,.\"“”") for w in rest[2:4]):
                    if word in _NUMBER_NOUNS:
                        return Kind.NUMBER
                    if word in _DATE_NOUNS:
                        return Kind.DATE
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
