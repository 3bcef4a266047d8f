"""Bulk embedding in batches of texts of about the same length in tokens (index/embedding.py):
no more padding than that order needs, no more tokens in a batch than its budget, the same
vectors as each text embedded alone, and an index build never builds the ONNX encoder."""

from __future__ import annotations

import random

import numpy as np

from index.embedding import MAX_BATCH_TOKENS, SentenceTransformerEmbedder
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


def test_bulk_batches_are_padded_no_more_than_length_order_needs(real_embedder, monkeypatch):
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


def test_the_onnx_encoder_is_built_only_for_a_few_texts():
    embedder = SentenceTransformerEmbedder(ModelSettings())
    assert embedder.dimension == 384
    embedder.embed(_texts()[:10])
    assert embedder._fast is None  # ten texts go through sentence-transformers alone
    embedder.embed(["one question"])
    assert embedder._fast is not None
