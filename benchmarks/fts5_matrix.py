"""FTS5's BM25 reproduced over a sparse matrix: does it give FTS5's top 50, and how fast?

    .venv/bin/python benchmarks/fts5_matrix.py --store /tmp/rtqa-store
        [--questions ../shared/data/realtimeqa-2025/questions.jsonl]

`--store` is a folder `newsbot eval realtimeqa --data-dir` kept (or any SQLite store). A
prototype for issue 21, not used by the product: at 40k passages FTS5 computes BM25 for every
passage that holds any word of the question (~10,000), which made the lexical search the tail
of the answer time (benchmarks/README.md, "Answer latency, third round").

The matrix holds, for each (passage, word), FTS5's BM25 term weight, built from FTS5's own
vocabulary (`fts5vocab ... instance`: its Porter stems and column of each token), with
FTS5's formula: the column weights the product uses (title 0.5, text 1.0) summed per token,
k1 = 1.2, b = 0.75, the passage length in tokens over both columns, idf =
log((N - n + 0.5) / (n + 0.5)) floored at 1e-6, and a word given twice in the query counted
twice. A question's words are stemmed by a temporary FTS5 table with the store's tokenizer;
its score per passage is the sum of its words' columns. For each question the search's own
query terms are used (`Searcher._query_terms`), as the lexical search does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for parts.common

from parts.common import DATA, engine_for, questions  # puts the repository root on the path

COLUMN_WEIGHTS = {"title": 0.5, "text": 1.0}  # as index/sqlite/lexical.py's bm25() call
K1, B = 1.2, 0.75  # FTS5's bm25 constants
LIMIT = 50  # the lexical candidates per question (SearchSettings.candidates)
FTS5_QUERY = (
    "SELECT rowid, bm25(passages_fts, 0.5, 1.0) AS score FROM passages_fts"
    " WHERE passages_fts MATCH ? ORDER BY score LIMIT ?"
)


class Bm25Matrix:
    """FTS5's BM25 weights of one store, one column per stemmed word."""

    def __init__(self, connection) -> None:  # type: ignore[no-untyped-def]
        from scipy import sparse

        connection.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.bench_vocab"
            " USING fts5vocab(main, passages_fts, instance)"
        )
        words: dict[str, int] = {}
        passages: dict[int, int] = {}
        rows, cols, freq = [], [], []
        length: dict[int, int] = {}  # tokens in every column: the passage length FTS5 uses
        for word, doc, column, count in connection.execute(
            "SELECT term, doc, col, count(*) FROM temp.bench_vocab GROUP BY term, doc, col"
        ):
            rows.append(passages.setdefault(doc, len(passages)))
            cols.append(words.setdefault(word, len(words)))
            freq.append(COLUMN_WEIGHTS[column] * count)
            length[doc] = length.get(doc, 0) + count
        lengths = np.array([length[doc] for doc in passages], dtype=np.float64)
        n_rows = connection.execute("SELECT count(*) FROM passages_fts").fetchone()[0]
        weighted = sparse.coo_matrix(
            (np.array(freq), (np.array(rows), np.array(cols))), shape=(len(passages), len(words))
        ).tocsc()
        weighted.sum_duplicates()
        holding = np.diff(weighted.indptr)  # passages holding each word
        idf = np.log((n_rows - holding + 0.5) / (holding + 0.5))
        idf[idf <= 0] = 1e-6
        coo = weighted.tocoo()
        norm = K1 * (1 - B + B * lengths[coo.row] / (lengths.sum() / n_rows))
        weights = idf[coo.col] * coo.data * (K1 + 1) / (coo.data + norm)
        self.matrix = sparse.csc_matrix((weights, (coo.row, coo.col)), shape=weighted.shape)
        self.words = words
        self.ids = np.array(list(passages), dtype=np.int64)
        connection.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.bench_query"
            " USING fts5(x, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        connection.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.bench_query_vocab"
            " USING fts5vocab(temp, bench_query, instance)"
        )
        self._connection = connection

    def stems(self, tokens: list[str]) -> list[str]:
        """The tokens as FTS5 indexes them, in order (a repeated one stays repeated)."""
        self._connection.execute("DELETE FROM temp.bench_query")
        self._connection.execute("INSERT INTO temp.bench_query(x) VALUES (?)", (" ".join(tokens),))
        return [r[0] for r in self._connection.execute(
            "SELECT term FROM temp.bench_query_vocab ORDER BY offset"
        )]

    def search(self, tokens: list[str], limit: int) -> list[tuple[int, float]]:
        """(rowid, FTS5's bm25 score: lower is better), best first, as FTS5_QUERY returns."""
        scores = np.zeros(self.matrix.shape[0])
        for word in self.stems(tokens):
            j = self.words.get(word)
            if j is not None:
                lo, hi = self.matrix.indptr[j], self.matrix.indptr[j + 1]
                scores[self.matrix.indices[lo:hi]] += self.matrix.data[lo:hi]
        k = min(limit, int((scores > 0).sum()))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((self.ids[top], -scores[top]))]
        return [(int(self.ids[i]), -float(scores[i])) for i in top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--questions", type=Path,
                        default=DATA / "questions.jsonl")
    args = parser.parse_args()

    from bot.evaluation.metrics import percentile
    from index.embedding import SentenceTransformerEmbedder
    from index.settings import ModelSettings
    from index.sqlite.lexical import _FTS_TOKEN

    engine = engine_for(args.store, SentenceTransformerEmbedder(ModelSettings()))
    searcher = engine.searcher
    cache = searcher._cache()
    connection = engine.store.db.connection()
    started = time.perf_counter()
    matrix = Bm25Matrix(connection)
    built_s = time.perf_counter() - started
    same_order = same_scores = 0
    fts5_ms: list[float] = []
    matrix_ms: list[float] = []
    asked = questions(args.questions)
    for question, _ in asked:
        terms = searcher._query_terms(question, cache)
        tokens = list(dict.fromkeys(t for term in terms for t in _FTS_TOKEN.findall(term)))
        if not tokens:
            same_order += 1
            same_scores += 1
            continue
        started = time.perf_counter()
        theirs = connection.execute(
            FTS5_QUERY, (" OR ".join(f'"{t}"' for t in tokens), LIMIT)
        ).fetchall()
        middle = time.perf_counter()
        mine = matrix.search(tokens, LIMIT)
        fts5_ms.append((middle - started) * 1000)
        matrix_ms.append((time.perf_counter() - middle) * 1000)
        same_order += [r[0] for r in theirs] == [r[0] for r in mine]
        same_scores += len(theirs) == len(mine) and all(
            abs(a[1] - b[1]) < 1e-6 for a, b in zip(theirs, mine, strict=True)
        )
    print(f"passages {matrix.matrix.shape[0]}, words {len(matrix.words)}, non-zeros "
          f"{matrix.matrix.nnz}, built in {built_s:.1f} s")
    print(f"of {len(asked)} questions: the same top-{LIMIT} scores (within 1e-6) for "
          f"{same_scores}, the same order for {same_order}")
    for name, ms in (("FTS5", fts5_ms), ("matrix", matrix_ms)):
        print(f"{name} p50/p95/p99 ms:",
              " / ".join(f"{percentile(ms, p):.2f}" for p in (50, 95, 99)))


if __name__ == "__main__":
    main()
