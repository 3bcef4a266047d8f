"""A NumPy forward pass of a BERT sentence-transformers model, for embedding a question fast.

Loading sentence-transformers means importing torch and transformers: about five seconds
before the first question can be answered. This module computes the same embedding (mean
pooling, L2 normalisation) from the model's own files with NumPy and the `tokenizers` library
alone, which load in a fraction of a second and embed one short text in a few milliseconds.
It supports exactly the layout of all-MiniLM-L6-v2 and its kin (BertModel, absolute positions,
GELU, mean pooling, Normalize); `load` returns None for anything else, and the caller then uses
sentence-transformers. Batch embedding of passages always goes through sentence-transformers.

Speed (one question is ~20 tokens, so every product is a thin matrix times a weight matrix
read once from memory; the 24 products are ~80 % of the ~10 ms a question takes):

- The hidden states are kept feature-major, (hidden, tokens), and each weight stays in the
  file's (out, in) layout, so a linear layer is `W @ x`: OpenBLAS runs that shape 1.3-1.5x
  faster than `x @ W.T` while the weights are in cache (alike when they come from memory).
- The query, key and value projections are one product; the query rows are scaled by
  1/sqrt(head size) once, at load.
- Element-wise steps (GELU, layer norm, softmax) run in place; a layer norm's means are BLAS
  products with a row of 1/hidden (`x.mean(0)` costs more on arrays this small).
- NumPy's BLAS runs one thread during the pass. With its default two on a 2-core machine
  whose other core is busy (another process, or this one's lexical search), its spinning
  threads made a question's embedding take 100-700 ms at p95, against ~60 ms with one.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_SUPPORTED_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]

# erf by Abramowitz and Stegun 7.1.26 (to about 1.5e-7, enough for float32 GELU):
# erf(z) = 1 - t (a1 + t (a2 + ... + t a5)) exp(-z^2), t = 1 / (1 + p z), for z >= 0.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _gelu_(x: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """x <- GELU(x) = x Phi(x), exact form (erf), in place; `scratch` is x's shape.

    With a = |x|: x Phi(x) = max(x, 0) - (a / 2) (1 - erf(a / sqrt 2)), and the A&S formula
    gives 1 - erf directly, so no sign is needed.
    """
    a = np.abs(x, out=scratch)
    t = a * np.float32(_ERF_P / np.sqrt(2.0))
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly = t * np.float32(_ERF_A[4])
    for coefficient in _ERF_A[3::-1]:
        poly += np.float32(coefficient)
        poly *= t
    # exp(-z^2) with z = x / sqrt 2, written into t (no longer needed)
    np.multiply(x, x, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    poly *= t
    poly *= a
    poly *= np.float32(0.5)
    np.maximum(x, np.float32(0.0), out=x)
    x -= poly
    return x


def _layer_norm_(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: np.float32, ones: np.ndarray
) -> np.ndarray:
    """Layer norm over axis 0 of a feature-major (hidden, tokens) array, in place; `ones` is
    a (1, hidden) row of 1/hidden (a mean as one BLAS product: `x.mean(0)` costs more)."""
    x -= ones @ x
    var = ones @ np.square(x)
    var += eps
    np.sqrt(var, out=var)
    x /= var
    x *= weight
    x += bias
    return x


class _BlasThreads:
    """Holds NumPy's BLAS at one thread while any forward pass runs (with threadpoolctl, if
    installed; otherwise the BLAS is left as it is). Counted, so overlapping passes in
    several threads restore the setting only when the last one ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._saved: list[tuple[Any, int]] = []
        self._libs: list[Any] = []
        try:
            from threadpoolctl import ThreadpoolController

            libs = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # not installed, or a BLAS it cannot drive: leave the BLAS alone
            return
        # NumPy's own BLAS (a wheel ships it in numpy.libs); another library's (FAISS has
        # one) is left alone unless NumPy's cannot be told apart.
        numpy_dir = os.path.dirname(np.__file__)
        own = [lib for lib in libs if str(lib.filepath).startswith(numpy_dir)]
        self._libs = own or list(libs)

    @contextmanager
    def one(self) -> Iterator[None]:
        if not self._libs:
            yield
            return
        with self._lock:
            if self._active == 0:
                self._saved = [(lib, lib.get_num_threads()) for lib in self._libs]
                for lib in self._libs:
                    lib.set_num_threads(1)
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    for lib, n in self._saved:
                        lib.set_num_threads(n)


