"""Training inputs for the learned reader, built as the product would see each question.

RealTime QA's training weeks (see ../shared/data/README.md) give each question its own
web-search results. A store of all 19,033 articles would take hours to embed here, so the
work is bounded per week and per question:

- a week's pool is every article its questions' searches returned, cleaned and chunked as
  `newsbot index add` does (index/readers, index/chunking);
- a question's candidates are the pool's best `CANDIDATES` passages by BM25 over the stems of
  its words (at most `per_article` from one article, as the search caps them); only those are
  embedded (title prefixed, as the store embeds) and run through the entity recogniser, and
  both are cached by text hash in the output folder, so a rerun resumes;
- candidates are fused by reciprocal rank of their lexical and dense order (the search's
  fusion), near-duplicates dropped, recent articles moved up as of the question's day
  (bot/reader/passages.py), and the first `READ` kept: what the reader would read.

Each question becomes one JSON line holding those passages; `bot/reader/learned/features.py` turns a
line into sentence features with the rules' own ranking code. The held-out weeks (the last
`HELD_OUT_WEEKS` question days) are marked `split: "heldout"`.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from bot.evaluation.datasets import EvalQuestion, load_realtimeqa_questions, load_search_results
from bot.reader.passages import RECENCY_PLACES
from bot.reader.questions import analyse
from bot.reader.ranking import _stems, recency
from index.chunking import chunk_text, embedding_text
from index.entities import Recogniser
from index.errors import InputError
from index.readers.records import build_article
from index.search import COMMON_MAX_PASSAGES, COMMON_SHARE, _shingles, near_duplicate
from index.settings import ChunkSettings, SearchSettings

CANDIDATES = 12  # passages per question embedded and fused (bounded: CPU time)
READ = 12  # passages per question kept (what the reader reads)
HELD_OUT_WEEKS = 20  # the last question days: model selection and calibration
BM25_K1, BM25_B = 1.2, 0.75

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PoolPassage:
    article: str  # the article's key in the pool (its URL as the search results give it)
    position: int
    text: str
    title: str | None
    published: str | None
    stems: frozenset[str]
    length: int


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def load_pool_articles(path: Path, wanted: set[str]) -> dict[str, dict]:
    """The articles of `wanted` URLs, cleaned as `newsbot index add` cleans them."""
    out: dict[str, dict] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            url = record.get("url")
            if url not in wanted or not isinstance(record.get("text"), str):
                continue
            try:
                article = build_article(
                    record["text"], origin=url, title=record.get("title"), url=url,
                    published=record.get("published"),
                )
            except InputError:
                continue
            out[url] = {"title": article.title, "published": article.published,
                        "text": article.text}
    return out


def _pool(
    urls: Iterable[str], articles: dict[str, dict], chunks: ChunkSettings
) -> list[PoolPassage]:
    passages = []
    for url in dict.fromkeys(urls):
        article = articles.get(url)
        if article is None:
            continue
        for position, text in enumerate(chunk_text(article["text"], chunks)):
            stems = _stems(f"{article['title'] or ''} {text}")
            passages.append(PoolPassage(url, position, text, article["title"],
                                        article["published"], stems, len(text.split())))
    return passages


def _bm25(question_stems: list[str], pool: list[PoolPassage], df: Counter[str]) -> list[float]:
    n = len(pool)
    avg = sum(p.length for p in pool) / max(1, n)
    idf = {s: math.log(1.0 + (n - df[s] + 0.5) / (df[s] + 0.5)) for s in question_stems}
    scores = []
    for p in pool:
        norm = BM25_K1 * (1 - BM25_B + BM25_B * p.length / max(1.0, avg))
        # stems are a set: a word counts once per passage (term frequency 1)
        scores.append(sum(idf[s] * (BM25_K1 + 1) / (1 + norm) for s in question_stems
                          if s in p.stems))
    return scores


class Cache:
    """Embeddings and entities by text hash, kept in `folder` so that a rerun resumes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.vectors: dict[str, np.ndarray] = {}
        self.entities: dict[str, list] = {}
        vec_file, ent_file = folder / "vectors.npz", folder / "entities.json"
        if vec_file.exists():
            data = np.load(vec_file)
            self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        if ent_file.exists():
            self.entities = json.loads(ent_file.read_text())

    def save(self) -> None:
        keys = list(self.vectors)
        tmp = self.folder / "vectors.tmp.npz"
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys])
                 if keys else np.zeros((0, 384), dtype=np.float32))
        tmp.replace(self.folder / "vectors.npz")
        tmp_json = self.folder / "entities.tmp.json"
        tmp_json.write_text(json.dumps(self.entities))
        tmp_json.replace(self.folder / "entities.json")


