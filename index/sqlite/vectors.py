"""The FAISS side of the store: one vector per passage, under the passage's SQLite row id.

The index holds only ids and vectors. Files are named by the store generation they belong
to (`vectors.<generation>.faiss`) and written to a temporary file, fsynced and renamed, so a
crash never leaves a half-written file under a name the database points at.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

from index.errors import ConfigError, StoreMismatch
from index.settings import IndexSettings

INDEX_TYPES = ("flat", "hnsw", "ivf")
_DIRECT_MAP_LOCK = threading.Lock()


def vector_file(data_dir: Path, generation: int) -> Path:
    return data_dir / f"vectors.{generation:08d}.faiss"


@contextmanager
def _one_thread() -> Iterator[None]:
    """Search one query with one OpenMP thread (the setting is per calling thread).

    One query gains nothing from threads on a small machine: measured on 2 cores, a search of
    28k passages right after embedding the question took 2.0 ms (p50) with one thread and
    2.7 ms with two (~13 ms with two when the question was embedded by NumPy's BLAS, whose
    threads were still spinning)."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class VectorIndex:
    """A FAISS index mapping passage ids to unit vectors, searched by inner product."""

    def __init__(self, index: faiss.Index, settings: IndexSettings) -> None:
        self.index = index
        self.settings = settings
        self._apply_search_params()

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def build(
        cls, dimension: int, settings: IndexSettings, ids: np.ndarray, vectors: np.ndarray
    ) -> VectorIndex:
        """A new index holding `vectors` under `ids` (IVF indexes train on these vectors)."""
        if settings.type not in INDEX_TYPES:
            allowed = ", ".join(INDEX_TYPES)
            raise ConfigError(f"index.type: {settings.type!r} is not one of {allowed}")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if settings.type == "hnsw":
            inner = faiss.IndexHNSWFlat(dimension, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        elif settings.type == "ivf" and len(vectors) >= 256:
            nlist = settings.ivf_nlist or max(16, min(65536, int(4 * np.sqrt(len(vectors)))))
            nlist = max(1, min(nlist, len(vectors) // 39))  # FAISS wants >= 39 points a list
            quantizer = faiss.IndexFlatIP(dimension)
            inner = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
            inner.train(vectors)
        else:
            # Flat is exact; an IVF index cannot be trained on a handful of vectors either.
            inner = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIDMap2(inner)
        if len(ids):
            index.add_with_ids(vectors, ids)
        return cls(index, settings)

    @classmethod
    def load(cls, path: Path, settings: IndexSettings) -> VectorIndex:
        if not path.exists():
            raise StoreMismatch(
                f"the vector index {path.name} is missing; run `newsbot index rebuild`"
            )
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise StoreMismatch(
                f"the vector index {path.name} is damaged ({str(exc).splitlines()[0][:120]});"
                " run `newsbot index rebuild`"
            ) from exc
        return cls(index, settings)

    def _apply_search_params(self) -> None:
        inner = faiss.downcast_index(self.index.index) if hasattr(self.index, "index") else None
        if isinstance(inner, faiss.IndexHNSW):
            inner.hnsw.efSearch = self.settings.hnsw_ef_search
        elif isinstance(inner, faiss.IndexIVF):
            inner.nprobe = self.settings.ivf_nprobe

    # -- facts ------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    @property
    def kind(self) -> str:
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexHNSW):
            return "hnsw"
        if isinstance(inner, faiss.IndexIVF):
            return "ivf"
        return "flat"

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def vectors(self) -> np.ndarray:
        if self.size == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexIVF):
            inner.make_direct_map()
        # In id_map order, so row i belongs to ids()[i].
        return inner.reconstruct_n(0, self.size)

    # -- changes (on a copy; the caller swaps it in once saved) -----------------------------
    def with_changes(
        self, remove: list[int], add_ids: np.ndarray, add_vectors: np.ndarray
    ) -> VectorIndex:
        """A new index: this one minus `remove`, plus the new vectors. This one is untouched."""
        if (remove and self.kind != "flat") or self.kind != self.settings.type:
            # An HNSW graph cannot drop nodes, and IndexIDMap2 over IVF loses track of ids
            # when IVF removes in place; rebuild from the vectors it holds instead. A store
            # that started too small for IVF (or was configured anew) is rebuilt the same way.
            keep_ids, keep_vecs = self.ids(), self.vectors()
            mask = ~np.isin(keep_ids, np.asarray(remove, dtype=np.int64))
            ids = np.concatenate([keep_ids[mask], add_ids.astype(np.int64)])
            vecs = np.vstack([keep_vecs[mask], add_vectors]) if len(add_ids) else keep_vecs[mask]
            return VectorIndex.build(self.dimension, self.settings, ids, vecs)
        copy = faiss.clone_index(self.index)
        if remove:
            copy.remove_ids(np.asarray(remove, dtype=np.int64))
        if len(add_ids):
            copy.add_with_ids(
                np.ascontiguousarray(add_vectors, dtype=np.float32),
                np.ascontiguousarray(add_ids, dtype=np.int64),
            )
        return VectorIndex(copy, self.settings)

    def subset(self, ids: list[int]) -> VectorIndex:
        """A flat index of these ids' vectors (copies): searching it is exact and costs what
        a search of that many vectors costs, where the whole index with an id selector costs
        a scan of the whole index (flat) or loses most of a small subset (IVF, HNSW)."""
        keys = np.asarray(ids, dtype=np.int64)
        return VectorIndex.build(
            self.dimension, replace(self.settings, type="flat"), keys, self.vectors_of(keys)
        )

    def vectors_of(self, ids: np.ndarray | list[int]) -> np.ndarray:
        """The stored vectors of `ids` (each must be stored), row i for ids[i]."""
        keys = np.asarray(ids, dtype=np.int64)
        if len(keys) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexIVF):
            with _DIRECT_MAP_LOCK:  # reconstructing from IVF needs its id -> list map
                if inner.direct_map.no():
                    inner.make_direct_map()
        return self.index.reconstruct_batch(keys)

    # -- search -----------------------------------------------------------------------------
    def search(
        self, query: np.ndarray, k: int, allowed: list[int] | None = None
    ) -> list[tuple[int, float]]:
        if self.size == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        k = min(k, self.size)
        params = None
        if allowed is not None:
            if not allowed:
                return []
            selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
            kind = self.kind
            if kind == "ivf":
                params = faiss.SearchParametersIVF(sel=selector, nprobe=self.settings.ivf_nprobe)
            elif kind == "hnsw":
                params = faiss.SearchParametersHNSW(
                    sel=selector, efSearch=self.settings.hnsw_ef_search
                )
            else:
                params = faiss.SearchParameters(sel=selector)
        with _one_thread():
            scores, ids = self.index.search(q, k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def similarities(self, query: np.ndarray, pids: Iterable[int]) -> dict[int, float]:
        """Cosine similarity of the question and each of `pids`, passages a search did not
        return (0: not stored)."""
        out: dict[int, float] = {}
        for pid in pids:
            try:
                out[int(pid)] = float(np.dot(self.index.reconstruct(int(pid)), query))
            except RuntimeError:
                out[int(pid)] = 0.0
        return out

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write atomically: temporary file, fsync, rename, fsync the folder."""
        tmp = path.with_suffix(".faiss.tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
