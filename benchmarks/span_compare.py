"""The learned reader fitted with and without the span reader's features, on the held-out weeks.

    python benchmarks/span_compare.py READER_WORK SPAN_DIR

READER_WORK is `newsbot reader train --work` (its questions.jsonl); SPAN_DIR holds
span-model.onnx and span-tokenizer.json (`python -m bot.reader.learned.span`). The span
reader's readings are kept in SPAN_DIR/reads.pkl; both models and compare.json are written
there.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.reader.learned import data as training_data
from bot.reader.learned.span import SpanReader
from bot.reader.learned.train import (
    fit,
    read_records,
    rules_summary,
    span_reads,
    split_examples,
)


def main(work: Path, folder: Path) -> None:
    records = list(read_records(work / "questions.jsonl"))
    reader = SpanReader(folder / "span-model.onnx", folder / "span-tokenizer.json", threads=2)
    started = time.time()
    reads = span_reads(records, reader, None, folder / "reads.pkl")
    print(f"span readings: {len(reads)} questions, {time.time() - started:.0f} s", flush=True)
    out = {}
    held = []
    for span in (False, True):
        train, held = split_examples(records, None, reads=reads if span else None)
        model, report = fit(train, held, training_data.READ, span=span)
        model.save(folder / f"model-span{int(span)}.json")
        out["learned + span" if span else "learned"] = report["held_out"]
    out["rules"] = rules_summary(held)
    for name, summary in out.items():
        print(name, json.dumps(summary), flush=True)
    (folder / "compare.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
