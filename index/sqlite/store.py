"""The default store: SQLite and FAISS kept in agreement, written atomically, readable while
written.

A write (add, remove, rebuild) embeds first, then in ONE SQLite transaction changes the rows,
writes the FAISS file of the next generation (temp file, fsync, rename) and bumps the
generation in the database. Until that transaction commits, the database still names the old
generation's file, which is kept, so a process killed at any moment leaves the last consistent
store. Searches in this process keep using the old index object until the new one is swapped
in; other processes notice the generation change and reload. What a write does is the
shared `Store`'s (index/store.py); this is its SQLite + FAISS side.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from index.errors import StoreError, StoreMismatch
from index.sqlite.database import Database
from index.sqlite.vectors import VectorIndex, vector_file
from index.store import Store

DB_NAME = "news.sqlite3"


class SqliteStore(Store):
    """Articles and passages in SQLite, their vectors in FAISS, in one data directory."""

    def _open_database(self) -> Database:
        return Database(self.data_dir / DB_NAME)

    # -- reading ----------------------------------------------------------------------------
    def vector_index(self) -> VectorIndex:
        """The index of the committed generation, reloaded when another process changed it."""
        index = self._index
        if index is not None and self.db.generation() == self._loaded_generation:
            return index
        with self._load_lock:
            for _ in range(5):
                # Read under the lock: a writer in this process installs its new index under
                # this lock before it deletes the old generation's file, so a generation read
                # here still has its file. One read before the lock could already be stale.
                generation = self.db.generation()
                if self._index is not None and generation == self._loaded_generation:
                    return self._index
                try:
                    index = self._load(generation)
                except StoreMismatch:
                    if self.db.generation() != generation:
                        continue  # another process committed meanwhile (and removed that file)
                    raise
                self._index, self._loaded_generation = index, generation
                return index
            raise StoreError("the store kept changing while its vector index was being loaded")

    def _load(self, generation: int) -> VectorIndex:
        self.check_model()
        if generation == 0:
            return VectorIndex.build(
                self.embedder.dimension, self.settings.index, np.zeros(0), np.zeros((0, 0))
            )
        index = VectorIndex.load(vector_file(self.data_dir, generation), self.settings.index)
        _, passages = self.db.counts()
        if index.size != passages:
            raise StoreMismatch(
                f"the vector index holds {index.size} vectors but the database has"
                f" {passages} passages; run `newsbot index rebuild`"
            )
        if index.dimension != self.embedder.dimension:
            raise StoreMismatch(
                f"the vector index is {index.dimension}-dimensional but the model makes"
                f" {self.embedder.dimension}; run `newsbot index rebuild`"
            )
        return index

    # -- writing ----------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One writer at a time, across threads and processes sharing the data directory."""
        with self._write_lock, open(self.data_dir / ".write.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _next_vectors(  # type: ignore[no-untyped-def]
        self, tx, removed: list[int], new_ids: list[int], new_vecs: np.ndarray,
        base: VectorIndex | None, remove_all: bool,
    ) -> VectorIndex:
        """The next generation's vectors: `base` less `removed`, plus the new ones."""
        if remove_all or base is None:
            return VectorIndex.build(
                self.embedder.dimension, self.settings.index,
                np.asarray(new_ids, dtype=np.int64), new_vecs,
            )
        return base.with_changes(removed, np.asarray(new_ids, dtype=np.int64), new_vecs)

    def _save_vectors(self, index: VectorIndex, generation: int) -> None:
        """Inside the transaction, last: the next generation's file, written atomically."""
        index.save(vector_file(self.data_dir, generation))

    def _installed(self, index: VectorIndex, generation: int) -> None:
        """After the commit: searches use the new index, the old files go."""
        with self._load_lock:
            self._index, self._loaded_generation = index, generation
        self._remove_stale_files(generation)

    def _remove_stale_files(self, keep: int) -> None:
        for path in self.data_dir.glob("vectors.*.faiss*"):
            if path.name != vector_file(self.data_dir, keep).name:
                path.unlink(missing_ok=True)

    # -- facts ------------------------------------------------------------------------------
    @property
    def location(self) -> str:
        """Where the store lives, as `stats` shows it."""
        return str(self.data_dir)

    def keep_lexical_index(self) -> threading.Event:
        return self.db.keep_bm25_matrix()

    def size_on_disk(self) -> int:
        total = 0
        for path in self.data_dir.iterdir():
            # SQLite's -shm/-journal files and a replaced vector file may go between the
            # listing and the stat: a file that is gone takes no space.
            with contextlib.suppress(FileNotFoundError):
                if path.is_file():
                    total += path.stat().st_size
        return total


def store_exists(data_dir: Path) -> bool:
    return (Path(data_dir) / DB_NAME).exists()


def fsync_tree(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
