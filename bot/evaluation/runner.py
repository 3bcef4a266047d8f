"""Running an evaluation: a fresh store from the set's articles, every question answered.

Each question is answered from its text alone (and, when asked to, the date it was asked,
as a live bot knows today's date); gold answers are read only after the answer is written.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bot.engine import NewsEngine, Progress
from bot.evaluation.datasets import EvalQuestion, EvalSet
from bot.evaluation.metrics import QuestionScore, Summary, appears, score_answer, summarise
from bot.settings import Config
from index.embedding import Embedder
from index.errors import InputError
from index.models import ArticleInput, ReadResult
from index.readers.normalize import http_url
from index.settings import BackendSettings
from index.sqlite.store import store_exists

MARKER = ".newsbot-eval"  # marks a data directory as an evaluation store it may empty
LEXICAL_INDEX_WAIT_S = 120.0  # the in-memory BM25 index takes ~7 s at 40,000 passages


@dataclass(frozen=True)
class BuildReport:
    articles: int
    passages: int
    embedded: int  # passages embedded now; the rest came from the embedding cache
    seconds: float

    @property
    def passages_per_s(self) -> float:
        return self.passages / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class EvalReport:
    build: BuildReport
    scores: list[QuestionScore]
    summaries: dict[str, Summary]  # subset name -> summary; empty when nothing is scored
    # which reader answered how many questions, and why the extractive answer was given
    # although [reader] kind = "llm" (the reason's first clause -> how many)
    readers: dict[str, int] = dataclasses.field(default_factory=dict)
    fallbacks: dict[str, int] = dataclasses.field(default_factory=dict)


@contextmanager
def eval_engine(
    config: Config, data_dir: Path | None, embedder: Embedder | None = None
) -> Iterator[NewsEngine]:
    """An engine on `data_dir` (kept, with its embedding cache) or on a temporary folder;
    the model of the config unless `embedder` is given."""
    with tempfile.TemporaryDirectory(prefix="newsbot-eval-") as tmp:
        folder = Path(data_dir) if data_dir is not None else Path(tmp)
        _claim(folder)
        # Always a SQLite store of its own: an evaluation empties its store, which must never
        # be the shared PostgreSQL one the config may name.
        store = dataclasses.replace(config.store, data_dir=folder, backend=BackendSettings())
        engine = NewsEngine(dataclasses.replace(config, store=store), embedder=embedder)
        try:
            yield engine
        finally:
            engine.close()


def _claim(folder: Path) -> None:
    """Refuse to empty a folder that holds anything but an evaluation store."""
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        what = "a newsbot store" if store_exists(folder) else "other files"
        raise InputError(
            f"--data-dir {folder} holds {what}; an evaluation empties its store, so give it"
            " an empty or new folder (or one an earlier `newsbot eval` made)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("newsbot eval store: `newsbot eval` replaces its articles\n")


def build_store(
    engine: NewsEngine, articles: list[ArticleInput], progress: Progress | None = None
) -> BuildReport:
    """Replace the store's articles with `articles`; time the adding (embedding and saving)."""
    store = engine.store
    store.remove(store.db.all_articles())
    cached_before = _cache_rows(engine)
    started = time.perf_counter()
    engine.add_articles(ReadResult(articles=list(articles)), progress)
    seconds = time.perf_counter() - started
    stored_articles, passages = store.db.counts()
    return BuildReport(
        articles=stored_articles, passages=passages,
        embedded=_cache_rows(engine) - cached_before, seconds=seconds,
    )


def _cache_rows(engine: NewsEngine) -> int:
    row = engine.store.db.connection().execute(
        "SELECT COUNT(*) FROM embedding_cache WHERE model = ?", (engine.embedder.name,)
    ).fetchone()
    return int(row[0])


def ask(engine: NewsEngine, question: EvalQuestion, use_date: bool) -> dict:
    """The `newsbot ask --json` object for one question (the same path `ask` takes)."""
    as_of = question.asked_on if use_date else None
    try:
        return engine.ask(question.question, as_of=as_of).to_json()
    except InputError as exc:
        raise InputError(f"question {question.question_id}: {exc}") from None


