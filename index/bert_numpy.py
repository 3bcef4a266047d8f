"""A NumPy forward pass of a BERT sentence-transformers model, for embedding a question fast.

Loading sentence-transformers means importing torch and transformers: about five seconds
before the first question can be answered. This module computes the same embedding (mean
pooling, L2 normalisation) from the model's own files with NumPy and the `tokenizers` library
alone, which load in a fraction of a second and embed one short text in a few milliseconds.
It supports exactly the layout of all-MiniLM-L6-v2 and its kin (BertModel, absolute positions,
GELU, mean pooling, Normalize); `load` returns None for anything else, and the caller then uses
sentence-transformers. Batch embedding of passages always goes through sentence-transformers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_SUPPORTED_MODULES = [
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
]


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to about 1e-7 (Abramowitz and Stegun 7.1.26), enough for float32 GELU."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class NumpyBertEncoder:
    """Embeds texts one at a time, exactly as the model's sentence-transformers pipeline does."""

    def __init__(
        self, weights: dict[str, np.ndarray], config: dict, tokenizer: Tokenizer, max_len: int
    ) -> None:
        self.tokenizer = tokenizer
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_len = max_len
        w = weights
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.embed_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."

            def lin(name: str, p: str = p) -> tuple[np.ndarray, np.ndarray]:
                # Stored as (out, in); transposed once so a forward pass is x @ W + b.
                return np.ascontiguousarray(w[p + name + ".weight"].T), w[p + name + ".bias"]

            qkv = [lin(f"attention.self.{n}") for n in ("query", "key", "value")]
            self.layers.append({
                # One product for the query, key and value projections together.
                "qkv": (np.concatenate([m for m, _ in qkv], 1),
                        np.concatenate([b for _, b in qkv])),
                "attn_out": lin("attention.output.dense"),
                "attn_norm": (w[p + "attention.output.LayerNorm.weight"],
                              w[p + "attention.output.LayerNorm.bias"]),
                "up": lin("intermediate.dense"),
                "down": lin("output.dense"),
                "out_norm": (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
            })
        self.dimension = int(self.word.shape[1])

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

        max_len = int(st_config.get("max_seq_length") or 512)
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_len)
        stored = load_file(folder / "model.safetensors")
        weights = {k: v.astype(np.float32) for k, v in stored.items()}
        return cls(weights, config, tokenizer, max_len)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one per text (each text is run alone, so nothing is padded)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, encoding in enumerate(self.tokenizer.encode_batch(list(texts))):
            vec = self._forward(np.asarray(encoding.ids, dtype=np.int64)).mean(0)
            out[row] = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return out

    def _forward(self, ids: np.ndarray) -> np.ndarray:
        n = len(ids)
        x = self.word[ids] + self.position[:n] + self.token_type
        x = _layer_norm(x, *self.embed_norm, self.eps)
        h = self.heads
        d = x.shape[1] // h
        for layer in self.layers:
            qkv = x @ layer["qkv"][0] + layer["qkv"][1]
            q, k, v = (qkv[:, i * h * d : (i + 1) * h * d].reshape(n, h, d).transpose(1, 0, 2)
                       for i in range(3))
            scores = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(d))
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, h * d)
            x = _layer_norm(x + context @ layer["attn_out"][0] + layer["attn_out"][1],
                            *layer["attn_norm"], self.eps)
            up = _gelu(x @ layer["up"][0] + layer["up"][1])
            x = _layer_norm(x + up @ layer["down"][0] + layer["down"][1],
                            *layer["out_norm"], self.eps)
        return x
