"""Embedding a question fast: the model's BERT network run by ONNX Runtime, without torch.

Loading sentence-transformers means importing torch and transformers: about five seconds
before the first question can be answered. This module builds the same network (BertModel
with absolute positions and exact GELU, then mean pooling and L2 normalisation, exactly what
the model's sentence-transformers pipeline computes) as a small ONNX graph from the model's
own files, the weights from `model.safetensors` and the tokenizer from `tokenizer.json`, and
runs it with ONNX Runtime on the calling thread. Loading takes ~0.2 s (plus ~0.1 s to import
onnxruntime); one question ~4 ms on one core. A NumPy forward pass of the same
network took ~9 ms (ONNX Runtime packs each weight matrix once, at load; NumPy's BLAS packs
its operands anew for every product).

The weights are handed to ONNX Runtime as external initializers, so the graph holds only the
wiring and nothing is copied to build it. The graph is written with the onnx package, whose
import alone takes 0.75 s, once: the bytes (a few KB) are kept in the cache folder under a
digest of what they hold, and later processes load them with ONNX Runtime alone. `load`
returns None for any other model layout, and the caller then uses sentence-transformers.
Passages are embedded by this graph too, text by text on as many threads as there are cores
(index/embedding.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
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
_OPSET = 20  # the first with a GELU operator (LayerNormalization came in 17)
_IR_VERSION = 9  # what ONNX Runtime 1.16 and later read
_FORMAT = 1  # part of the cache key: raise it when model_bytes writes anything differently

log = logging.getLogger(__name__)


def _supported_layout(folder: Path) -> dict | None:
    """The model's config.json when `folder` holds a model this module can run, else None."""
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
    return {**config, "max_seq_length": st_config.get("max_seq_length") or 512}


