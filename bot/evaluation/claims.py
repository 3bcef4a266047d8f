"""How well the citation check (bot/reader/llm/citation_check.py) tells grounded sentences from
invented ones.

The set is JSON lines of {"url", "passage", "sentence", "grounded", "edit"}: a short passage
from a development article (its url for reference), and a sentence citing it, either a
faithful paraphrase (grounded) or an edit that changes one fact (negation, number, name,
cause, date, ...; `edit` says which). tests/data/citation_claims.jsonl holds such a set,
written by hand from the RealTimeQA development articles.

    python -m bot.evaluation.claims [tests/data/citation_claims.jsonl] [--show-errors]

`kept_precision`: of the sentences the check keeps, the share that are grounded;
`grounded_recall`: of the grounded sentences, the share kept;
`ungrounded_recall`: of the ungrounded ones, the share dropped.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot.reader.llm.citation_check import Sentence, check_sentence

DEFAULT_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "citation_claims.jsonl"


@dataclass
class ClaimScores:
    grounded: int = 0
    ungrounded: int = 0
    kept_grounded: int = 0
    kept_ungrounded: int = 0
    missed_by_edit: Counter[str] = field(default_factory=Counter)  # ungrounded kept, by edit
    errors: list[tuple[dict, str | None]] = field(default_factory=list)

    @property
    def kept_precision(self) -> float:
        kept = self.kept_grounded + self.kept_ungrounded
        return self.kept_grounded / kept if kept else 1.0

    @property
    def grounded_recall(self) -> float:
        return self.kept_grounded / self.grounded if self.grounded else 1.0

    @property
    def ungrounded_recall(self) -> float:
        return 1 - self.kept_ungrounded / self.ungrounded if self.ungrounded else 1.0

    def summary(self) -> str:
        return (
            f"{self.grounded + self.ungrounded} sentences ({self.grounded} grounded, "
            f"{self.ungrounded} ungrounded)\n"
            f"kept: {self.kept_grounded} grounded, {self.kept_ungrounded} ungrounded\n"
            f"precision of kept sentences: {self.kept_precision:.3f}\n"
            f"recall of grounded sentences (kept): {self.grounded_recall:.3f}\n"
            f"recall of ungrounded sentences (dropped): {self.ungrounded_recall:.3f}"
        )


def score_claims(path: Path = DEFAULT_SET) -> ClaimScores:
    scores = ClaimScores()
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for row in rows:
        reason = check_sentence(Sentence(row["sentence"], (1,)), [row["passage"]])
        kept = reason is None
        if row["grounded"]:
            scores.grounded += 1
            scores.kept_grounded += kept
        else:
            scores.ungrounded += 1
            scores.kept_ungrounded += kept
            if kept:
                scores.missed_by_edit[row["edit"]] += 1
        if kept != row["grounded"]:
            scores.errors.append((row, reason))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_SET)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    scores = score_claims(args.path)
    print(scores.summary())
    if scores.missed_by_edit:
        missed = ", ".join(f"{k} {v}" for k, v in scores.missed_by_edit.most_common())
        print(f"ungrounded sentences kept, by edit: {missed}")
    if args.show_errors:
        for row, reason in scores.errors:
            what = "DROPPED grounded" if row["grounded"] else f"KEPT {row['edit']}"
            print(f"\n{what}: {row['sentence']}\n  reason: {reason}\n  passage: {row['passage']}")


if __name__ == "__main__":
    main()
