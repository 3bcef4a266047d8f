"""What new passages need before they are written: their vectors and their named entities,
from the store's caches where the same text was seen before, else from the model (entities
in a worker process while this one embeds, index/ner_worker.py). A part of `Store`
(index/store.py), shared by both backends."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from index import ner_worker
from index.entities import SpacyRecogniser

Progress = Callable[[str, int, int], None]  # stage, done, total


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Features:
    """Vectors and entities of passage texts (a part of `Store`: its `db`, embedder and
    recogniser)."""

    def _embed(
        self, texts: list[str], progress: Progress
    ) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
        """Vectors for `texts`, from the cache where possible; also the new cache entries."""
        keys = [_text_key(t) for t in texts]
        dim = self.embedder.dimension
        cached = self.db.cached_vectors(self.embedder.name, list(set(keys)), dim)
        missing = [i for i, k in enumerate(keys) if k not in cached]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        fresh: list[tuple[str, np.ndarray]] = []
        if missing:
            vecs = self.embedder.embed(
                [texts[i] for i in missing],
                batch_size=self.settings.model.batch_size,
                progress=lambda done, total: progress("embedding", done, total),
            )
            for row, i in enumerate(missing):
                out[i] = vecs[row]
                fresh.append((keys[i], vecs[row]))
        for i, k in enumerate(keys):
            if k in cached:
                out[i] = cached[k]
        return out, fresh

    def _embed_then(
        self, texts: list[str], progress: Progress, finding: ner_worker.Finding
    ) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
        """`_embed`, dropping the entity blocks not yet started when embedding fails."""
        try:
            return self._embed(texts, progress)
        except BaseException:
            finding.cancel()
            raise

    def _entities(
        self, texts: list[str], progress: Progress
    ) -> tuple[list[str | None], list[tuple[str, str]]]:
        """Stored entities (JSON) of passage `texts`, from the cache where possible; also the
        new cache entries. All None when entities are off."""
        return self._start_entities(texts).finish(progress)

    def _start_entities(self, texts: list[str]) -> ner_worker.Finding:
        """Start finding the entities of `texts` (`_entities`); `finish` returns them.

        Many new passages go to a worker process (index/ner_worker.py) that tags them while
        this process embeds; `finish` then waits for it. A few are tagged in `finish`."""
        if self.recogniser is None or not texts:
            return ner_worker.Finding(None, texts, {}, [], None)
        keys = [_text_key(t) for t in texts]
        cached = self.db.cached_entities(self.recogniser.name, list(set(keys)))
        missing = list({k: i for i, k in enumerate(keys) if k not in cached}.values())
        pending = None
        if isinstance(self.recogniser, SpacyRecogniser) and ner_worker.worthwhile(len(missing)):
            if self._entity_worker is None:
                self._entity_worker = ner_worker.EntityWorker(self.recogniser.settings)
            pending = self._entity_worker.submit([texts[i] for i in missing])
        return ner_worker.Finding(self.recogniser, texts, cached, missing, pending, keys)
