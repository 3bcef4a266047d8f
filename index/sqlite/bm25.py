"""FTS5's BM25 over an in-memory matrix: the same scores as `bm25(passages_fts, 0.5, 1.0)`
without FTS5 scoring every passage that holds a query word one by one.

FTS5 ranks a question's OR query by computing BM25 for each matching row in turn; at 40,000
news passages a question matches ~10,000 of them and that took 10–25 ms (benchmarks/README.md,
"Answer latency, third round"). Here the store's words sit in one column each of a sparse
matrix (numpy arrays in CSC layout), so a question costs a few vector operations over its
words' passages (~1 ms).

The matrix is FTS5's own index read back (`fts5vocab ... instance`: its Porter stems, and
which column each token is in), scored with FTS5's formula (fts5_aux.c, fts5Bm25Function):
column weights title 0.5 and text 1.0 summed per token, k1 = 1.2, b = 0.75, the row's length
in tokens over both columns against the store's average, idf = log((N - n + 0.5) / (n + 0.5))
floored at 1e-6, one term per phrase of the query (a word given twice counts twice). Raw
frequencies are kept and weighed at query time, so a new store generation is the previous
matrix less the removed passages plus the added ones (ids only grow: AUTOINCREMENT), whose
tokens a temporary FTS5 table with the same tokenizer produces.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field

import numpy as np

from index.sqlite.schema import FTS_TOKENIZE

K1, B = 1.2, 0.75  # FTS5's bm25 constants
TITLE_WEIGHT, TEXT_WEIGHT = 0.5, 1.0  # as the bm25(passages_fts, 0.5, 1.0) call
# A generation that adds more than this share of the passages is read whole from FTS5's index
# (faster than tokenizing that many passages again).
REBUILD_SHARE = 0.25
READ_CHUNK = 50_000  # FTS5 vocabulary rows turned into arrays at a time

_VOCAB_ROWS = (
    "SELECT term, doc, sum(col = 'title'), count(*) FROM {table} GROUP BY term, doc"
)


@dataclass(frozen=True)
class _Entries:
    """(word, row) pairs: the matrix before it is sorted by column."""

    words: np.ndarray  # int32 column of each entry
    rows: np.ndarray  # int32 row of each entry
    frequencies: np.ndarray  # float32 weighted tokens (title 0.5, text 1.0): exact halves


@dataclass(frozen=True, eq=False)
class Bm25Matrix:
    """One store generation's passages (rows) by stemmed words (columns)."""

    generation: int
    ids: np.ndarray  # int64, ascending: the passage id of each row
    lengths: np.ndarray  # float64 tokens of each row, both columns
    words: dict[str, int]  # stem -> column
    starts: np.ndarray  # int64: column j's entries are [starts[j], starts[j + 1])
    rows: np.ndarray  # int32 row of each entry, ascending within a column
    frequencies: np.ndarray  # float32 weighted tokens (title 0.5, text 1.0) of each entry
    _norm: np.ndarray = field(repr=False)  # k1 * (1 - b + b * D / avgdl) of each row

    @property
    def passages(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.ids, self.lengths, self.starts, self.rows,
                                      self.frequencies, self._norm))

    def row_mask(self, passage_ids: list[int]) -> np.ndarray:
        """The rows of `passage_ids`, as a mask (ids not in the matrix are left out)."""
        mask = np.zeros(len(self.ids), dtype=bool)
        wanted = np.asarray(passage_ids, dtype=np.int64)
        at = np.searchsorted(self.ids, wanted)
        found = at < len(self.ids)
        found[found] = self.ids[at[found]] == wanted[found]
        mask[at[found]] = True
        return mask

    def search(
        self, stems: list[str], limit: int, mask: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(passage id, BM25: higher is better) of the best `limit` rows holding any of
        `stems` (and in `mask`), best first, equal scores by ascending id: FTS5's result."""
        if limit <= 0:
            return []
        n = len(self.ids)
        scores = np.zeros(n)
        for stem in stems:
            j = self.words.get(stem)
            if j is None:
                continue  # FTS5 adds 0 for a phrase no row holds
            lo, hi = int(self.starts[j]), int(self.starts[j + 1])
            if lo == hi:
                continue
            idf = math.log((n - (hi - lo) + 0.5) / ((hi - lo) + 0.5))
            if idf <= 0.0:
                idf = 1e-6
            rows = self.rows[lo:hi]
            freq = self.frequencies[lo:hi].astype(np.float64)  # FTS5 computes in doubles
            # The same operations in the same order as fts5Bm25Function, so the same doubles.
            scores[rows] += idf * ((freq * (K1 + 1.0)) / (freq + self._norm[rows]))
        found = np.flatnonzero(scores)
        if mask is not None:
            found = found[mask[found]]
        if len(found) > limit:
            # Every row scoring at least the limit-th best, ties included, then the order.
            kth = np.partition(scores[found], len(found) - limit)[len(found) - limit]
            found = found[scores[found] >= kth]
        found = found[np.lexsort((self.ids[found], -scores[found]))][:limit]
        return [(int(self.ids[i]), float(scores[i])) for i in found]


def _in_order(words: np.ndarray, rows: np.ndarray) -> bool:
    """Whether the entries are sorted by word, then row."""
    if len(words) < 2:
        return True
    step = np.diff(words)
    return bool(((step > 0) | ((step == 0) & (np.diff(rows) > 0))).all())


def _matrix(
    generation: int, ids: np.ndarray, words: dict[str, int], entries: _Entries,
    lengths: np.ndarray,
) -> Bm25Matrix:
    rows, frequencies = entries.rows, entries.frequencies
    if not _in_order(entries.words, rows):  # FTS5's vocabulary comes in order: no sort
        order = np.lexsort((rows, entries.words))
        rows, frequencies = rows[order], frequencies[order]
    starts = np.zeros(len(words) + 1, dtype=np.int64)
    np.cumsum(np.bincount(entries.words, minlength=len(words)), out=starts[1:])
    avgdl = lengths.sum() / len(ids) if len(ids) else 1.0
    return Bm25Matrix(
        generation=generation,
        ids=ids,
        lengths=lengths,
        words=words,
        starts=starts,
        rows=rows,
        frequencies=frequencies,
        _norm=K1 * (1 - B + B * lengths / avgdl),
    )


def _read_entries(
    conn: sqlite3.Connection, vocab: str, ids: np.ndarray, words: dict[str, int]
) -> tuple[_Entries, np.ndarray]:
    """The (word, passage) counts of an fts5vocab instance table, rows numbered as in `ids`,
    and the tokens of each row (its length); new words are added to `words`. Read in chunks,
    each turned into arrays at once: millions of rows held as Python objects would take ten
    times the matrix's memory."""
    chunks: list[tuple[np.ndarray, ...]] = []
    lengths = np.zeros(len(ids))
    cursor = conn.execute(_VOCAB_ROWS.format(table=vocab))
    while found := cursor.fetchmany(READ_CHUNK):
        terms, docs, in_title, counts = zip(*found, strict=True)
        doc_ids = np.fromiter(docs, np.int64, len(found))
        rows = np.searchsorted(ids, doc_ids)
        if rows.max() >= len(ids) or not np.array_equal(ids[rows], doc_ids):
            raise ValueError("the full-text index holds a passage the passages table does not")
        titled = np.fromiter(in_title, np.float32, len(found))
        tokens = np.fromiter(counts, np.float32, len(found))
        lengths += np.bincount(rows, weights=tokens, minlength=len(ids))
        chunks.append((
            np.fromiter((words.setdefault(t, len(words)) for t in terms), np.int32, len(found)),
            rows.astype(np.int32),
            TITLE_WEIGHT * titled + TEXT_WEIGHT * (tokens - titled),
        ))
    if not chunks:
        nothing = np.empty(0, dtype=np.int32)
        return _Entries(nothing, nothing, np.empty(0, dtype=np.float32)), lengths
    fields = [list(part) for part in zip(*chunks, strict=True)]
    del chunks
    joined = []
    for parts in fields:  # one field at a time, each freed as it is joined
        joined.append(np.concatenate(parts))
        parts.clear()
    return _Entries(*joined), lengths


def build(
    conn: sqlite3.Connection, generation: int, ids: np.ndarray,
    previous: Bm25Matrix | None = None,
) -> Bm25Matrix:
    """The matrix of `generation`, whose passages are `ids` (ascending), read inside the
    caller's read transaction on `conn` (so that all three agree): from `previous` and the
    passages added since when it is close enough, else whole from FTS5's index."""
    if previous is not None and previous.generation == generation:
        return previous
    newest = int(previous.ids[-1]) if previous is not None and len(previous.ids) else 0
    added = int((ids > newest).sum())
    if previous is not None and added <= REBUILD_SHARE * max(len(ids), 1):
        return _updated(conn, generation, ids, previous, newest)
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.newsbot_vocab"
        " USING fts5vocab(main, passages_fts, instance)"
    )
    words: dict[str, int] = {}
    entries, lengths = _read_entries(conn, "temp.newsbot_vocab", ids, words)
    return _matrix(generation, ids, words, entries, lengths)


