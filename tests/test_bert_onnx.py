"""The ONNX Runtime question encoder gives sentence-transformers' vectors without torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from index.bert_onnx import OnnxBertEncoder
from index.embedding import packaged_model_dir
from tests.conftest import ROOT

pytestmark = pytest.mark.model

TEXTS = [
    "What does Putin demand to end the offensive?",
    "Ünïcödé — “quotes”, émojis 🎉 and numbers like $31.5 billion",
    "a",
    "",
    "long " * 400,  # past the model's 256 tokens: truncated the same way
]


def test_same_vectors_as_sentence_transformers(real_embedder):
    encoder = OnnxBertEncoder.load(packaged_model_dir())
    assert encoder is not None
    model = real_embedder._load()
    expected = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    got = encoder.embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_a_folder_of_another_layout_is_left_to_sentence_transformers(tmp_path):
    assert OnnxBertEncoder.load(tmp_path) is None
    (tmp_path / "modules.json").write_text(json.dumps([{"type": "x"}]))
    assert OnnxBertEncoder.load(tmp_path) is None

    def model_copy(name: str, changed_file: str, **changes) -> Path:
        """The packaged model's folder with one setting of one JSON file changed."""
        folder = tmp_path / name
        shutil.copytree(packaged_model_dir(), folder, ignore=shutil.ignore_patterns(
            "model.safetensors", "tokenizer.json"))
        for big in ("model.safetensors", "tokenizer.json"):
            (folder / big).symlink_to(Path(packaged_model_dir()) / big)
        settings = json.loads((folder / changed_file).read_text())
        (folder / changed_file).write_text(json.dumps({**settings, **changes}))
        return folder

    assert OnnxBertEncoder.load(model_copy("same", "config.json")) is not None
    assert OnnxBertEncoder.load(model_copy("act", "config.json", hidden_act="gelu_new")) is None
    assert OnnxBertEncoder.load(model_copy("pos", "config.json",
                                            position_embedding_type="relative_key")) is None
    assert OnnxBertEncoder.load(model_copy("cls", "1_Pooling/config.json",
                                            pooling_mode_cls_token=True)) is None


def test_answering_a_question_never_imports_torch(tmp_path, real_embedder):
    """`newsbot ask` starts in under a second: ONNX Runtime, not torch, embeds the question,
    and the passages' named entities were found when they were indexed: no spaCy either."""
    from bot.engine import NewsEngine
    from index.models import ArticleInput, ReadResult
    from tests.conftest import make_config

    data = tmp_path / "data"
    engine = NewsEngine(make_config(data), embedder=real_embedder)
    engine.add_articles(ReadResult(articles=[
        ArticleInput(text="The council approved a budget of 4.2 million dollars on Tuesday.")
    ]))
    engine.close()
    out = _newsbot_then_modules(["--data-dir", str(data), "ask", "--json",
                                 "How much was the budget?"], ["spacy", "torch"])
    assert "4.2 million" in out
    assert out.strip().endswith("NO-spacy\nNO-torch")


def _newsbot_then_modules(args: list[str], modules: list[str]) -> str:
    """The output of `newsbot ARGS` run in a new process, then a line per module: its name,
    or NO-name when the command never imported it."""
    code = (
        f"import sys; from bot.cli import main; sys.argv = ['newsbot', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        f"for m in {modules!r}:\n    print(m if m in sys.modules else 'NO-' + m)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr  # the command itself succeeded too
    return done.stdout


def test_one_encoder_serves_several_threads_at_once():
    """The Discord bot answers in worker threads that share the encoder's one session."""
    encoder = OnnxBertEncoder.load(packaged_model_dir())
    assert encoder is not None
    texts = [f"Question number {i} about the harbour bridge budget?" for i in range(24)]
    alone = encoder.embed(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = np.vstack(list(pool.map(lambda t: encoder.embed([t]), texts)))
    assert np.array_equal(alone, together)


def test_the_built_graph_is_kept_and_a_damaged_copy_is_rebuilt(tmp_path, monkeypatch):
    """The graph is built once (with onnx) and kept in the cache folder; a cut-short cache
    file is rebuilt and replaced, and a cache that cannot be written costs only the build."""
    monkeypatch.setenv("NEWSBOT_CACHE", str(tmp_path / "cache"))
    built = OnnxBertEncoder.load(packaged_model_dir())
    assert built is not None
    (kept,) = (tmp_path / "cache" / "onnx").glob("bert-*.onnx")
    good = kept.read_bytes()
    expected = built.embed(TEXTS)

    assert np.array_equal(OnnxBertEncoder.load(packaged_model_dir()).embed(TEXTS), expected)
    kept.write_bytes(good[: len(good) // 2])
    assert np.array_equal(OnnxBertEncoder.load(packaged_model_dir()).embed(TEXTS), expected)
    assert kept.read_bytes() == good

    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("NEWSBOT_CACHE", str(tmp_path / "a-file"))
    assert np.array_equal(OnnxBertEncoder.load(packaged_model_dir()).embed(TEXTS), expected)


def test_many_texts_are_embedded_in_threads_with_sentence_transformers_vectors(real_embedder):
    """An index build's bulk embedding runs on ONNX Runtime across threads, text by text, and
    gives the vectors sentence-transformers' padded batches give."""
    texts = [f"Passage {i}: the harbour bridge budget rose to {i}.5 million dollars, the"
             f" council said on day {i} of the {'long ' * (i % 7)}talks." for i in range(40)]
    texts += TEXTS
    done: list[int] = []
    got = real_embedder.embed(texts, progress=lambda n, total: done.append(n))
    expected = real_embedder._load().encode(texts, normalize_embeddings=True,
                                            convert_to_numpy=True)
    assert np.abs(got - expected).max() < 1e-5
    assert done[-1] == len(texts) and done == sorted(done)


def test_building_an_index_never_imports_torch(tmp_path):
    """The default model embeds passages without torch: its import and memory are the
    largest part of an index build's start and peak on a small machine."""
    articles = tmp_path / "a.txt"
    articles.write_text("The harbour council approved a budget of 4.2 million dollars on"
                        " Tuesday after a long debate about the bridge.\n" * 30)
    out = _newsbot_then_modules(["--data-dir", str(tmp_path / "data"), "index", "add",
                                 str(articles)], ["torch", "sentence_transformers"])
    assert out.strip().endswith("NO-torch\nNO-sentence_transformers"), out
