"""The learned reader: its training path end to end on a tiny made-up set, its labels, the
shipped model's card, and answering with it (the real packaged models)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bot.reader.learned import data as training_data
from bot.reader.learned.features import SENTENCE_FEATURES
from bot.reader.learned.model import MODEL_FILE, ReaderModel, load, sha256
from bot.reader.learned.train import example, fit, read_records, split_examples
from index.embedding import HashingEmbedder

CARD = MODEL_FILE.with_name("reader-model.card.json")

# Two made-up weeks of news quizzes: each question's own search results hold its answer, but
# one question per week is about something no article reports (a decline example).
WEEKS = {
    "2024-03-01": [("Which company did Norland Steel agree to buy?", "Baltic Forge",
                    "Norland Steel agreed on Tuesday to buy Baltic Forge for 2 billion euros."),
                   ("How many workers lost their jobs at the Zephyrion mine?", "340",
                    "The Zephyrion copper mine closed and 340 workers lost their jobs.")],
    "2024-03-08": [("Who won the Quarrix chess open?", "Ilse Marwood",
                    "Ilse Marwood won the Quarrix chess open after a tense final round."),
                   ("Which city will host the Lumen film festival?", "Tarsk",
                    "The Lumen film festival will be held in Tarsk next spring, organisers said.")],
}
FILLER = ("Officials said the talks would continue next week. Analysts expect more news soon. "
          "The weather was mild across the region on Monday.")


def _write_set(folder: Path) -> Path:
    folder.mkdir(parents=True)
    questions, articles, results = [], [], []
    n = 0
    for day, items in WEEKS.items():
        for i, (question, answer, fact) in enumerate([*items, (
                "Which team won the talks cup in the region on Monday?", "Nobody United", "")]):
            qid = f"{day}-{i}"
            urls = []
            for text in [f"{fact} {FILLER}" if fact else FILLER, FILLER]:
                n += 1
                url = f"https://news.example/{n}"
                urls.append(url)
                articles.append({"url": url, "title": f"Report {n}", "published": day,
                                 "text": f"{text} Report number {n} of the week."})
            questions.append({"question_id": qid, "question_date": day,
                              "question_sentence": question, "choices": [answer, "Other"],
                              "answer": ["0"], "evidence": ""})
            results.append({"question_id": qid, "urls": urls})
    for name, rows in (("questions", questions), ("articles", articles),
                       ("search_results", results)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def built(tmp_path: Path) -> list[dict]:
    embedder = HashingEmbedder(dimension=384)
    path = training_data.build(
        _write_set(tmp_path / "set"), tmp_path / "work", embedder.embed, None,
        held_out_weeks=1,
    )
    return list(read_records(path))


def test_the_data_builder_labels_answers_and_no_answers(built: list[dict]) -> None:
    assert {r["split"] for r in built} == {"train", "heldout"}
    by_id = {r["question_id"]: example(r) for r in built}
    answered = by_id["2024-03-01-1"]  # "How many workers...": "340" is in one sentence
    positives = [s.sentence for s, y in zip(answered.ranked, answered.y, strict=True) if y]
    assert positives == ["The Zephyrion copper mine closed and 340 workers lost their jobs."]
    assert answered.readable
    unanswerable = by_id["2024-03-01-2"]
    assert not unanswerable.y.any() and not unanswerable.readable
    assert answered.x.shape == (len(answered.ranked), len(SENTENCE_FEATURES))


def test_the_training_path_runs_end_to_end_and_round_trips(built: list[dict],
                                                           tmp_path: Path) -> None:
    train, held = split_examples(built, None)
    assert train and held
    model, report = fit(train, held, training_data.READ)
    assert 0.0 <= model.answer_threshold <= 1.0
    assert report["curve"][0]["threshold"] == 0.0
    path = tmp_path / "model.json"
    model.save(path)
    again = ReaderModel.from_json(json.loads(path.read_text()))
    x = train[0].x
    assert np.allclose(again.sentence.logits(x), model.sentence.logits(x), atol=1e-5)


def test_a_model_of_other_features_is_refused(tmp_path: Path) -> None:
    data = json.loads(MODEL_FILE.read_text())
    data["sentence"]["names"] = data["sentence"]["names"][:-1]
    with pytest.raises(ValueError, match="retrain"):
        ReaderModel.from_json(data)


def test_the_shipped_model_matches_its_card() -> None:
    card = json.loads(CARD.read_text())
    assert card["sha256"] == sha256(MODEL_FILE)
    assert card["model"] == MODEL_FILE.name
    model = load()
    assert 0.0 < model.answer_threshold < 1.0
    assert card["held_out"]["questions"] > 0


@pytest.fixture
def learned_engine(tmp_path: Path, real_embedder):
    from bot.engine import NewsEngine
    from tests.conftest import SEED, make_config

    engine = NewsEngine(make_config(tmp_path / "data", reader={"kind": "learned"}),
                        embedder=real_embedder)
    assert len(engine.add_paths([str(SEED.parent)]).added) == 1
    yield engine
    engine.close()


@pytest.mark.model
def test_the_learned_reader_answers_the_seed_question_and_declines_an_unrelated_one(
    learned_engine,
) -> None:
    answer = learned_engine.ask("What does Putin demand to end the offensive?")
    assert answer.answered and answer.reader == "learned"
    assert re.search(r"crimea|demilitari[sz]ation", answer.answer, re.I)
    assert "[1]" in answer.answer
    # A question for a name is declined by the model's confidence...
    unrelated = learned_engine.ask("Who won the 2022 FIFA World Cup final?")
    assert not unrelated.answered and unrelated.reader == "learned"
    assert unrelated.confidence is not None and unrelated.confidence < load().answer_threshold
    # ... an open one by the similarity bar (the quizzes' labels do not cover open questions).
    assert not learned_engine.ask("What is the recipe for banana bread?").answered


@pytest.mark.model
def test_ask_json_carries_the_readers_confidence(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import SEED

    data = tmp_path / "data"
    base = [sys.executable, "-c", "from bot.cli import main; main()", "--data-dir", str(data)]
    subprocess.run([*base, "index", "add", str(SEED)], check=True, capture_output=True)
    config = tmp_path / "config.toml"
    config.write_text('[reader]\nkind = "learned"\n')
    out = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "--config", str(config),
         "--data-dir", str(data), "ask", "--json", "What does Putin demand to end the offensive?"],
        check=True, capture_output=True, text=True,
    )
    printed = json.loads(out.stdout)
    assert printed["reader"] == "learned"
    assert 0.0 < printed["confidence"] <= 1.0
    assert printed["answered"] is True


@pytest.mark.model
def test_newsbot_reader_train_writes_a_model_and_its_card(tmp_path: Path) -> None:
    import subprocess
    import sys

    from click.testing import CliRunner

    from bot.cli import cli

    output = tmp_path / "model" / "reader-model.json"
    args = ["reader", "train", "--data", str(_write_set(tmp_path / "set")), "--work",
            str(tmp_path / "work"), "--share", "1.0", "--held-out-weeks", "1",
            "--output", str(output)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    card = json.loads(output.with_name("reader-model.card.json").read_text())
    assert card["sha256"] == sha256(output)
    assert card["trained_on"]["train_questions"] > 0
    assert card["trained_on"]["held_out_questions"] > 0
    ReaderModel.from_json(json.loads(output.read_text()))  # loads as the engine loads it
    # A folder without the three files is refused with a clear error.
    bad = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "reader", "train", "--data",
         str(tmp_path), "--work", str(tmp_path / "w2"), "--output", str(output)],
        capture_output=True, text=True,
    )
    assert bad.returncode != 0 and "no questions.jsonl" in bad.stderr