def _updated(
    conn: sqlite3.Connection, generation: int, ids: np.ndarray, previous: Bm25Matrix,
    newest: int,
) -> Bm25Matrix:
    """`previous` less the passages no longer stored, plus those with ids above `newest`."""
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.newsbot_added"
        f" USING fts5(title, text, tokenize = '{FTS_TOKENIZE}')"
    )
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.newsbot_added_vocab"
        " USING fts5vocab(temp, newsbot_added, instance)"
    )
    conn.execute("DELETE FROM temp.newsbot_added")
    conn.execute(
        "INSERT INTO temp.newsbot_added (rowid, title, text)"
        " SELECT rowid, title, text FROM main.passages_fts WHERE rowid > ?", (newest,)
    )
    words = dict(previous.words)
    added, lengths = _read_entries(conn, "temp.newsbot_added_vocab", ids, words)
    conn.execute("DELETE FROM temp.newsbot_added")
    # The previous rows still stored, renumbered as in `ids` (which keeps their order).
    at = np.searchsorted(ids, previous.ids)
    kept = at < len(ids)
    kept[kept] = ids[at[kept]] == previous.ids[kept]
    columns = np.repeat(np.arange(len(previous.words), dtype=np.int32), np.diff(previous.starts))
    keep = kept[previous.rows]
    lengths[at[kept]] += previous.lengths[kept]
    merged = _Entries(
        np.concatenate([columns[keep], added.words]),
        np.concatenate([at[previous.rows[keep]].astype(np.int32), added.rows]),
        np.concatenate([previous.frequencies[keep], added.frequencies]),
    )
    return _matrix(generation, ids, words, merged, lengths)