def build(
    data_dir: Path, out_dir: Path, embed: Callable[[list[str]], np.ndarray],
    recogniser: Recogniser | None, *, share: float = 1.0, seed: int = 0,
    held_out_weeks: int = HELD_OUT_WEEKS, progress: Progress | None = None,
) -> Path:
    """Write `out_dir/questions.jsonl` (one line per question) and return its path.

    `share` of the training weeks' questions are used (all held-out ones always are), drawn
    with `seed`. Resumable: questions already written are skipped."""
    questions = load_realtimeqa_questions(data_dir / "questions.jsonl")
    results = load_search_results(data_dir / "search_results.jsonl")
    days = sorted({q.asked_on for q in questions if q.asked_on})
    held_out = set(days[-held_out_weeks:])
    rng = random.Random(seed)
    chosen = [q for q in questions if q.asked_on and q.golds
              and (q.asked_on in held_out or rng.random() < share)]
    out_file = out_dir / "questions.jsonl"
    out_dir.mkdir(parents=True, exist_ok=True)
    done: set[str] = set()
    if out_file.exists():
        done = {json.loads(line)["question_id"] for line in out_file.open()}
    by_day: dict[str, list[EvalQuestion]] = defaultdict(list)
    for q in questions:  # every question of a day adds its articles to that day's pool
        if q.asked_on:
            by_day[q.asked_on].append(q)
    todo = [q for q in chosen if q.question_id not in done]
    # Only the days still to do need their articles read (a finished build reads none).
    wanted = {u for q in todo for p in by_day[q.asked_on or ""]
              for u in results.get(p.question_id, [])}
    articles = load_pool_articles(data_dir / "articles.jsonl", wanted) if todo else {}
    cache = Cache(out_dir / "cache")
    chunks, search = ChunkSettings(), SearchSettings()
    # Days in a seeded random order: a build stopped early still holds both splits.
    todo_days = sorted({q.asked_on for q in todo if q.asked_on})
    random.Random(seed).shuffle(todo_days)
    finished = 0
    with out_file.open("a", encoding="utf-8") as out:
        for day in todo_days:
            pool = _pool((u for p in by_day[day] for u in results.get(p.question_id, [])),
                         articles, chunks)
            df: Counter[str] = Counter(s for p in pool for s in p.stems)
            for q in (q for q in todo if q.asked_on == day):
                record = _question_record(q, day, pool, df, cache, embed, recogniser, search)
                record["split"] = "heldout" if day in held_out else "train"
                record["own_urls"] = results.get(q.question_id, [])
                out.write(json.dumps(record) + "\n")
                finished += 1
                if progress:
                    progress(finished, len(todo))
            out.flush()
            cache.save()
    return out_file


def _question_record(
    q: EvalQuestion, day: str, pool: list[PoolPassage], df: Counter[str], cache: Cache,
    embed: Callable[[list[str]], np.ndarray], recogniser: Recogniser | None,
    search: SearchSettings,
) -> dict:
    parsed = analyse(q.question)
    stems = list(parsed.terms)
    scores = _bm25(stems, pool, df)
    order = sorted(range(len(pool)), key=lambda i: -scores[i])
    per_article: Counter[str] = Counter()
    picked: list[int] = []
    for i in order:
        if scores[i] <= 0 or len(picked) >= CANDIDATES:
            break
        if per_article[pool[i].article] >= search.per_article:
            continue
        per_article[pool[i].article] += 1
        picked.append(i)
    texts = [embedding_text(pool[i].title, pool[i].text) for i in picked]
    missing = [t for t in [q.question, *texts] if _key(t) not in cache.vectors]
    if missing:
        for t, v in zip(missing, embed(missing), strict=True):
            cache.vectors[_key(t)] = np.asarray(v, dtype=np.float32)
    qvec = cache.vectors[_key(q.question)]
    similarity = {i: float(cache.vectors[_key(t)] @ qvec) for i, t in zip(picked, texts,
                                                                            strict=True)}
    dense = sorted(picked, key=lambda i: -similarity[i])
    fused = {i: 1.0 / (search.rrf_k + r) for r, i in enumerate(picked, 1)}
    for r, i in enumerate(dense, 1):
        fused[i] += 1.0 / (search.rrf_k + r)
    hits: list[int] = []
    kept: list[frozenset[str]] = []
    for i in sorted(picked, key=lambda i: -fused[i]):
        sh = _shingles(pool[i].text)
        if any(near_duplicate(sh, other) for other in kept):
            continue
        kept.append(sh)
        hits.append(i)
    as_of = date.fromisoformat(day)
    ranked = sorted(range(len(hits)), key=lambda r: r - RECENCY_PLACES * recency(
        pool[hits[r]].published, as_of))
    read = [hits[r] for r in ranked][:READ]
    lexical_rank = {i: r for r, i in enumerate(picked, 1)}
    if recogniser is not None:
        unseen = [pool[i].text for i in read if _key(pool[i].text) not in cache.entities]
        for text, ents in zip(unseen, recogniser.find(unseen), strict=True):
            cache.entities[_key(text)] = ents
    # The store's word weights (Searcher.idf), counted in the week's pool.
    n = len(pool)
    limit = max(1, min(int(n * COMMON_SHARE), COMMON_MAX_PASSAGES))
    idf = {s: math.log(1.0 + (n - min(df[s], limit) + 0.5) / (min(df[s], limit) + 0.5))
           for s in stems}
    return {
        "question_id": q.question_id, "question": q.question, "day": day, "idf": idf,
        "golds": list(q.golds), "wrong": list(q.wrong or ()),
        "passages": [
            {"article": pool[i].article, "position": pool[i].position, "text": pool[i].text,
             "title": pool[i].title, "published": pool[i].published,
             "similarity": similarity[i], "lexical_rank": lexical_rank[i],
             "entities": cache.entities.get(_key(pool[i].text)) if recogniser else None}
            for i in read
        ],
    }
