"""Entity recognition in a second process, so it runs while the main process embeds.

spaCy holds the GIL through most of its work, so a thread would not overlap it with
embedding; a worker process does. The store hands the worker a write's passages (in the
same blocks `SpacyRecogniser.find` cuts, so the entities are exactly those the main process
would find), embeds, then collects the entities. The worker is `python -m index.ner_worker`:
it imports only spaCy (not torch, and not the caller's main module, as multiprocessing's
"spawn" would), loads the pipeline once, on its first block, while the main process is still
loading the embedding model, and reads blocks from its stdin until that closes. So it lives as
long as the store (`Store.close()` stops it) and ends by itself when its parent dies.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from index.entities import Entity, Recogniser, SpacyRecogniser, dumps
from index.settings import NerSettings

BatchProgress = Callable[[int, int], None]  # done, total
Progress = Callable[[str, int, int], None]  # stage, done, total

# Fewer new passages than this are tagged in the main process: a worker's start (a Python
# process, spaCy's import, the pipeline's load) only pays for itself on a bigger write.
MIN_TEXTS = 64
CLOSE_WAIT_S = 30.0


class WorkerGone(RuntimeError):
    """The worker process ended before it answered (killed, out of memory)."""


def _serve() -> None:
    """The worker: (number, settings, texts) in on stdin, (number, ok, entities or error)
    out, until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the replies
    requests = sys.stdin.buffer
    recogniser: SpacyRecogniser | None = None
    while True:
        try:
            number, settings, texts = pickle.load(requests)
        except EOFError:
            return
        try:
            if recogniser is None:  # (its pipeline loads without torch: entities.py)
                recogniser = SpacyRecogniser(settings)
            reply = (number, True, recogniser.find(texts))
        except Exception as exc:  # sent back and raised in the caller
            reply = (number, False, exc)
        try:
            data = pickle.dumps(reply)
        except Exception as exc:  # an exception that does not pickle: its message does
            data = pickle.dumps((number, False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        replies.write(data)
        replies.flush()


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
        self._proc: subprocess.Popen[bytes] | None = None
        self._outbox: queue.Queue[tuple | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._futures: dict[int, Future[list[list[Entity]]]] = {}
        self._lock = threading.Lock()
        self._next = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _start(self) -> None:
        root = str(Path(__file__).resolve().parent.parent)  # where `index` is imported from
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # Its own session: a Ctrl-C at the terminal is the parent's to handle.
        proc = subprocess.Popen(
            [sys.executable, "-m", "index.ner_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, env=env, start_new_session=True,
        )
        self._proc, self._outbox = proc, queue.Queue()
        self._threads = [
            threading.Thread(target=self._write, args=(proc.stdin, self._outbox),
                             name="ner-worker-write", daemon=True),
            threading.Thread(target=self._read, args=(proc.stdout,), name="ner-worker-read",
                             daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _write(pipe: IO[bytes], outbox: queue.Queue[tuple | None]) -> None:
        """Blocks to the worker, from a thread: a full pipe must not block the caller."""
        try:
            while (item := outbox.get()) is not None:
                pipe.write(pickle.dumps(item))
                pipe.flush()
        except OSError:
            pass  # the worker is gone; the reader fails what is pending
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    def _read(self, pipe: IO[bytes]) -> None:
        while True:
            try:
                number, ok, value = pickle.load(pipe)
            except (EOFError, OSError, pickle.UnpicklingError):
                break
            with self._lock:
                future = self._futures.pop(number, None)
            if future is not None and future.set_running_or_notify_cancel():
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        with self._lock:
            left, self._futures = list(self._futures.values()), {}
        for future in left:
            if future.set_running_or_notify_cancel():
                future.set_exception(WorkerGone("the entity worker process ended"))

    def submit(self, texts: Sequence[str]) -> PendingEntities:
        """Start finding the entities of `texts`; the worker starts on the first call."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            futures: list[Future[list[list[Entity]]]] = []
            block = SpacyRecogniser.BLOCK
            for start in range(0, len(texts), block):
                future: Future[list[list[Entity]]] = Future()
                self._futures[self._next] = future
                self._outbox.put((self._next, self.settings, list(texts[start : start + block])))
                self._next += 1
                futures.append(future)
        return PendingEntities(futures, len(texts))

    def close(self) -> None:
        """Stop the worker (after the block it is on) and wait for it to exit."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        self._outbox.put(None)  # its stdin closes: it exits
        try:
            proc.wait(CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for thread in self._threads:
            thread.join()


@dataclass
class Finding:
    """Entities of passages being found (index/features.py): cached ones, and those of
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

            found = None
            if self.pending is not None:
                try:
                    found = self.pending.result(step)
                except WorkerGone:
                    found = None  # tagged here instead: the write goes on
            if found is None:
                found = self.recogniser.find([self.texts[i] for i in self.missing],
                                             progress=step)
            for i, entities in zip(self.missing, found, strict=True):
                self.cached[self.keys[i]] = dumps(entities)
                fresh.append((self.keys[i], self.cached[self.keys[i]]))
        return [self.cached[k] for k in self.keys], fresh

    def cancel(self) -> None:
        if self.pending is not None:
            self.pending.cancel()


if __name__ == "__main__":
    _serve()
