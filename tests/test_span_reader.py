"""The span reader (issue 19, step 2): its examples, its export to ONNX, its features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.reader.learned import span_data
from bot.reader.learned.features import SPAN_SENTENCE, feature_names, sentence_matrix
from bot.reader.learned.span import PassageSpans, SpanReader, add_features, export, sentence_span
from bot.reader.questions import analyse
from bot.reader.ranking import Scored
from tests.test_learned_reader import _write_set


def test_the_examples_mark_the_answers_place_and_no_answer(tmp_path: Path) -> None:
    out = tmp_path / "examples.jsonl"
    counts = span_data.build(_write_set(tmp_path / "set"), out, exclude=set(),
                             held_out_weeks=1)
    rows = [json.loads(line) for line in out.open()]
    # Only the first week is used (the second is held out); its two answerable questions
    # have one positive passage each.
    assert {r["question_id"][:10] for r in rows} == {"2024-03-01"}
    positives = [r for r in rows if r["answer_start"] >= 0]
    assert counts["positive"] == len(positives) == 2
    for r in positives:
        at = r["answer_start"]
        assert r["context"][at:at + len(r["answer_text"])] == r["answer_text"]
    assert {r["answer_text"] for r in positives} == {"Baltic Forge", "340"}
    negatives = [r for r in rows if r["answer_start"] < 0]
    assert negatives and all(r["answer_text"] == "" for r in negatives)
    # The no-answer question never gets a positive.
    assert not [r for r in positives if r["question_id"].endswith("-2")]


def test_excluded_questions_give_no_examples(tmp_path: Path) -> None:
    out = tmp_path / "examples.jsonl"
    span_data.build(_write_set(tmp_path / "set"), out,
                    exclude={"2024-03-01-0", "2024-03-01-1", "2024-03-01-2"}, held_out_weeks=1)
    assert out.read_text() == ""


@pytest.fixture(scope="module")
def tiny_trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small question-answering network with the packaged tokenizer (random weights: the
    export must reproduce whatever the torch model computes)."""
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

    from index.embedding import packaged_model_dir

    folder = tmp_path_factory.mktemp("tiny-span")
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_dir())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64)
    import torch

    torch.manual_seed(0)
    BertForQuestionAnswering(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


SAMPLE = [
    ("Which company did Norland Steel agree to buy?",
     "Norland Steel agreed on Tuesday to buy Baltic Forge for 2 billion euros. Analysts said"
     " the deal would close next year."),
    ("How many workers lost their jobs?",
     "The Zephyrion copper mine closed and 340 workers lost their jobs, the owner said."),
    ("Who won the open?", "Ilse Marwood won the Quarrix chess open after a tense final."),
]


def test_the_onnx_export_picks_the_torch_models_spans(tiny_trained: Path,
                                                       tmp_path: Path) -> None:
    report = export(tiny_trained, tmp_path / "span-model.onnx", SAMPLE, quantize=False)
    assert report["sample"] == report["same_best_span"] == report["same_answer_or_not"] == 3
    assert report["max_logit_difference"] < 1e-3
    reader = SpanReader(tmp_path / "span-model.onnx", tmp_path / "span-tokenizer.json")
    reads = reader.read(*SAMPLE[0][:1], [SAMPLE[0][1], SAMPLE[1][1]])
    assert len(reads) == 2
    # Offsets point into the passage: every token of the passage maps back to its text.
    for read, passage in zip(reads, [SAMPLE[0][1], SAMPLE[1][1]], strict=True):
        pieces = [passage[a:b] for a, b in read.offsets if a >= 0]
        assert "".join(pieces).replace(" ", "") in passage.replace(" ", "")
        assert np.isfinite(read.best) and np.isfinite(read.null)


def test_the_quantised_export_loads_and_reads(tiny_trained: Path, tmp_path: Path) -> None:
    export(tiny_trained, tmp_path / "span-model.onnx", SAMPLE[:1])
    reader = SpanReader(tmp_path / "span-model.onnx", tmp_path / "span-tokenizer.json")
    assert len(reader.read("Who?", ["Ilse Marwood won."])) == 1


def _read(passage: str, tokens: list[tuple[int, int]], start: dict[int, float],
          end: dict[int, float]) -> PassageSpans:
    n = len(tokens) + 1
    s = np.zeros(n, dtype=np.float32)
    e = np.zeros(n, dtype=np.float32)
    for k, v in start.items():
        s[k] = v
    for k, v in end.items():
        e[k] = v
    return PassageSpans(s, e, [(-1, -1), *tokens], float(s[0] + e[0]), 0.0)


def test_each_sentence_gets_its_own_best_span_against_no_answer() -> None:
    passage = "Norland Steel agreed to buy Baltic Forge. Analysts were surprised."
    words = [(m, m + len(w)) for m, w in _word_offsets(passage)]
    baltic = next(i for i, (a, _) in enumerate(words, 1) if passage[a:].startswith("Baltic"))
    analysts = next(i for i, (a, _) in enumerate(words, 1)
                    if passage[a:].startswith("Analysts"))
    read = _read(passage, words, {baltic: 5.0, analysts: 1.0, 0: 1.0},
                 {baltic + 1: 4.0, analysts: 1.0, 0: 1.0})
    read = PassageSpans(read.start, read.end, read.offsets, read.null, 9.0 - read.null)
    first = sentence_span(passage, read, "Norland Steel agreed to buy Baltic Forge.")
    second = sentence_span(passage, read, "Analysts were surprised.")
    assert first is not None and second is not None
    assert first.text == "Baltic Forge" and first.score == pytest.approx(7.0)
    assert second.score == pytest.approx(0.0)
    assert sentence_span(passage, read, "Not in the passage.") is None
    ranked = [Scored("Norland Steel agreed to buy Baltic Forge.", 0, 1.0, ["baltic forge"]),
              Scored("Analysts were surprised.", 0, 0.5, []),
              Scored("Not in the passage.", 0, 0.1, [])]
    add_features([read], [passage], ranked)
    assert ranked[0].features["span_candidate"] == 1.0
    assert ranked[0].features["span_margin"] == pytest.approx(0.0)
    assert ranked[1].features["span_margin"] == pytest.approx(-7.0)
    assert ranked[2].features["span_found"] == 0.0
    names = feature_names(True)[0]
    x = sentence_matrix(analyse("Which company did Norland Steel agree to buy?"), ranked, names)
    assert x.shape == (3, len(names)) and names[-len(SPAN_SENTENCE):] == SPAN_SENTENCE
    assert x[0, names.index("span_score")] == pytest.approx(7.0)


def _word_offsets(text: str) -> list[tuple[int, str]]:
    import re

    return [(m.start(), m.group(0)) for m in re.finditer(r"\w+|[^\w\s]", text)]


def test_the_learned_reader_trains_with_span_features_end_to_end(
    tiny_trained: Path, tmp_path: Path
) -> None:
    from bot.reader.learned import data as training_data
    from bot.reader.learned.model import ReaderModel
    from bot.reader.learned.train import fit, read_records, span_reads, split_examples
    from index.embedding import HashingEmbedder

    records = list(read_records(training_data.build(
        _write_set(tmp_path / "set"), tmp_path / "work", HashingEmbedder(dimension=384).embed,
        None, held_out_weeks=1,
    )))
    export(tiny_trained, tmp_path / "span-model.onnx", SAMPLE[:1], quantize=False)
    reader = SpanReader(tmp_path / "span-model.onnx", tmp_path / "span-tokenizer.json")
    reads = span_reads(records, reader, None, tmp_path / "reads.pkl")
    assert set(reads) == {r["question_id"] for r in records}
    # A second call reads nothing again: the cache answers (same model digest).
    again = span_reads(records, _Unusable(reader.digest), None, tmp_path / "reads.pkl")
    assert set(again) == set(reads)
    train, held = split_examples(records, None, reads=reads)
    names = feature_names(True)[0]
    assert all(ex.x.shape[1] == len(names) for ex in train + held)
    model, _ = fit(train, held, training_data.READ, span=True)
    path = tmp_path / "model.json"
    model.save(path)
    loaded = ReaderModel.from_json(json.loads(path.read_text()))
    assert loaded.span and np.allclose(loaded.sentence.logits(train[0].x),
                                       model.sentence.logits(train[0].x), atol=1e-5)


class _Unusable(SpanReader):
    """A span reader with its digest but no model: reading anything fails the test."""

    def __init__(self, digest: str) -> None:
        self.__dict__["digest"] = digest  # the cached property's slot: no model file to hash

    def read(self, question: str, passages: list[str]) -> list[PassageSpans]:
        raise AssertionError("read again although the cache holds it")


def test_a_span_trained_model_without_its_span_files_is_refused(tmp_path: Path,
                                                                monkeypatch) -> None:
    from bot.reader.learned import model as model_module
    from bot.reader.learned import span
    from bot.reader.learned.reader import LearnedReader
    from index.errors import InputError
    from index.settings import AnswerSettings

    data = json.loads(model_module.MODEL_FILE.read_text())
    data["span"] = True
    names = feature_names(True)
    data["sentence"]["names"] = list(names[0])
    data["question"]["names"] = list(names[1])
    data["question"]["mean"] += [0.0, 0.0]
    data["question"]["scale"] += [1.0, 1.0]
    data["question"]["coef"] += [0.0, 0.0]
    model = model_module.ReaderModel.from_json(data)
    monkeypatch.setattr(span, "SPAN_FILE", tmp_path / "absent.onnx")
    span.load.cache_clear()
    try:
        with pytest.raises(InputError, match="span reader"):
            LearnedReader(AnswerSettings(), 5, model)
    finally:
        span.load.cache_clear()


def _cloze_set(folder: Path) -> Path:
    """Two question days, each with two articles telling one story in other words."""
    folder.mkdir(parents=True)
    story = [
        "Norland Steel agreed on Tuesday to buy Baltic Forge in a quarrix merger worth two"
        " billion euros, the zephyr regulators said.",
        "Regulators in zephyr approved the quarrix merger: Baltic Forge goes to Norland Steel"
        " for two billion euros after months of talks.",
    ]
    questions, articles, results = [], [], []
    for d, day in enumerate(("2024-03-01", "2024-03-08")):
        urls = []
        for k, text in enumerate(story):
            url = f"https://news.example/{d}-{k}"
            urls.append(url)
            articles.append({"url": url, "title": f"Report {d}-{k}", "published": day,
                             "text": f"{text} Markets were calm in the afternoon session."})
        questions.append({"question_id": f"{day}-0", "question_date": day,
                          "question_sentence": "Who bought Baltic Forge?",
                          "choices": ["Norland Steel", "Other"], "answer": ["0"],
                          "evidence": ""})
        results.append({"question_id": f"{day}-0", "urls": urls})
    for name, rows in (("questions", questions), ("articles", articles),
                       ("search_results", results)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def ruler_nlp():
    """A real spaCy pipeline whose entities are known in advance (an entity ruler)."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "ORG", "pattern": "Baltic Forge"},
                        {"label": "ORG", "pattern": "Norland Steel"}])
    return nlp


def test_cloze_questions_ask_for_the_masked_entity_in_another_article(
        tmp_path: Path, ruler_nlp) -> None:
    from bot.reader.learned import span_cloze

    out = tmp_path / "cloze.jsonl"
    counts = span_cloze.build(_cloze_set(tmp_path / "set"), out, set(), nlp=ruler_nlp,
                              held_out_weeks=1)
    rows = [json.loads(line) for line in out.open()]
    positives = [r for r in rows if r["answer_start"] >= 0]
    assert counts["positive"] == len(positives) >= 2
    for r in positives:
        assert r["question_id"].startswith("cloze-2024-03-01")  # the held-out day gives none
        assert "which organization" in r["question"].lower()
        assert r["answer_text"] not in r["question"]  # the entity is masked
        at = r["answer_start"]
        assert r["context"][at:at + len(r["answer_text"])] == r["answer_text"]
        # the passage is the *other* article's: the sentence asked from is not in it
        asked = r["question"].rstrip("?")
        for wh in ("which organization", "Which organization"):
            asked = asked.replace(wh, r["answer_text"])
        assert asked[:30] not in r["context"]


def test_cloze_examples_never_read_excluded_articles(tmp_path: Path, ruler_nlp) -> None:
    from bot.reader.learned import span_cloze

    out = tmp_path / "cloze.jsonl"
    counts = span_cloze.build(_cloze_set(tmp_path / "set"), out,
                              {"https://news.example/0-1"}, nlp=ruler_nlp, held_out_weeks=1)
    # One article of the story left: no other article to ask it of.
    assert out.read_text() == "" and counts.get("positive", 0) == 0


def test_a_cloze_question_replaces_the_entity_by_its_wh_phrase() -> None:
    from bot.reader.learned.span_cloze import cloze_question

    sentence = "On Monday the Quarrix council elected Ilse Marwood as its new chair."
    start = sentence.index("Ilse Marwood")
    question = cloze_question(sentence, start, start + len("Ilse Marwood"), "PERSON")
    assert question == "On Monday the Quarrix council elected who as its new chair?"
    start = sentence.index("Monday")
    assert cloze_question(sentence, start, start + 6, "DATE").startswith("On when the")
