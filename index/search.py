"""Hybrid retrieval: dense candidates from FAISS and lexical ones from FTS5, fused by rank.

Reciprocal rank fusion needs no score calibration between the two lists. After fusion,
near-duplicate passages (the same wire story on several sites) collapse into the best-ranked
one, and no article may fill more than `per_article` places.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.database import PassageRow
from index.settings import SearchSettings
from index.store import Store
from index.text import content_words


@dataclass(frozen=True)
class Hit:
    passage: PassageRow
    score: float  # fused score, higher is better
    similarity: float  # cosine similarity of question and passage
    lexical_rank: int | None  # 1-based rank in the BM25 list, None when absent


@dataclass(frozen=True)
class Filters:
    source: str | None = None
    since: str | None = None
    until: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.source or self.since or self.until)


def _shingles(text: str) -> set[str]:
    toks = content_words(text)
    return {" ".join(toks[i : i + 3]) for i in range(max(1, len(toks) - 2))}


def near_duplicate(a: set[str], b: set[str], threshold: float = 0.6) -> bool:
    if not a or not b:
        return False
    return len(a & b) / min(len(a), len(b)) >= threshold


class Searcher:
    def __init__(self, store: Store, settings: SearchSettings) -> None:
        self.store = store
        self.settings = settings

    def embed_query(self, text: str) -> np.ndarray:
        return self.store.embedder.embed([text])[0]

    def search(
        self,
        query: str,
        *,
        limit: int | None = None,
        filters: Filters | None = None,
        query_vector: np.ndarray | None = None,
        lexical_terms: list[str] | None = None,
    ) -> list[Hit]:
        """The best passages for `query`, best first, at most `limit` (default: top_k)."""
        limit = limit or self.settings.top_k
        index = self.store.vector_index()
        qvec = query_vector if query_vector is not None else self.embed_query(query)
        allowed: list[int] | None = None
        if filters and filters.active:
            allowed = self.store.db.filtered_passage_ids(
                filters.source, filters.since, filters.until
            )
        n = self.settings.candidates
        dense = index.search(qvec, n, allowed)
        terms = lexical_terms if lexical_terms is not None else content_words(query)
        lexical = self.store.db.lexical_search(
            terms, n, set(allowed) if allowed is not None else None
        )
        k = self.settings.rrf_k
        fused: dict[int, float] = {}
        for rank, (pid, _) in enumerate(dense, 1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (k + rank)
        lexical_rank: dict[int, int] = {}
        for rank, (pid, _) in enumerate(lexical, 1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (k + rank)
            lexical_rank[pid] = rank
        similarity = dict(dense)
        rows = self.store.db.passages(fused)
        missing = [pid for pid in rows if pid not in similarity]
        if missing:
            similarity.update(self._similarities(index, qvec, missing))
        ordered = sorted(rows, key=lambda pid: fused[pid], reverse=True)
        hits: list[Hit] = []
        kept_shingles: list[set[str]] = []
        per_article: dict[str, int] = {}
        for pid in ordered:
            row = rows[pid]
            if per_article.get(row.article.id, 0) >= self.settings.per_article:
                continue
            sh = _shingles(row.text)
            if any(near_duplicate(sh, other) for other in kept_shingles):
                continue
            kept_shingles.append(sh)
            per_article[row.article.id] = per_article.get(row.article.id, 0) + 1
            hits.append(Hit(row, fused[pid], similarity.get(pid, 0.0), lexical_rank.get(pid)))
            if len(hits) >= limit:
                break
        return hits

    @staticmethod
    def _similarities(index, qvec: np.ndarray, ids: list[int]) -> dict[int, float]:  # type: ignore[no-untyped-def]
        out: dict[int, float] = {}
        for pid in ids:
            try:
                vec = index.index.reconstruct(int(pid))
            except RuntimeError:
                continue
            out[pid] = float(np.dot(vec, qvec))
        return out
