"""The learned reader's learning curve and the effect of the number of passages it reads.

Reads the training inputs `newsbot reader train --work DIR` built, fits the model on 25 %,
50 % and 100 % of the training weeks' questions (passages read as trained), and on all of
them reading only the first 4 and 8 passages, and prints the held-out weeks' numbers of each
beside the hand-set rules' on the same questions.

    python benchmarks/reader_curves.py /path/to/work-dir
"""

from __future__ import annotations

import sys
from pathlib import Path

from bot.reader.learned.data import READ
from bot.reader.learned.train import fit, read_records, rules_summary, split_examples

COLUMNS = ("contains", "answered_wrongly", "declined", "readable_top_right",
           "readable_contains")


def _row(name: str, numbers: dict) -> str:
    return f"| {name} | " + " | ".join(f"{float(numbers[c]):.3f}" for c in COLUMNS) + " |"


def main(work: Path) -> None:
    records = list(read_records(work / "questions.jsonl"))
    print("| model | " + " | ".join(COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for share in (0.25, 0.5, 1.0):
        train, held = split_examples(records, READ, share=share)
        _, report = fit(train, held, READ)
        print(_row(f"{share:.0%} of training questions ({len(train)}), {READ} passages",
                   report["held_out"]))
    for read in (4, 8):
        train, held = split_examples(records, read)
        _, report = fit(train, held, read)
        print(_row(f"100 %, {read} passages", report["held_out"]))
    _, held = split_examples(records, READ, share=0.0)
    print(_row(f"rules, {READ} passages", rules_summary(held)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
