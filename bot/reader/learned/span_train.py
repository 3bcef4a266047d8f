"""Train the span reader: a BERT-style extractive reader with SQuAD 2.0's no-answer rule.

Question and passage in, start and end logits out; the [CLS] token's start+end score is the
"no answer" score. Initialised from the packaged all-MiniLM-L6-v2 weights (its encoder; the
span head starts untrained), trained with `transformers`' model class and a plain torch loop on
the CPU (bounded: one pass over a few thousand examples). Examples come from
bot/reader/learned/span_data.py. The product never runs torch: `export` in span.py turns the
result into a quantised ONNX model.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from index.embedding import packaged_model_dir

MAX_LENGTH = 256


def encode(tokenizer, examples: list[dict]) -> list[dict]:
    """Token ids and the answer's start/end token (0, 0 = no answer or cut off)."""
    out = []
    for ex in examples:
        enc = tokenizer(ex["question"], ex["context"], truncation="only_second",
                        max_length=MAX_LENGTH, return_offsets_mapping=True)
        start = end = 0
        if ex["answer_start"] >= 0:
            a, b = ex["answer_start"], ex["answer_start"] + len(ex["answer_text"])
            seq = enc.sequence_ids()
            for i, (o, s) in enumerate(zip(enc["offset_mapping"], seq, strict=True)):
                if s != 1:
                    continue
                if start == 0 and o[0] <= a < o[1]:
                    start = i
                if o[0] < b <= o[1]:
                    end = i
            if not start or end < start:
                start = end = 0
        out.append({"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"],
                    "start": start, "end": end})
    return out


def _batches(items: list[dict], size: int, rng: random.Random) -> list[list[dict]]:
    # Similar lengths together: less padding, less CPU time.
    order = sorted(items, key=lambda e: len(e["input_ids"]) + rng.random())
    batches = [order[i:i + size] for i in range(0, len(order), size)]
    rng.shuffle(batches)
    return batches


def _tensors(batch: list[dict]) -> dict[str, torch.Tensor]:
    width = max(len(e["input_ids"]) for e in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for r, e in enumerate(batch):
        n = len(e["input_ids"])
        ids[r, :n] = torch.tensor(e["input_ids"])
        types[r, :n] = torch.tensor(e["token_type_ids"])
        mask[r, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
            "start_positions": torch.tensor([e["start"] for e in batch]),
            "end_positions": torch.tensor([e["end"] for e in batch])}


def train(
    examples_file: Path, out_dir: Path, *, epochs: float = 1.0, batch_size: int = 16,
    lr: float = 1e-4, seed: int = 0, threads: int = 2, log=print, init: Path | None = None,
) -> None:
    """Train from the packaged model's encoder, or go on from `init` (an earlier run's
    folder: a further pass over other examples at a lower rate)."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = random.Random(seed)
    base = str(init) if init else packaged_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForQuestionAnswering.from_pretrained(base)
    examples = [json.loads(line) for line in examples_file.open()]
    items = encode(tokenizer, examples)
    steps = math.ceil(len(items) / batch_size * epochs)
    optim = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup))))
    model.train()
    step, started, running = 0, time.time(), 0.0
    while step < steps:
        for batch in _batches(items, batch_size, rng):
            if step >= steps:
                break
            loss = model(**_tensors(batch)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            optim.zero_grad()
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            if step % 20 == 0 or step == steps:
                log(f"step {step}/{steps} loss {running:.3f} {time.time() - started:.0f}s")
            if step % 200 == 0:
                model.save_pretrained(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "training.json").write_text(json.dumps(
        {"examples": len(items), "epochs": epochs, "batch_size": batch_size, "lr": lr,
         "init": str(init) if init else "packaged all-MiniLM-L6-v2",
         "seed": seed, "max_length": MAX_LENGTH, "steps": steps,
         "seconds": round(time.time() - started)}))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("examples", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, default=None,
                        help="go on from this earlier run's folder")
    args = parser.parse_args()
    train(args.examples, args.out, epochs=args.epochs, batch_size=args.batch_size,
          lr=args.lr, seed=args.seed, log=lambda m: print(m, flush=True), init=args.init)