def run_eval(
    engine: NewsEngine,
    data: EvalSet,
    predictions: IO[str],
    *,
    use_date: bool = True,
    subsets: dict[str, set[str]] | None = None,
    progress: Progress | None = None,
) -> EvalReport:
    """Build the store, answer every question into `predictions`, score what has gold."""
    build = build_store(engine, data.articles, progress)
    # As a running bot answers: with the lexical search's in-memory index (same results).
    engine.keep_lexical_index(wait_s=LEXICAL_INDEX_WAIT_S)
    scores: list[QuestionScore] = []
    readers: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    total = len(data.questions)
    for done, question in enumerate(data.questions, 1):
        started = time.perf_counter()
        answer = ask(engine, question, use_date)
        readers[answer.get("reader", "extractive")] += 1
        if answer.get("fallback"):
            fallbacks[answer["fallback"].split(" (")[0]] += 1
        latency = (time.perf_counter() - started) * 1000
        line = json.dumps({"question_id": question.question_id, **answer}, ensure_ascii=False)
        try:
            predictions.write(line + "\n")
        except OSError as exc:  # a full disk, say: the store's own errors are not this
            name = getattr(predictions, "name", "the predictions")
            raise InputError(f"cannot write {name}: {exc.strerror or exc}") from exc
        if question.scored:
            scores.append(
                score_answer(question.question_id, answer, question.golds, question.wrong, latency)
            )
        if progress:
            progress("answering", done, total)
    summaries: dict[str, Summary] = {}
    if scores:
        summaries["all"] = summarise(scores)
        for name, ids in (subsets or {}).items():
            summaries[name] = summarise([s for s in scores if s.question_id in ids])
    return EvalReport(
        build=build, scores=scores, summaries=summaries, readers=dict(readers),
        fallbacks=dict(fallbacks.most_common()),
    )


def evidence_present(
    questions: Sequence[EvalQuestion], articles: Sequence[ArticleInput],
    search_results: dict[str, list[str]],
) -> set[str]:
    """Questions whose own search results hold the gold answer text (the realistic ceiling)."""
    by_url = {a.url: a for a in articles if a.url}
    present = set()
    for q in questions:
        # The stored URLs are canonical (tracking parameters dropped, ...): so are these.
        urls = (http_url(u) or u for u in search_results.get(q.question_id, []))
        texts = [by_url[u].text for u in urls if u in by_url]
        if q.scored and any(appears(g, t) for g in q.golds for t in texts):
            present.add(q.question_id)
    return present


def format_report(report: EvalReport) -> str:
    """The printed result: the build, then one row per metric and one column per subset."""
    b = report.build
    lines = [
        f"index build: {b.articles} articles, {b.passages} passages in {b.seconds:.1f} s"
        f" = {b.passages_per_s:.1f} passages/s ({b.embedded} embedded now,"
        f" {max(b.passages - b.embedded, 0)} from the embedding cache)"
    ]
    if report.fallbacks or set(report.readers) - {"extractive"}:
        answered_by = ", ".join(f"{kind} {n}" for kind, n in sorted(report.readers.items()))
        lines.append(f"answered by: {answered_by}")
        for reason, n in report.fallbacks.items():
            lines.append(f"  extractive instead ({n}): {reason}")
    if not report.summaries:
        lines.append("no gold answers in the questions file: predictions written, nothing scored")
        return "\n".join(lines)
    names = list(report.summaries)
    rows = [
        ("questions", "questions", "{:d}"),
        ("hit@5", "hit5", "{:.3f}"),
        ("contains@answer", "contains", "{:.3f}"),
        ("exclusive@answer", "exclusive", "{:.3f}"),
        ("cited", "cited", "{:.3f}"),
        ("declined", "declined", "{:.3f}"),
        ("answered wrongly", "wrong", "{:.3f}"),
        ("latency p50 ms", "latency_p50_ms", "{:.1f}"),
        ("latency p95 ms", "latency_p95_ms", "{:.1f}"),
    ]
    width = max(12, *(len(n) for n in names))
    lines.append(f"{'':18}" + "".join(f"{n:>{width + 2}}" for n in names))
    for label, key, fmt in rows:
        values = [getattr(report.summaries[n], key) for n in names]
        if all(v is None for v in values):
            continue
        cells = "".join(
            f"{('-' if v is None else fmt.format(v)):>{width + 2}}" for v in values
        )
        lines.append(f"{label:18}{cells}")
    return "\n".join(lines)
