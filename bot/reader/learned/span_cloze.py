"""Synthetic pre-training examples for the span reader: cloze questions across articles.

After Lewis et al. 2019 ("Unsupervised Question Answering by Cloze Translation"): a sentence
of one article with a named entity masked becomes a question by the entity's type (a person
"who", a date "when", a count "how many" …), cut to the words around the mask as their
sub-clause variant does. The passage it is asked of comes from *another* article of the same
day's search results that holds the same entity and shares rare words with the question, so
the reader has to match a paraphrase, not copy the sentence it was asked from. A near-miss
passage of the same pool without the entity is the no-answer example.

The articles are the training weeks' minus the held-out weeks' and minus every article a
question of the learned reader's own inputs was searched with (`exclude_urls`): the span
model's scores are that reader's features, and it must not have read those articles.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from bot.evaluation.datasets import load_realtimeqa_questions, load_search_results
from bot.reader.learned.data import HELD_OUT_WEEKS, _bm25, _pool, load_pool_articles
from bot.reader.ranking import _stems
from index.sentences import split_sentences
from index.settings import ChunkSettings

# The wh-phrase for an entity of each spaCy type (Lewis et al.'s mapping, news-quiz wording).
WH = {
    "PERSON": "who", "ORG": "which organization", "NORP": "which group",
    "GPE": "where", "LOC": "where", "FAC": "which place",
    "DATE": "when", "TIME": "when",
    "CARDINAL": "how many", "QUANTITY": "how much", "MONEY": "how much money",
    "PERCENT": "what percentage", "ORDINAL": "which",
    "EVENT": "what event", "PRODUCT": "what", "WORK_OF_ART": "what", "LAW": "what law",
}
WINDOW = 14  # words kept on each side of the mask (the sub-clause cut)
SENTENCES_PER_DAY = 400  # sentences sampled from a day's pool for NER
MIN_SHARED = 3  # rare question words the other article's passage must hold too
NEGATIVE_EVERY = 3  # one no-answer example per this many answerable ones


def cloze_question(sentence: str, start: int, end: int, label: str) -> str:
    """`sentence` with the entity at [start, end) replaced by its wh-phrase, as a question."""
    before = sentence[:start].split()[-WINDOW:]
    if before and before[-1].lower() in {"the", "a", "an"}:
        before = before[:-1]  # "the which …" reads worse than "which …"
    after = sentence[end:].split()[:WINDOW]
    words = [*before, WH[label], *after]
    text = " ".join(words).strip().rstrip(".!;:,")
    return (text[0].upper() + text[1:] + "?") if text else ""


def _holds(text: str, answer: str) -> re.Match[str] | None:
    return re.search(rf"(?<!\w){re.escape(answer)}(?!\w)", text)


def build(
    data_dir: Path, out_file: Path, exclude_urls: set[str], *, nlp, seed: int = 0,
    held_out_weeks: int = HELD_OUT_WEEKS, limit: int | None = None,
    sentences_per_day: int = SENTENCES_PER_DAY,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Write one SQuAD 2.0-style JSON line per example to `out_file`; return counts.

    `nlp` is a spaCy pipeline with NER (index.entities.load_pipeline)."""
    questions = load_realtimeqa_questions(data_dir / "questions.jsonl")
    results = load_search_results(data_dir / "search_results.jsonl")
    days = sorted({q.asked_on for q in questions if q.asked_on})
    held_out = set(days[-held_out_weeks:])
    by_day: dict[str, list[str]] = defaultdict(list)
    for q in questions:
        if q.asked_on and q.asked_on not in held_out:
            by_day[q.asked_on].extend(u for u in results.get(q.question_id, [])
                                      if u not in exclude_urls)
    wanted = {u for urls in by_day.values() for u in urls}
    articles = load_pool_articles(data_dir / "articles.jsonl", wanted)
    rng = random.Random(seed)
    counts: Counter[str] = Counter()
    chunks = ChunkSettings()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    train_days = sorted(by_day)
    with out_file.open("w", encoding="utf-8") as out:
        for n_day, day in enumerate(train_days, 1):
            pool = _pool(by_day[day], articles, chunks)
            if len({p.article for p in pool}) < 2:
                continue
            df: Counter[str] = Counter(s for p in pool for s in p.stems)
            rare_limit = max(3, len(pool) // 20)
            sentences = [(i, s) for i, p in enumerate(pool) for s in split_sentences(p.text)
                         if 8 <= len(s.split()) <= 45]
            rng.shuffle(sentences)
            sentences = sentences[:sentences_per_day]
            lowered = [p.text.lower() for p in pool]
            made = 0
            for (source, sentence), doc in zip(
                    sentences, nlp.pipe(s for _, s in sentences), strict=True):
                ents = [e for e in doc.ents if e.label_ in WH and len(e.text) >= 2]
                rng.shuffle(ents)
                for ent in ents[:1]:
                    answer = ent.text
                    question = cloze_question(sentence, ent.start_char, ent.end_char, ent.label_)
                    q_stems = _stems(question) - _stems(answer)
                    rare = {s for s in q_stems if df[s] <= rare_limit}
                    if len(rare) < MIN_SHARED:
                        counts["no_rare_words"] += 1
                        continue
                    home = pool[source].article
                    found = [i for i, p in enumerate(pool) if p.article != home
                             and answer.lower() in lowered[i] and _holds(p.text, answer)
                             and len(rare & p.stems) >= MIN_SHARED]
                    if not found:
                        counts["no_other_article"] += 1
                        continue
                    best = max(found, key=lambda i: len(rare & pool[i].stems))
                    m = _holds(pool[best].text, answer)
                    assert m is not None
                    record = {"question_id": f"cloze-{day}-{counts['positive']}",
                              "question": question, "context": pool[best].text,
                              "answer_start": m.start(), "answer_text": m.group(0),
                              "label": ent.label_}
                    out.write(json.dumps(record) + "\n")
                    counts["positive"] += 1
                    made += 1
                    if made % NEGATIVE_EVERY == 0:
                        scores = _bm25(list(q_stems), pool, df)
                        near = [i for i in sorted(range(len(pool)), key=lambda i: -scores[i])[:8]
                                if answer.lower() not in lowered[i]]
                        if near:
                            out.write(json.dumps(
                                {"question_id": record["question_id"] + "-none",
                                 "question": question, "context": pool[near[0]].text,
                                 "answer_start": -1, "answer_text": ""}) + "\n")
                            counts["negative"] += 1
            if progress:
                progress(n_day, len(train_days))
            if limit and counts["positive"] >= limit:
                break
    return dict(counts)


if __name__ == "__main__":
    import argparse
    import time

    from index.entities import load_pipeline
    from index.settings import DEFAULT_NER_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="realtimeqa-train folder")
    parser.add_argument("reader_inputs", type=Path,
                        help="the learned reader's questions.jsonl (its articles are left out)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sentences-per-day", type=int, default=SENTENCES_PER_DAY)
    args = parser.parse_args()
    results = load_search_results(args.data / "search_results.jsonl")
    reader_questions = {json.loads(line)["question_id"] for line in args.reader_inputs.open()}
    excluded = {u for q in reader_questions for u in results.get(q, [])}
    started = time.time()
    print(build(args.data, args.out, excluded, nlp=load_pipeline(DEFAULT_NER_MODEL),
                seed=args.seed, sentences_per_day=args.sentences_per_day,
                progress=lambda d, n: print(f"day {d}/{n} {time.time() - started:.0f}s",
                                            flush=True)))
