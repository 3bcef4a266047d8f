"""The span reader at answer time: a quantised ONNX model read by ONNX Runtime, no torch.

The model (bot/reader/learned/span_train.py, exported by `export` below) reads the question with
one passage and gives every token a start and an end logit; the [CLS] token's pair is its "no
answer" score (SQuAD 2.0). For the learned reader each candidate sentence gets the best span
inside it, scored against "no answer", against the best span of its passage and against the
best of all passages read: features of bot/reader/learned/features.py.

Export: `python -m bot.reader.learned.span DIR OUT.onnx EXAMPLES` writes the trained folder
as ONNX, quantises it with ONNX Runtime's dynamic int8 quantisation and checks on sample
passages that the quantised model picks the same spans as the torch model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from bot.reader.ranking import Scored

MAX_LENGTH = 256  # as trained (span_train.MAX_LENGTH)
MAX_SPAN = 12  # tokens of the longest span considered
SPAN_FILE = Path(__file__).with_name("span-model.onnx")
TOKENIZER_FILE = Path(__file__).with_name("span-tokenizer.json")


@dataclass(frozen=True)
class PassageSpans:
    """One passage read: per-token logits, char offsets into the passage, no-answer score."""

    start: np.ndarray
    end: np.ndarray
    offsets: list[tuple[int, int]]  # of the passage's tokens (others are (-1, -1))
    null: float
    best: float  # best span of the passage, less `null`


@dataclass(frozen=True)
class SentenceSpan:
    score: float  # best span inside the sentence, less the no-answer score
    text: str  # that span


def _best(start: np.ndarray, end: np.ndarray, tokens: np.ndarray) -> tuple[float, int, int]:
    """The best start+end over `tokens` (token indexes, in order) with end >= start."""
    if len(tokens) == 0:
        return -1e9, -1, -1
    s, e = start[tokens], end[tokens]
    n = len(tokens)
    pair = s[:, None] + e[None, :]
    i, j = np.indices((n, n))
    pair[(j < i) | (j - i >= MAX_SPAN)] = -1e9
    k = int(np.argmax(pair))
    return float(pair.flat[k]), int(tokens[k // n]), int(tokens[k % n])


class SpanReader:
    def __init__(self, model: Path = SPAN_FILE, tokenizer: Path = TOKENIZER_FILE,
                 threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer: Tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(MAX_LENGTH, strategy="only_second")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model), options,
                                            providers=["CPUExecutionProvider"])
        self.model_file = model

    @functools.cached_property
    def digest(self) -> str:
        """The model file's sha256 (keys training's cache of readings; answering never needs
        it, so a question does not pay for reading 23 MB twice)."""
        import hashlib

        return hashlib.sha256(self.model_file.read_bytes()).hexdigest()

    def read(self, question: str, passages: list[str]) -> list[PassageSpans]:
        if not passages:
            return []
        encodings = self.tokenizer.encode_batch([(question, p) for p in passages])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        types, mask = np.zeros_like(ids), np.zeros_like(ids)
        for r, e in enumerate(encodings):
            ids[r, :len(e.ids)] = e.ids
            types[r, :len(e.ids)] = e.type_ids
            mask[r, :len(e.ids)] = 1
        start, end = self.session.run(
            None, {"input_ids": ids, "token_type_ids": types, "attention_mask": mask})
        out = []
        for r, e in enumerate(encodings):
            offsets = [o if s == 1 else (-1, -1)
                       for o, s in zip(e.offsets, e.sequence_ids, strict=True)]
            tokens = np.array([t for t, o in enumerate(offsets) if o[0] >= 0], dtype=np.int64)
            null = float(start[r, 0] + end[r, 0])
            best, _, _ = _best(start[r], end[r], tokens)
            out.append(PassageSpans(start[r], end[r], offsets, null, best - null))
        return out


def sentence_span(passage: str, read: PassageSpans, sentence: str) -> SentenceSpan | None:
    """The best span inside `sentence` of `passage`, or None when the sentence is not found
    in the passage or was cut off from what the model read."""
    at = passage.find(sentence)
    if at < 0:
        return None
    stop = at + len(sentence)
    tokens = np.array([t for t, (a, b) in enumerate(read.offsets) if a >= at and 0 <= b <= stop
                       and a >= 0], dtype=np.int64)
    score, i, j = _best(read.start, read.end, tokens)
    if i < 0:
        return None
    return SentenceSpan(score - read.null, passage[read.offsets[i][0]:read.offsets[j][1]])


def _words(text: str) -> set[str]:
    from bot.reader.ranking import normalise

    return set(normalise(text).split())


def add_features(reads: list[PassageSpans], passages: list[str], ranked: list[Scored]) -> None:
    """Add the span features (bot/reader/learned/features.py SPAN_SENTENCE) to every sentence's
    `features`; `reads[i]` is the span reader's reading of `passages[i]`, the passage that
    `Scored.hit` i names."""
    best_all = max((r.best for r in reads), default=0.0)
    for s in ranked:
        found = sentence_span(passages[s.hit], reads[s.hit], s.sentence)
        if found is None:
            s.features.update(span_found=0.0, span_score=-10.0, span_margin=-10.0,
                              span_global=-10.0, span_candidate=0.0)
            continue
        words = _words(found.text)
        candidate = any((c_words := set(c.split())) and (c_words <= words or words <= c_words)
                        for c in s.candidates)
        s.features.update(
            span_found=1.0, span_score=float(np.clip(found.score, -15.0, 15.0)),
            span_margin=max(-15.0, found.score - reads[s.hit].best),
            span_global=max(-15.0, found.score - best_all), span_candidate=float(candidate),
        )


@functools.lru_cache(maxsize=2)
def load(model: Path | None = None, tokenizer: Path | None = None) -> SpanReader | None:
    """The span reader (default: the files beside this module), or None when its files are
    absent."""
    model, tokenizer = model or SPAN_FILE, tokenizer or TOKENIZER_FILE
    if not model.exists() or not tokenizer.exists():
        return None
    return SpanReader(model, tokenizer)


def export(
    trained: Path, out: Path, sample: list[tuple[str, str]], quantize: bool = True
) -> dict:
    """Write the trained folder as an ONNX model at `out`, int8 unless `quantize` is off (and
    its tokenizer beside it); return how often its best spans agree with the torch model's on
    `sample`."""
    import tempfile

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    model = AutoModelForQuestionAnswering.from_pretrained(trained).eval()
    hf_tokenizer = AutoTokenizer.from_pretrained(trained)
    enc = hf_tokenizer("a question", "a passage", return_tensors="pt")
    # In the order of the model's forward(): export passes these by position.
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain.onnx"
        axes = {n: {0: "batch", 1: "tokens"} for n in names}
        axes |= {"start_logits": {0: "batch", 1: "tokens"}, "end_logits": {0: "batch", 1: "tokens"}}
        torch.onnx.export(model, tuple(enc[n] for n in names), str(plain), input_names=names,
                          output_names=["start_logits", "end_logits"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
        if quantize:
            # Per-channel int8 weights: per-tensor scales moved the best span on a third of
            # the passages of a sample; per channel, on about one in eight.
            quantize_dynamic(str(plain), str(out), weight_type=QuantType.QInt8,
                             per_channel=True)
        else:
            import shutil

            shutil.copyfile(plain, out)
    tokenizer_out = out.with_name(out.stem.replace("-model", "") + "-tokenizer.json")
    hf_tokenizer.backend_tokenizer.save(str(tokenizer_out))
    reader = SpanReader(out, tokenizer_out)
    same, same_decision, worst = 0, 0, 0.0
    for question, passage in sample:
        ours = reader.read(question, [passage])[0]
        t = hf_tokenizer(question, passage, truncation="only_second", max_length=MAX_LENGTH,
                         return_tensors="pt")
        with torch.no_grad():
            result = model(**t)
        start, end = result.start_logits[0].numpy(), result.end_logits[0].numpy()
        worst = max(worst, float(np.abs(ours.start - start).max()),
                    float(np.abs(ours.end - end).max()))
        tokens = np.array([k for k, o in enumerate(ours.offsets) if o[0] >= 0])
        best, i, j = _best(start, end, tokens)
        same += _best(ours.start, ours.end, tokens)[1:] == (i, j)
        same_decision += (ours.best > 0) == (best - float(start[0] + end[0]) > 0)
    return {"sample": len(sample), "same_best_span": same,
            "same_answer_or_not": same_decision, "max_logit_difference": round(worst, 4)}


if __name__ == "__main__":
    import json
    import sys

    trained_dir, out_file, examples = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    rows = [json.loads(line) for line in examples.open()][:200]
    print(export(trained_dir, out_file, [(r["question"], r["context"]) for r in rows]))
