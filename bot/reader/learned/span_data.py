"""Training examples for the span reader (issue 19, step 2), in SQuAD 2.0's form.

Each example is a question, one passage as the product stores it (cleaned and chunked as
`newsbot index add` does) and the answer's place in it, or no answer. A question's passages
are its question day's pool ranked by BM25 (bot/reader/learned/data.py), so the negatives are the
near misses a reader meets, not random text.

The questions are RealTime QA's training weeks *minus* the held-out weeks and minus every
question of the learned reader's own training inputs (`exclude`): the span model's scores are
features of that reader, and scores on questions the span model learned from would look far
better than on new ones, so the reader would learn to trust them too much.

A passage counts as holding the answer when a gold answer occurs in it as whole words (any
case). That is a weak label (a common name can occur by chance), so a positive must also
share a rare word with the question.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

from bot.evaluation.datasets import load_realtimeqa_questions, load_search_results
from bot.reader.learned.data import HELD_OUT_WEEKS, _bm25, _pool, load_pool_articles
from bot.reader.ranking import _stems
from index.settings import ChunkSettings

TOP = 8  # passages per question looked at (the reader reads about as many)
POSITIVES, NEGATIVES = 2, 2  # kept per question


def _answer_at(text: str, golds: list[str]) -> tuple[int, str] | None:
    for gold in sorted(golds, key=len, reverse=True):
        words = gold.strip().strip('"“”').strip()
        if len(words) < 2:
            continue
        m = re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text, flags=re.IGNORECASE)
        if m:
            return m.start(), m.group(0)
    return None


def build(
    data_dir: Path, out_file: Path, exclude: set[str], *, seed: int = 0,
    held_out_weeks: int = HELD_OUT_WEEKS,
) -> dict[str, int]:
    """Write one JSON line per example to `out_file`; return counts."""
    questions = load_realtimeqa_questions(data_dir / "questions.jsonl")
    results = load_search_results(data_dir / "search_results.jsonl")
    days = sorted({q.asked_on for q in questions if q.asked_on})
    held_out = set(days[-held_out_weeks:])
    by_day = defaultdict(list)
    for q in questions:
        if q.asked_on:
            by_day[q.asked_on].append(q)
    chosen = [q for q in questions if q.asked_on and q.golds and q.asked_on not in held_out
              and q.question_id not in exclude]
    wanted = {u for q in chosen for p in by_day[q.asked_on or ""]
              for u in results.get(p.question_id, [])}
    articles = load_pool_articles(data_dir / "articles.jsonl", wanted)
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    chunks = ChunkSettings()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("w", encoding="utf-8") as out:
        for day in sorted({q.asked_on for q in chosen if q.asked_on}):
            pool = _pool((u for p in by_day[day] for u in results.get(p.question_id, [])),
                         articles, chunks)
            if not pool:
                continue
            df: Counter[str] = Counter(s for p in pool for s in p.stems)
            for q in (q for q in chosen if q.asked_on == day):
                stems = list(dict.fromkeys(_stems(q.question)))
                scores = _bm25(stems, pool, df)
                order = sorted(range(len(pool)), key=lambda i: -scores[i])[:TOP]
                rare = {s for s in stems if df[s] <= max(3, len(pool) // 20)}
                positives, negatives = [], []
                for i in order:
                    p = pool[i]
                    found = _answer_at(p.text, q.golds)
                    if found and (rare & p.stems or not rare):
                        positives.append((p.text, found))
                    elif not found:
                        negatives.append((p.text, None))
                rng.shuffle(negatives)
                for text, found in positives[:POSITIVES] + negatives[:NEGATIVES]:
                    record = {"question_id": q.question_id, "question": q.question,
                              "context": text, "answer_start": found[0] if found else -1,
                              "answer_text": found[1] if found else ""}
                    out.write(json.dumps(record) + "\n")
                    counts["positive" if found else "negative"] += 1
                counts["questions"] += 1
                counts["with_positive"] += bool(positives)
    return dict(counts)


if __name__ == "__main__":
    import sys

    data, learned, out = (Path(a) for a in sys.argv[1:4])
    excluded = {json.loads(line)["question_id"] for line in learned.open()}
    print(build(data, out, excluded))
