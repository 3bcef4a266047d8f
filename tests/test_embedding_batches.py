"""Bulk embedding (index/embedding.py): the packaged model's texts go one by one through ONNX
Runtime, never through sentence-transformers; a model of another layout is embedded by
sentence-transformers in batches of texts of about the same length in tokens: no more padding
than that order needs, no more tokens in a batch than its budget, the same vectors as each
text embedded alone."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from index.embedding import MAX_BATCH_TOKENS, SentenceTransformerEmbedder, packaged_model_dir
from index.settings import ModelSettings


def _texts() -> list[str]:
    # Length in characters says little about length in tokens here: a long word is one or two
    # tokens, "$9,000.5%" is seven.
    rng = random.Random(7)
    return [
        " ".join(rng.choice(["extraordinarily", "$9,000.5%", "news"])
                 for _ in range(rng.randint(3, 60)))
        for _ in range(150)
    ]


@pytest.fixture(scope="module")
def other_layout_embedder(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformerEmbedder:
    """The packaged model with a setting ONNX Runtime's graph does not build (another
    activation): sentence-transformers embeds it."""
    folder = tmp_path_factory.mktemp("other-layout")
    shutil.copytree(packaged_model_dir(), folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("model.safetensors", "tokenizer.json"))
    for big in ("model.safetensors", "tokenizer.json"):
        (folder / big).symlink_to(Path(packaged_model_dir()) / big)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_act": "gelu_new"}))
    return SentenceTransformerEmbedder(ModelSettings(name=str(folder)))


def test_bulk_batches_are_padded_no_more_than_length_order_needs(other_layout_embedder,
                                                                  monkeypatch):
    real_embedder = other_layout_embedder
    model = real_embedder._load()
    shapes: list[tuple[int, int]] = []
    forward = model.forward

    def recording(features, **kwargs):  # type: ignore[no-untyped-def]
        shapes.append(tuple(features["input_ids"].shape))
        return forward(features, **kwargs)

    monkeypatch.setattr(model, "forward", recording)
    texts = _texts()
    vectors = real_embedder.embed(texts, batch_size=32, progress=lambda done, total: None)
    tokens = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)
    lengths = sorted((len(ids) for ids in tokens["input_ids"]), reverse=True)
    needed, at = 0, 0
    while at < len(lengths):  # each batch as long as its first text, at most 32 or ~8192 tokens
        size = min(32, MAX_BATCH_TOKENS // lengths[at])
        needed += len(lengths[at : at + size]) * lengths[at]
        at += size
    assert sum(rows * width for rows, width in shapes) == needed
    assert all(rows <= 32 and rows * width <= MAX_BATCH_TOKENS for rows, width in shapes)
    monkeypatch.setattr(model, "forward", forward)
    alone = np.vstack([model.encode([t], normalize_embeddings=True) for t in texts[:20]])
    assert np.allclose(vectors[:20], alone, atol=1e-5)


def test_the_packaged_model_embeds_in_bulk_without_sentence_transformers():
    embedder = SentenceTransformerEmbedder(ModelSettings())
    assert embedder.dimension == 384
    vectors = embedder.embed(_texts())
    assert vectors.shape == (150, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder._fast is not None and embedder._model is None
