"""Reading the evaluation sets: RealTime QA (articles, questions, search results) and RGB.

Only `question_id`, `question_sentence` and `question_date` of a RealTime QA question are
needed to answer it; `choices` and `answer` are read, when present, for scoring alone.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from index.errors import InputError
from index.models import ArticleInput, ReadResult, Skipped
from index.readers.records import build_article

_YMD = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_TAG = re.compile(r"<[^<>]{0,2000}>")


@dataclass(frozen=True)
class EvalQuestion:
    """A question to answer, and what scoring needs (absent in a questions-only file)."""

    question_id: str
    question: str
    asked_on: str | None = None  # ISO date the question was asked, when the set gives one
    golds: tuple[str, ...] = ()  # acceptable spellings of the gold answer; empty: unscored
    wrong: tuple[str, ...] | None = None  # the wrong choices of a multiple-choice question

    @property
    def scored(self) -> bool:
        return bool(self.golds)


@dataclass
class EvalSet:
    name: str
    articles: list[ArticleInput]
    questions: list[EvalQuestion]
    skipped: list[Skipped] = field(default_factory=list)  # inputs with no article text left


def iso_date(value: object) -> str | None:
    """`2025/01/31`, `2025-01-31` or a longer ISO stamp as `2025-01-31`; None otherwise."""
    if not isinstance(value, str):
        return None
    match = _YMD.match(value.strip())
    if not match:
        return None
    try:
        return date(*(int(g) for g in match.groups())).isoformat()
    except ValueError:
        return None


def plain_text(text: str) -> str:
    """The question as a reader sees it: some RealTime QA questions were scraped with HTML
    links (`<a href=...>Dubai</a>`), whose markup would otherwise become search terms."""
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def _records(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise InputError(f"{path}:{number}: expected a JSON object")
        yield number, record


def load_articles(path: Path) -> ReadResult:
    """The `articles.jsonl` format: `url`, `title`, `text`, `published` (may be null).

    Each article is cleaned as `newsbot index add` cleans it (page furniture, white space, a
    headline repeated as the first line; the URL in canonical form), so the store holds what
    the bot would hold. An article with no text left is skipped, and said so."""
    result = ReadResult()
    for number, record in _records(path):
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}:{number}: an article needs a non-empty `text`")
        _add_article(result, f"{path}:{number}", text, title=record.get("title"),
                     url=record.get("url"), source=record.get("source"),
                     published=record.get("published"))
    return result


def _add_article(result: ReadResult, origin: str, text: str, **fields: object) -> None:
    try:
        result.articles.append(build_article(text, origin=origin, **fields))
    except InputError as exc:
        result.skipped.append(Skipped(origin, str(exc)))


def load_realtimeqa_questions(path: Path) -> list[EvalQuestion]:
    """RealTime QA questions; `choices`/`answer` are optional and used only for scoring."""
    questions = []
    for number, record in _records(path):
        qid, sentence = record.get("question_id"), record.get("question_sentence")
        if not isinstance(sentence, str) or not sentence.strip() or qid is None:
            raise InputError(f"{path}:{number}: needs `question_id` and `question_sentence`")
        golds: tuple[str, ...] = ()
        wrong: tuple[str, ...] | None = None
        choices, answer = record.get("choices"), record.get("answer")
        if isinstance(choices, list) and isinstance(answer, list) and answer:
            try:
                right = {int(a) for a in answer}
                golds = tuple(str(choices[i]) for i in sorted(right))
                wrong = tuple(str(c) for i, c in enumerate(choices) if i not in right)
            except (ValueError, IndexError, TypeError):
                raise InputError(f"{path}:{number}: `answer` must index `choices`") from None
        questions.append(
            EvalQuestion(
                question_id=str(qid), question=plain_text(sentence),
                asked_on=iso_date(record.get("question_date")), golds=golds, wrong=wrong,
            )
        )
    return questions


def load_search_results(path: Path) -> dict[str, list[str]]:
    """question_id -> the URLs the benchmark's own web search returned (scoring only)."""
    return {
        str(r.get("question_id")): [u for u in r.get("urls") or [] if isinstance(u, str)]
        for _, r in _records(path)
    }


def load_rgb(path: Path) -> EvalSet:
    """RGB: the store is every question's `positive` and `negative` snippets, deduplicated.

    `positive_wrong` (counterfactual snippets) is left out. A snippet shared by several
    questions is stored once; each is cleaned as any article is (a snippet that is only page
    furniture, such as a cookie notice, is skipped).
    """
    snippets: dict[str, None] = {}
    questions = []
    for number, record in _records(path):
        query, answer = record.get("query"), record.get("answer")
        if not isinstance(query, str) or record.get("id") is None:
            raise InputError(f"{path}:{number}: needs `id` and `query`")
        for key in ("positive", "negative"):
            for snippet in record.get(key) or []:
                if isinstance(snippet, str) and snippet.strip():
                    snippets[snippet.strip()] = None
        questions.append(
            EvalQuestion(question_id=str(record["id"]), question=query, golds=_rgb_golds(answer))
        )
    read = ReadResult()
    for i, snippet in enumerate(snippets):
        _add_article(read, f"{path} snippet {i + 1}", snippet)
    return EvalSet("rgb", read.articles, questions, read.skipped)


def _rgb_golds(answer: object) -> tuple[str, ...]:
    """RGB's `answer`: a string, or a list holding one list of acceptable spellings."""
    if isinstance(answer, str):
        return (answer,)
    if isinstance(answer, list):
        spellings = (a for item in answer for a in (item if isinstance(item, list) else [item]))
        return tuple(dict.fromkeys(a for a in spellings if isinstance(a, str)))
    return ()