class Stemmer:
    """Words as FTS5 indexes them, through a temporary FTS5 table with the store's
    tokenizer (one per connection); remembered per word."""

    def __init__(self, kept: int = 50_000) -> None:
        self._known: dict[str, tuple[str, ...]] = {}
        self._kept = kept

    def stems(self, conn: sqlite3.Connection, tokens: list[str]) -> list[tuple[str, ...]]:
        unknown = [t for t in dict.fromkeys(tokens) if t not in self._known]
        if unknown:
            conn.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.newsbot_stem"
                f" USING fts5(x, tokenize = '{FTS_TOKENIZE}')"
            )
            conn.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.newsbot_stem_vocab"
                " USING fts5vocab(temp, newsbot_stem, instance)"
            )
            conn.execute("DELETE FROM temp.newsbot_stem")
            conn.executemany(
                "INSERT INTO temp.newsbot_stem (rowid, x) VALUES (?, ?)",
                list(enumerate(unknown)),
            )
            found: dict[int, list[str]] = {}
            for doc, term in conn.execute(
                "SELECT doc, term FROM temp.newsbot_stem_vocab ORDER BY doc, offset"
            ):
                found.setdefault(doc, []).append(term)
            conn.execute("DELETE FROM temp.newsbot_stem")
            if len(self._known) + len(unknown) > self._kept:
                self._known = {}
            for i, token in enumerate(unknown):
                self._known[token] = tuple(found.get(i, ()))
        return [self._known[t] for t in tokens]
