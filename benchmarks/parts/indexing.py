"""The index part: the same passages embedded by bare `SentenceTransformer.encode` and indexed
end to end (`NewsEngine.add_articles`), with and without named entities, best of the rounds."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from parts.common import engine_for, peak_rss_mb


def phase_index(args: argparse.Namespace) -> dict:
    from sentence_transformers import SentenceTransformer

    from bot.evaluation.datasets import load_articles
    from index.chunking import chunk_text, embedding_text
    from index.embedding import SentenceTransformerEmbedder, packaged_model_dir
    from index.models import ReadResult
    from index.settings import ChunkSettings, ModelSettings

    chosen, texts = [], []
    for article in load_articles(args.articles).articles:
        passages = chunk_text(article.text, ChunkSettings())
        chosen.append(article)
        texts += [embedding_text(article.title, p) for p in passages]
        if len(texts) >= args.passages:
            break
    batch = ModelSettings().batch_size
    bare_model = SentenceTransformer(packaged_model_dir(), device="cpu")
    embedder = SentenceTransformerEmbedder(ModelSettings())
    warm = texts[:batch]
    bare_model.encode(warm, batch_size=batch, normalize_embeddings=True)
    embedder.embed(warm, batch_size=batch, progress=lambda d, t: None)
    from index.entities import make_recogniser
    from index.settings import NerSettings

    recogniser = make_recogniser(NerSettings())
    recogniser.find(texts[:batch])  # type: ignore[union-attr]  # load and warm the pipeline
    bare: list[float] = []
    end_to_end: dict[str, list[float]] = {"with_entities": [], "without_entities": []}
    for _ in range(args.rounds):
        started = time.perf_counter()
        bare_model.encode(texts, batch_size=batch, normalize_embeddings=True,
                          convert_to_numpy=True, show_progress_bar=False)
        bare.append(len(texts) / (time.perf_counter() - started))
        # End to end as the product indexes: with the default named-entity model, and with
        # [ner] model = "none".
        for kind, ner in (("with_entities", None), ("without_entities", "none")):
            with tempfile.TemporaryDirectory(prefix="newsbot-bench-") as tmp:
                engine = engine_for(Path(tmp), embedder, ner=ner)
                started = time.perf_counter()
                engine.add_articles(ReadResult(articles=chosen), progress=lambda *a: None)
                seconds = time.perf_counter() - started
                stored = engine.store.db.counts()[1]
                engine.close()
            end_to_end[kind].append(stored / seconds)
    out: dict = {"articles": len(chosen), "passages": len(texts), "batch_size": batch,
                 "bare_encode_pps": [round(x, 1) for x in bare]}
    for kind, pps in end_to_end.items():
        out[kind] = {
            "end_to_end_pps": [round(x, 1) for x in pps],
            "ratio_best": round(max(pps) / max(bare), 3),
            "ratio_median": round(statistics.median(pps) / statistics.median(bare), 3),
        }
    out["peak_rss_mb"] = round(peak_rss_mb())
    return out
