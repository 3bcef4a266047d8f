"""Entity recognition in a second process, so it runs while the main process embeds.

spaCy holds the GIL through most of its work, so a thread would not overlap it with
embedding; a worker process does. The store hands the worker a write's passages (in the
same blocks `SpacyRecogniser.find` cuts, so the entities are exactly those the main process
would find), embeds, then collects the entities. The worker is started with "spawn" (no copy
of torch or of the main process's threads), imports only spaCy and loads the pipeline once,
on its first block, while the main process is still loading the embedding model. It lives as
long as the store and is shut down by `Store.close()` (and, failing that, at exit).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from index.entities import Entity, Recogniser, SpacyRecogniser, dumps
from index.settings import NerSettings

BatchProgress = Callable[[int, int], None]  # done, total
Progress = Callable[[str, int, int], None]  # stage, done, total

# Fewer new passages than this are tagged in the main process: a worker's start (a Python
# process, spaCy's import, the pipeline's load) only pays for itself on a bigger write.
MIN_TEXTS = 64

_recogniser: SpacyRecogniser | None = None  # in the worker: the pipeline, loaded once


def _find_block(settings: NerSettings, texts: list[str]) -> list[list[Entity]]:
    """In the worker: the entities of one block of texts."""
    global _recogniser
    if _recogniser is None:
        _recogniser = SpacyRecogniser(settings)
    return _recogniser.find(texts)


def _watch_parent(parent: int) -> None:
    """In the worker: exit when the process that started it is gone (killed, crashed).

    The worker holds both ends of its task queue, so it would otherwise wait forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def worthwhile(count: int) -> bool:
    """Whether `count` new passages are worth a worker: enough of them, and a second core."""
    return count >= MIN_TEXTS and (os.cpu_count() or 1) > 1


class PendingEntities:
    """Entities being found in the worker; `result()` waits for them, in order."""

    def __init__(self, futures: list[Future[list[list[Entity]]]], total: int) -> None:
        self._futures = futures
        self._total = total

    def result(self, progress: BatchProgress | None = None) -> list[list[Entity]]:
        out: list[list[Entity]] = []
        try:
            for future in self._futures:
                out.extend(future.result())
                if progress:
                    progress(len(out), self._total)
        finally:
            self.cancel()
        return out

    def cancel(self) -> None:
        """Drop the blocks not started yet (the write failed, or one block did)."""
        for future in self._futures:
            future.cancel()


class EntityWorker:
    """One worker process running `settings`' spaCy pipeline over blocks of texts."""

    def __init__(self, settings: NerSettings) -> None:
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, texts: Sequence[str]) -> PendingEntities:
        """Start finding the entities of `texts`; the worker starts on the first call."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_watch_parent, initargs=(os.getpid(),),
            )
        block = SpacyRecogniser.BLOCK
        futures = [
            self._pool.submit(_find_block, self.settings, list(texts[i : i + block]))
            for i in range(0, len(texts), block)
        ]
        return PendingEntities(futures, len(texts))

    def close(self) -> None:
        """Stop the worker and wait for it to exit (blocks not started are dropped)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class Finding:
    """Entities of passages being found (index/store.py): cached ones, and those of
    the `missing` texts, pending in the worker or found here in `finish`."""

    recogniser: Recogniser | None
    texts: list[str]
    cached: dict[str, str]
    missing: list[int]
    pending: PendingEntities | None
    keys: list[str] = field(default_factory=list)

    def finish(self, progress: Progress) -> tuple[list[str | None], list[tuple[str, str]]]:
        """Entities (JSON, None when entities are off) of every text, and the new cache
        entries."""
        if self.recogniser is None:
            return [None] * len(self.texts), []
        fresh: list[tuple[str, str]] = []
        if self.missing:
            def step(done: int, total: int) -> None:
                progress("finding names", done, total)

            found = (
                self.pending.result(step) if self.pending is not None
                else self.recogniser.find([self.texts[i] for i in self.missing], progress=step)
            )
            for i, entities in zip(self.missing, found, strict=True):
                self.cached[self.keys[i]] = dumps(entities)
                fresh.append((self.keys[i], self.cached[self.keys[i]]))
        return [self.cached[k] for k in self.keys], fresh

    def cancel(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