class NumpyBertEncoder:
    """Embeds texts one at a time, exactly as the model's sentence-transformers pipeline does."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.heads = int(config["num_attention_heads"])
        self.eps = np.float32(config.get("layer_norm_eps", 1e-12))
        w = weights

        def f32(name: str) -> np.ndarray:
            return np.ascontiguousarray(w[name], dtype=np.float32)

        def column(name: str) -> np.ndarray:  # a bias or norm parameter, broadcast over tokens
            return f32(name).reshape(-1, 1)

        self.word = f32("embeddings.word_embeddings.weight")
        self.position = f32("embeddings.position_embeddings.weight")
        self.token_type = f32("embeddings.token_type_embeddings.weight")[0]
        self.embed_norm = (column("embeddings.LayerNorm.weight"),
                           column("embeddings.LayerNorm.bias"))
        self.dimension = int(self.word.shape[1])
        head_size = self.dimension // self.heads
        scale = np.float32(1.0 / np.sqrt(head_size))
        self.layers: list[tuple[np.ndarray, ...]] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            # Weights stay (out, in) as stored: a layer is W @ x on feature-major states.
            names = [f"attention.self.{n}" for n in ("query", "key", "value")]
            qkv = np.concatenate([f32(p + n + ".weight") for n in names])
            qkv_bias = np.concatenate([f32(p + n + ".bias") for n in names]).reshape(-1, 1)
            qkv[: self.dimension] *= scale  # softmax(q k / sqrt(d)): scale q once, here
            qkv_bias[: self.dimension] *= scale
            self.layers.append((
                qkv, qkv_bias,
                f32(p + "attention.output.dense.weight"),
                column(p + "attention.output.dense.bias"),
                column(p + "attention.output.LayerNorm.weight"),
                column(p + "attention.output.LayerNorm.bias"),
                f32(p + "intermediate.dense.weight"), column(p + "intermediate.dense.bias"),
                f32(p + "output.dense.weight"), column(p + "output.dense.bias"),
                column(p + "output.LayerNorm.weight"), column(p + "output.LayerNorm.bias"),
            ))
        self._mean_row = np.full((1, self.dimension), 1.0 / self.dimension, dtype=np.float32)
        self._blas = _BlasThreads()

    @classmethod
    def load(cls, model_dir: str | Path) -> NumpyBertEncoder | None:
        """The encoder for a local model folder of the supported layout, else None."""
        folder = Path(model_dir)
        try:
            modules = json.loads((folder / "modules.json").read_text())
            config = json.loads((folder / "config.json").read_text())
            pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
            st_config = json.loads((folder / "sentence_bert_config.json").read_text())
        except (OSError, ValueError):
            return None
        supported = (
            [m.get("type") for m in modules] == _SUPPORTED_MODULES
            and config.get("architectures") == ["BertModel"]
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and pooling.get("pooling_mode_mean_tokens") is True
            and not any(pooling.get(k) for k in (
                "pooling_mode_cls_token", "pooling_mode_max_tokens",
                "pooling_mode_mean_sqrt_len_tokens",
            ))
            and (folder / "model.safetensors").is_file()
            and (folder / "tokenizer.json").is_file()
        )
        if not supported:
            return None
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(int(st_config.get("max_seq_length") or 512))
        return cls(load_file(folder / "model.safetensors"), config, tokenizer)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one per text (each text is run alone, so nothing is padded)."""
        texts = list(texts)
        if len(texts) == 1:  # the usual case: no batch machinery for one question
            encodings = [self.tokenizer.encode(texts[0])]
        else:
            encodings = self.tokenizer.encode_batch(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        with self._blas.one():
            for row, encoding in enumerate(encodings):
                vec = self._forward(np.asarray(encoding.ids, dtype=np.intp)).mean(1)
                out[row] = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return out

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        """The last hidden states of one unpadded sequence, feature-major: (hidden, tokens)."""
        n = len(ids)
        x = self.word[ids]
        x += self.position[:n]
        x += self.token_type
        x = np.ascontiguousarray(x.T)
        eps, ones = self.eps, self._mean_row
        _layer_norm_(x, *self.embed_norm, eps, ones)
        hidden, heads = self.dimension, self.heads
        d = hidden // heads
        for (qkv_w, qkv_b, out_w, out_b, norm1_w, norm1_b, up_w, up_b, down_w, down_b,
             norm2_w, norm2_b) in self.layers:
            qkv = qkv_w @ x
            qkv += qkv_b
            q, k, v = (qkv[i * hidden : (i + 1) * hidden].reshape(heads, d, n) for i in range(3))
            scores = np.matmul(q.transpose(0, 2, 1), k)  # (heads, query token, key token)
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            context = np.matmul(v, scores.transpose(0, 2, 1)).reshape(hidden, n)
            y = out_w @ context
            y += out_b
            y += x
            x = _layer_norm_(y, norm1_w, norm1_b, eps, ones)
            up = up_w @ x
            up += up_b
            _gelu_(up, np.empty_like(up))
            y = down_w @ up
            y += down_b
            y += x
            x = _layer_norm_(y, norm2_w, norm2_b, eps, ones)
        return x
