"""The lexical half of a search on the SQLite store: BM25 over FTS5's index of the passages'
titles and texts.

FTS5 scores every passage holding a query word, one by one, which at tens of thousands of
passages becomes the slowest part of an answer. A long-running process (the bot, an
evaluation) asks for `keep_bm25_matrix`: FTS5's index is then also kept as an in-memory
matrix (index/sqlite/bm25.py) that gives the same scores in a millisecond, built on a
background thread and brought up to date after each write; FTS5 answers until it is ready,
for a store too big to keep it, and for the rare query the matrix cannot mirror.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from index.models import PassageFilter, TermStats
from index.sqlite.bm25 import Bm25Matrix, Stemmer, build

if TYPE_CHECKING:
    from index.sqlite.database import Database

_FTS_TOKEN = re.compile(r"\w+", re.UNICODE)
log = logging.getLogger(__name__)

# Above this many passages the matrix is not kept (~9 bytes a (word, passage) pair, ~85 per
# passage in news: ~230 MB and a minute to build at this size); FTS5 alone answers.
BM25_MATRIX_MAX_PASSAGES = 300_000
MASKS_KEPT = 64  # filters (collection scopes, mostly) kept as row masks per matrix
CLOSE_WAIT_S = 30.0


class Lexical:
    """Full-text search (a part of `Database`, whose connections it uses)."""

    # FTS5 keeps the word statistics BM25 needs itself.
    needs_term_stats = False
    _bm25: _MatrixKeeper | None = None

    def keep_bm25_matrix(self) -> threading.Event:
        """Keep FTS5's index as an in-memory BM25 matrix from now on (see the module's
        docstring); the returned event is set once the first build ended (ready or not)."""
        if self._bm25 is None:
            self._bm25 = _MatrixKeeper(self)  # type: ignore[arg-type]
        self._bm25.refresh()
        return self._bm25.first_done

    def bm25_matrix(self) -> Bm25Matrix | None:
        """The matrix kept for the current generation, if ready."""
        keeper = self._bm25
        return keeper.current(self.generation()) if keeper else None  # type: ignore[attr-defined]

    def _stop_bm25(self) -> None:
        keeper, self._bm25 = self._bm25, None
        if keeper is not None:
            keeper.close()

    def lexical_search(
        self, terms: list[str], limit: int, where: PassageFilter | None = None,
        stats: TermStats | None = None,
    ) -> list[tuple[int, float]]:
        """BM25 over title and text for any of `terms`; (passage id, score), best first.

        `where` restricts the passages inside the query, before BM25's top `limit` is taken,
        so a small collection in a big store still gets its `limit` best matches. `stats`
        are not needed here (FTS5 has its own)."""
        tokens = list(dict.fromkeys(t for term in terms for t in _FTS_TOKEN.findall(term)))
        if not tokens:
            return []
        if self._bm25 is not None:
            matrix = self.bm25_matrix()
            if matrix is not None:
                found = self._bm25.search(matrix, tokens, limit, where)
                if found is not None:
                    return found
        query = " OR ".join(f'"{t}"' for t in tokens)
        sql = "SELECT rowid, bm25(passages_fts, 0.5, 1.0) AS score FROM passages_fts" \
            " WHERE passages_fts MATCH ?"
        params: list[object] = [query]
        if where is not None:
            # "+rowid": each match is checked against the subquery's ids (built once); a plain
            # "rowid IN" is handed to FTS5 as a rowid constraint, which runs the MATCH once per
            # allowed id (measured at 20k passages, 400 allowed: 226 ms, against 1.2 ms).
            sql += f" AND +rowid IN ({where.sql})"
            params += where.params
        try:
            rows = self.connection().execute(  # type: ignore[attr-defined]
                sql + " ORDER BY score LIMIT ?", (*params, limit)
            ).fetchall()
        except sqlite3.OperationalError:
            return []
        return [(int(r[0]), -float(r[1])) for r in rows]

    def match_count(self, word: str, limit: int) -> int:
        """Passages holding `word` (stemmed as the passages were), counted up to `limit`, so
        that a very common word costs no more than that; 0 for what FTS5 cannot parse."""
        try:
            return self.connection().execute(  # type: ignore[attr-defined]
                "SELECT count(*) FROM (SELECT rowid FROM passages_fts"
                " WHERE passages_fts MATCH ? LIMIT ?)",
                (f'"{word}"', limit),
            ).fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def read_matrix(
    db: Database, conn: sqlite3.Connection, previous: Bm25Matrix | None = None
) -> tuple[int, Bm25Matrix | None]:
    """(the committed generation, its BM25 matrix), read in one read transaction of `conn`
    (from `previous` where it can be); no matrix for a store above BM25_MATRIX_MAX_PASSAGES."""
    conn.execute("BEGIN")
    try:
        generation = int(db.get_meta("generation", conn) or 0)
        ids = np.asarray(db.all_passage_ids(conn), dtype=np.int64)
        if len(ids) > BM25_MATRIX_MAX_PASSAGES:
            return generation, None
        return generation, build(conn, generation, ids, previous)
    finally:
        conn.execute("COMMIT")


class _MatrixKeeper:
    """The BM25 matrix of one database, rebuilt on its own thread and connection whenever a
    search finds it behind the store's generation."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._path: Path = db.path
        self._matrix: Bm25Matrix | None = None
        self._stemmer = Stemmer()
        self._stem_lock = threading.Lock()  # one Stemmer, used from every search thread
        self._masks: dict[tuple[object, ...], np.ndarray] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._building: sqlite3.Connection | None = None
        self._closing = False
        self._skipped: int | None = None  # a generation not built (too big, or it failed)
        self.first_done = threading.Event()

    def current(self, generation: int) -> Bm25Matrix | None:
        matrix = self._matrix
        if matrix is not None and matrix.generation == generation:
            return matrix
        if generation != self._skipped:
            self.refresh()
        return None

    def refresh(self) -> None:
        """Bring the matrix up to the committed generation, on a background thread."""
        with self._lock:
            if self._closing or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._keep_up, name="newsbot-bm25-matrix", daemon=True
            )
            self._thread.start()

    def _keep_up(self) -> None:
        conn = None
        try:
            with self._lock:
                if self._closing:
                    return
                conn = self._building = sqlite3.connect(
                    self._path, timeout=30, isolation_level=None, check_same_thread=False
                )
            while not self._closing:
                generation, matrix = read_matrix(self._db, conn, self._matrix)
                if matrix is None:
                    self._matrix, self._skipped = None, generation
                    log.info("over %d passages: BM25 stays with FTS5", BM25_MATRIX_MAX_PASSAGES)
                    return
                if matrix is self._matrix:
                    return  # caught up
                self._matrix = matrix
                self.first_done.set()
        except Exception as exc:  # a build that fails must not take answers down: FTS5 answers
            if not self._closing:
                self._skipped = self._db.generation()  # not `conn`'s: it may be what failed
                log.warning("the BM25 matrix was not built (FTS5 answers): %r", exc)
        finally:
            with self._lock:
                self._building = None
            if conn is not None:
                conn.close()
            self.first_done.set()

    def search(
        self, matrix: Bm25Matrix, tokens: list[str], limit: int, where: PassageFilter | None
    ) -> list[tuple[int, float]] | None:
        """FTS5's result for the OR query of `tokens`, from `matrix`; None where the matrix
        cannot say (a token FTS5 splits into a phrase of several words, or none)."""
        try:
            with self._stem_lock:
                stems = self._stemmer.stems(self._db.connection(), tokens)
        except sqlite3.Error:
            return None
        if any(len(s) != 1 for s in stems):
            return None
        mask = None
        if where is not None:
            key = (matrix.generation, self._db.members_version(), where.sql, where.params)
            mask = self._masks.get(key)
            if mask is None:
                mask = matrix.row_mask(self._db.passage_ids(where))
                if len(self._masks) >= MASKS_KEPT:
                    self._masks = {}
                self._masks[key] = mask
        return matrix.search([s[0] for s in stems], limit, mask)

    def close(self, timeout_s: float = CLOSE_WAIT_S) -> None:
        """Stop building (a running read is interrupted) before the database closes."""
        with self._lock:
            self._closing = True
            thread, building = self._thread, self._building
            if building is not None:
                building.interrupt()
        if thread is not None:
            thread.join(timeout_s)