class _Graph:
    """An ONNX graph under construction, held as plain data: nodes, small constants, and the
    big weights kept aside as external initializers. Only `model_bytes` needs the onnx package
    (importing it takes 0.75 s, more than loading the model): the built bytes are kept in a
    cache file named by `key`, so later processes load them with ONNX Runtime alone."""

    def __init__(self) -> None:
        self.nodes: list[tuple[str, list[str], list[str], dict[str, Any]]] = []
        self.constants: dict[str, np.ndarray] = {}  # small: shapes and axes, in the graph
        self.external: dict[str, np.ndarray] = {}
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        value = np.ascontiguousarray(value)
        if value.size <= 16:  # shapes and axes go in the graph itself
            self.constants[name] = value
        else:
            self.external[name] = value
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attributes: Any) -> Any:
        names = [f"t{self._count}_{i}" for i in range(outputs)]
        self._count += 1
        self.nodes.append((op_type, list(inputs), names, attributes))
        return names[0] if outputs == 1 else names

    def key(self, output: str, width: int) -> str:
        """A digest of everything `model_bytes` writes (the wiring, the small constants, the
        external weights' names and shapes, not their values): equal keys, equal bytes."""
        digest = hashlib.sha256(repr((_FORMAT, _OPSET, _IR_VERSION, output, width)).encode())
        for op_type, inputs, outputs, attributes in self.nodes:
            digest.update(repr((op_type, inputs, outputs, sorted(attributes.items()))).encode())
        for name, value in self.constants.items():
            digest.update(repr((name, value.dtype.str, value.shape)).encode() + value.tobytes())
        for name, value in self.external.items():
            digest.update(repr((name, value.dtype.str, value.shape)).encode())
        return digest.hexdigest()[:32]

    def model_bytes(self, output: str, width: int) -> bytes:
        import onnx

        helper, proto = onnx.helper, onnx.TensorProto
        initializers = [onnx.numpy_helper.from_array(v, n) for n, v in self.constants.items()]
        for name, value in self.external.items():
            tensor = proto(name=name, data_type=proto.FLOAT, dims=list(value.shape))
            tensor.data_location = proto.EXTERNAL
            for key, item in (("location", "memory"), ("length", str(value.nbytes))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, item
            initializers.append(tensor)
        graph = helper.make_graph(
            [helper.make_node(op, inputs, outputs, **attributes)
             for op, inputs, outputs, attributes in self.nodes],
            "bert",
            [helper.make_tensor_value_info("ids", proto.INT64, ["tokens"])],
            [helper.make_tensor_value_info(output, proto.FLOAT, [width])],
            initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
        model.ir_version = _IR_VERSION
        return model.SerializeToString()


def cache_dir() -> Path:
    """Where built graphs are kept: $NEWSBOT_CACHE, else $XDG_CACHE_HOME/newsbot, else
    ~/.cache/newsbot (the folder scripts/setup.sh --dev caches the test model in)."""
    if os.environ.get("NEWSBOT_CACHE"):
        return Path(os.environ["NEWSBOT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "newsbot"


def _graph_bytes(graph: _Graph, output: str, width: int) -> tuple[bytes, Path, bool]:
    """The graph's ONNX bytes, the cache file's path, and whether the bytes came from it."""
    path = cache_dir() / "onnx" / f"bert-{graph.key(output, width)}.onnx"
    try:
        return path.read_bytes(), path, True
    except OSError:
        pass
    data = graph.model_bytes(output, width)
    _keep(path, data)
    return data, path, False


def _keep(path: Path, data: bytes) -> None:
    """Write the cache file whole or not at all; a cache that cannot be written (a read-only
    home) only costs the next process the build."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    except OSError as exc:
        log.debug("could not keep the ONNX graph in %s: %s", path, exc)


def _bert_graph(weights: dict[str, np.ndarray], config: dict) -> tuple[_Graph, str]:
    """One unpadded sequence of token ids in, the mean of its last hidden states out; returns
    the graph and the name of its output."""
    g = _Graph()
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    size = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))

    def w(name: str) -> np.ndarray:
        return weights[name].astype(np.float32)

    def norm(x: str, prefix: str) -> str:
        return g.op("LayerNormalization", x, g.const(f"{prefix}.w", w(f"{prefix}.weight")),
                    g.const(f"{prefix}.b", w(f"{prefix}.bias")), axis=-1, epsilon=eps)

    def linear(x: str, prefix: str, weight: np.ndarray, bias: np.ndarray) -> str:
        # (tokens, in) @ (in, out): the stored (out, in) matrix transposed once, here (a Gemm
        # on the stored matrix loads faster but ran ~15 % slower)
        y = g.op("MatMul", x, g.const(f"{prefix}.w", np.ascontiguousarray(weight.T)))
        return g.op("Add", y, g.const(f"{prefix}.b", bias))

    zero = g.const("zero", np.array([0], dtype=np.int64))
    x = g.op("Gather", g.const("word", w("embeddings.word_embeddings.weight")), "ids")
    positions = g.op("Slice", g.const("position", w("embeddings.position_embeddings.weight")),
                     zero, g.op("Shape", "ids"), zero)
    x = g.op("Add", g.op("Add", x, positions),
             g.const("token_type", w("embeddings.token_type_embeddings.weight")[0]))
    x = norm(x, "embeddings.LayerNorm")
    per_head = g.const("per_head", np.array([-1, heads, size], dtype=np.int64))
    flat = g.const("flat", np.array([-1, hidden], dtype=np.int64))
    thirds = g.const("thirds", np.array([hidden] * 3, dtype=np.int64))
    scale = np.float32(1.0 / np.sqrt(size))
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        names = [f"{p}attention.self.{n}" for n in ("query", "key", "value")]
        # Query, key and value as one product; softmax(q k / sqrt(d)): q scaled once, here.
        qkv_w = np.concatenate([w(f"{n}.weight") for n in names])
        qkv_b = np.concatenate([w(f"{n}.bias") for n in names])
        qkv_w[:hidden] *= scale
        qkv_b[:hidden] *= scale
        qkv = linear(x, f"{p}qkv", qkv_w, qkv_b)
        q, k, v = (g.op("Transpose", g.op("Reshape", part, per_head), perm=[1, 0, 2])
                   for part in g.op("Split", qkv, thirds, outputs=3, axis=1))
        scores = g.op("Softmax", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 2, 1])), axis=-1)
        context = g.op("Reshape", g.op("Transpose", g.op("MatMul", scores, v), perm=[1, 0, 2]),
                       flat)
        y = linear(context, f"{p}out", w(f"{p}attention.output.dense.weight"),
                   w(f"{p}attention.output.dense.bias"))
        x = norm(g.op("Add", y, x), f"{p}attention.output.LayerNorm")
        up = linear(x, f"{p}up", w(f"{p}intermediate.dense.weight"),
                    w(f"{p}intermediate.dense.bias"))
        up = g.op("Gelu", up, approximate="none")
        y = linear(up, f"{p}down", w(f"{p}output.dense.weight"), w(f"{p}output.dense.bias"))
        x = norm(g.op("Add", y, x), f"{p}output.LayerNorm")
    return g, g.op("ReduceMean", x, zero, keepdims=0)


class OnnxBertEncoder:
    """Embeds texts one at a time, exactly as the model's sentence-transformers pipeline does."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, tokenizer: Tokenizer) -> None:
        import onnxruntime as ort

        self.tokenizer = tokenizer
        self.dimension = int(config["hidden_size"])
        graph, self._output = _bert_graph(weights, config)
        options = ort.SessionOptions()
        # One thread, the caller's: a question is too small to share out, and on a small
        # machine spinning pool threads cost more than they give.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # its notes on constant folding are not the user's
        # ONNX Runtime reads these arrays in place: they must live as long as the session.
        self._weights = [ort.OrtValue.ortvalue_from_numpy(a) for a in graph.external.values()]
        options.add_external_initializers(list(graph.external), self._weights)
        data, path, cached = _graph_bytes(graph, self._output, self.dimension)
        try:
            self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime's errors derive from Exception alone
            if not cached:
                raise
            # A damaged cache file (cut short, overwritten): built afresh and replaced.
            log.warning("rebuilding the ONNX graph: %s did not load (%s)", path, exc)
            data = graph.model_bytes(self._output, self.dimension)
            self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
            _keep(path, data)

    @classmethod
    def load(cls, model_dir: str | Path) -> OnnxBertEncoder | None:
        """The encoder for a local model folder of the supported layout, else None."""
        folder = Path(model_dir)
        config = _supported_layout(folder)
        if config is None:
            return None
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(int(config["max_seq_length"]))
        return cls(load_file(folder / "model.safetensors"), config, tokenizer)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, one per text (each text is run alone, so nothing is padded)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)
            (vec,) = self._session.run([self._output], {"ids": ids})
            out[row] = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return out
