"""`newsbot eval`: the metrics, the loaders, and whole runs on small files (and on RGB)."""

from __future__ import annotations

import errno
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.engine import NewsEngine
from bot.evaluation.datasets import (
    EvalQuestion,
    EvalSet,
    iso_date,
    load_articles,
    load_realtimeqa_questions,
    load_rgb,
)
from bot.evaluation.metrics import (
    appears,
    exclusive,
    lead_text,
    normalize,
    percentile,
    score_answer,
    summarise,
)
from bot.evaluation.runner import ask, eval_engine, evidence_present, run_eval
from index.embedding import HashingEmbedder
from index.errors import InputError
from tests.conftest import SHARED_DATA, make_config, make_fast_config, needs_shared_data


# -- metrics -------------------------------------------------------------------------------
def test_normalisation_is_squad_style_with_unicode_punctuation():
    assert normalize("The U.S. Open!") == "us open"
    assert normalize("“Purposefully distorted”") == "purposefully distorted"
    assert normalize("An  apple a\u00a0day") == "apple day"
    assert normalize("Alzheimer’s") == normalize("Alzheimer's") == "alzheimers"


def test_a_gold_answer_appears_only_as_whole_words():
    assert appears("Washington, DC", "crashed outside Washington, D.C., on Wednesday")
    assert appears("Apple", "Apple said on Monday")
    assert not appears("Apple", "Pineapple sales rose")
    assert not appears("Joann", "Joanne Smith spoke")
    assert not appears("", "anything")


def test_exclusive_needs_the_gold_and_no_wrong_choice():
    wrong = ["Edmonton Oilers", "Florida"]
    assert exclusive(["Florida Panthers"], wrong, "The Florida Panthers won the Cup.")
    assert not exclusive(["Florida Panthers"], wrong, "Florida Panthers beat Edmonton Oilers.")
    assert not exclusive(["Florida Panthers"], wrong, "Edmonton Oilers lost.")


def test_the_lead_is_the_first_300_characters_without_markers():
    answer = "Short lead [1] " + "x" * 400 + " Crimea [2]"
    lead = lead_text(answer)
    # The first 300 characters ("Short lead [1] " is 15 of them), the marker blanked out.
    assert lead == "Short lead   " + "x" * 285
    assert "Crimea" not in lead and lead_text("Kyiv [12]") == "Kyiv  "


def _answer(text: str, answered: bool = True, quotes: dict[int, str] | None = None,
            retrieved: list[str] | None = None) -> dict:
    return {
        "question": "q", "answer": text, "answered": answered,
        "citations": [{"n": n, "quote": q} for n, q in (quotes or {}).items()],
        "retrieved": [{"text": t} for t in (retrieved or [])], "latency_ms": 1.0,
    }


def test_score_answer_reads_lead_citations_and_retrieval():
    answer = _answer("Ukraine marks three years of war. [1]", quotes={1: "Ukraine marks",
                     2: "Russia and North Korea"}, retrieved=["a", "b", "c", "d", "e", "Iran"])
    s = score_answer("q1", answer, ["Ukraine"], ["Iran", "North Korea"], 12.0)
    assert (s.contains, s.exclusive, s.cited, s.hit5, s.declined) == (True, True, True, False,
                                                                      False)
    # A source listed but not cited with [n] does not count as cited.
    s = score_answer("q2", answer, ["North Korea"], ["Ukraine"], 12.0)
    assert not s.cited and not s.contains and s.exclusive is False
    declined = _answer("I couldn't find that in the indexed articles.", answered=False,
                       retrieved=["Ukraine"])
    s = score_answer("q3", declined, ["Ukraine"], None, 3.0)
    assert s.declined and not s.contains and s.hit5 and s.exclusive is None


def test_summary_shares_and_latency_percentiles():
    scores = [
        score_answer("a", _answer("Apple [1]"), ["Apple"], ["Oracle"], 10.0),
        score_answer("b", _answer("Oracle [1]"), ["Apple"], ["Oracle"], 20.0),
        score_answer("c", _answer("no", answered=False), ["Apple"], ["Oracle"], 30.0),
        score_answer("d", _answer("Apple and Oracle [1]"), ["Apple"], ["Oracle"], 40.0),
    ]
    s = summarise(scores)
    assert (s.contains, s.exclusive, s.declined, s.wrong) == (0.5, 0.25, 0.25, 0.25)
    assert s.latency_p50_ms == 25.0
    assert percentile([5.0], 95) == 5.0 and percentile([], 50) == 0.0


# -- loaders -------------------------------------------------------------------------------
def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_questions_without_gold_fields_load_unscored(tmp_path):
    path = _write_jsonl(tmp_path / "q.jsonl", [
        {"question_id": "1", "question_date": "2025/01/31",
         "question_sentence": 'Demand for <a href="https://x">Dubai</a> chocolate hit which nut?'},
        {"question_id": "2", "question_date": "2025-02-27", "question_sentence": "Who won?",
         "choices": ["A", "B"], "answer": ["1"]},
    ])
    first, second = load_realtimeqa_questions(path)
    assert first.question == "Demand for Dubai chocolate hit which nut?"
    assert first.asked_on == "2025-01-31" and not first.scored and first.wrong is None
    assert second.golds == ("B",) and second.wrong == ("A",) and second.asked_on == "2025-02-27"
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"question_id": "3"}])
    with pytest.raises(InputError, match="question_sentence"):
        load_realtimeqa_questions(bad)


def test_articles_and_dates(tmp_path):
    assert iso_date("2025/01/03") == "2025-01-03"
    assert iso_date("2025-01-03T10:00:00Z") == "2025-01-03"
    assert iso_date("yesterday") is None and iso_date(None) is None
    assert iso_date("2025/02/30") is None
    read = load_articles(_write_jsonl(tmp_path / "a.jsonl", [
        {"url": "https://A.example/story?utm_source=x", "title": " Penguins ",
         "text": "Penguins\nFishing is banned.\n\nContributing: Jane Doe",
         "published": "2025/03/20", "source": ""},
        {"title": None, "text": "No date here.", "published": None},
        {"url": "https://c", "text": "Reporting by Jane Doe; Editing by John Roe"},
    ]))
    (first, second), skipped = read.articles, read.skipped
    # Cleaned as `newsbot index add` cleans an article: the repeated headline and the credit
    # line are gone, and the URL is canonical.
    assert (first.url, first.title, first.source, first.published, first.text) == (
        "https://a.example/story", "Penguins", None, "2025-03-20", "Fishing is banned.")
    assert second.published is None and second.title is None and second.url is None
    assert first.origin.endswith("a.jsonl:1") and second.origin.endswith("a.jsonl:2")
    # Nothing but furniture: skipped, and said where.
    assert [(s.origin[-9:], s.reason) for s in skipped] == [
        ("a.jsonl:3", "no article text is left after removing page boilerplate")]
    empty = _write_jsonl(tmp_path / "empty.jsonl", [{"url": "https://c", "text": "  "}])
    with pytest.raises(InputError, match="non-empty `text`"):
        load_articles(empty)


COOKIE_NOTICE = (
    "We use cookies to enhance your experience, improve site performance, analyze its traffic,"
    " to allow you to purchase anything related to sporting events you are\xa0..."
)


def test_rgb_store_is_positive_and_negative_snippets_only(tmp_path):
    path = _write_jsonl(tmp_path / "rgb.jsonl", [
        {"id": 0, "query": "Super Bowl 2021 location", "answer": "Tampa, Florida",
         "positive": ["Held in Tampa, Florida."], "negative": ["Tickets on sale."],
         "positive_wrong": ["Held in Glendale, Arizona."]},
        {"id": 1, "query": "When was X released?", "answer": [["July 21 2017", "Jul 21, 2017"]],
         "positive": ["X came out on July 21, 2017."],
         "negative": ["Tickets on sale.", COOKIE_NOTICE]},
    ])
    data = load_rgb(path)
    texts = [a.text for a in data.articles]
    assert texts == ["Held in Tampa, Florida.", "Tickets on sale.", "X came out on July 21, 2017."]
    # A snippet that is only page furniture is cleaned away, as `index add` would, and said so.
    assert [(s.origin[-9:], s.reason) for s in data.skipped] == [
        ("snippet 4", "no article text is left after removing page boilerplate")]
    assert data.questions[1].golds == ("July 21 2017", "Jul 21, 2017")
    assert data.questions[0].question_id == "0"


def test_evidence_present_reads_only_a_questions_own_search_results(tmp_path):
    articles = load_articles(_write_jsonl(tmp_path / "a.jsonl", [
        {"url": "https://a/", "title": "A", "text": "Longwood Gardens bought it."},
        {"url": "https://b/", "title": "B", "text": "Nothing here.", "published": "2025/01/02"},
    ])).articles
    questions = load_realtimeqa_questions(_write_jsonl(tmp_path / "q.jsonl", [
        {"question_id": "1", "question_sentence": "Who bought it?",
         "choices": ["Longwood Gardens", "Nobody"], "answer": ["0"]},
        {"question_id": "2", "question_sentence": "Who bought it?",
         "choices": ["Longwood Gardens", "Nobody"], "answer": ["0"]},
    ]))
    # The search results' URLs match in canonical form, as the stored ones are.
    present = evidence_present(
        questions, articles, {"1": ["https://A/?utm_medium=email"], "2": ["https://b"]}
    )
    assert present == {"1"}


# -- whole runs ----------------------------------------------------------------------------
ARTICLES = [
    {"url": "https://news.example/penguins", "title": "Fishing banned near penguin colonies",
     "published": "2025/03/20",
     "text": "South Africa will ban fishing near the breeding colonies of the African penguin.\n\n"
             "The birds have declined by 97% in a century, scientists said on Tuesday."},
    {"url": "https://news.example/eggs", "title": "Egg surcharge",
     "published": "2025/02/25",
     "text": "Denny's has added a temporary surcharge to every meal that includes eggs.\n\n"
             "Bird flu has cut the supply of eggs across the country."},
    {"url": "https://news.example/old", "title": "Old news", "published": "2019/05/10",
     "text": "The city council approved a new budget for its libraries."},
]
QUESTIONS = [
    {"question_id": "q1", "question_date": "2025/03/28",
     "question_sentence": "Fishing will be banned near the breeding grounds of which species?",
     "choices": ["African penguin", "Cheetah"], "answer": ["0"]},
    {"question_id": "q2", "question_date": "2025/02/28",
     "question_sentence": "Which restaurant chain added a surcharge to meals with eggs?",
     "choices": ["IHOP", "Denny's"], "answer": ["1"]},
]


def _small_realtimeqa(tmp_path: Path) -> EvalSet:
    return EvalSet(
        "realtimeqa", load_articles(_write_jsonl(tmp_path / "a.jsonl", ARTICLES)).articles,
        load_realtimeqa_questions(_write_jsonl(tmp_path / "q.jsonl", QUESTIONS)),
    )


def test_runner_with_the_test_embedder(tmp_path, hashing_embedder):
    data = _small_realtimeqa(tmp_path)
    # The test embedder's similarities are low: never decline for that here.
    config = make_config(tmp_path / "unused", answer={"min_similarity": 0.0})
    out = tmp_path / "pred.jsonl"
    with eval_engine(config, tmp_path / "store", embedder=hashing_embedder) as engine, \
            open(out, "w") as fh:
        report = run_eval(engine, data, fh, subsets={"first": {"q1"}})
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["question_id"] for line in lines] == ["q1", "q2"]
    assert set(lines[0]) == {"question_id", "question", "answer", "answered", "citations",
                             "retrieved", "latency_ms", "reader", "fallback",
                             "short_answer", "confidence", "span"}
    assert {line["reader"] for line in lines} == {"extractive"}
    assert report.readers == {"extractive": 2} and report.fallbacks == {}
    assert report.build.articles == 3 and report.build.passages >= 3
    assert report.build.embedded == report.build.passages  # a new folder: every one embedded
    assert report.summaries["all"].questions == 2 and report.summaries["first"].questions == 1
    assert report.summaries["all"].contains == 1.0
    # A rerun in the same folder replaces the store and embeds nothing new.
    with eval_engine(config, tmp_path / "store", embedder=hashing_embedder) as engine, \
            open(out, "w") as fh:
        again = run_eval(engine, data, fh)
    assert again.build.embedded == 0
    assert (again.build.articles, again.build.passages) == (3, report.build.passages)


def test_eval_asks_through_the_engine_with_the_day_asked(tmp_path, hashing_embedder):
    """The runner goes through NewsEngine.ask, and its predictions are what the reader
    gives for the question as of the day it was asked (or today, without the date)."""
    data = _small_realtimeqa(tmp_path)
    with eval_engine(make_fast_config(tmp_path), tmp_path / "store",
                     embedder=hashing_embedder) as engine, open(tmp_path / "p.jsonl", "w") as fh:
        run_eval(engine, data, fh)
        # The engine's own checks apply, the error naming the question.
        with pytest.raises(InputError, match=r"^question q9: the question is empty$"):
            ask(engine, EvalQuestion("q9", " \n "), True)
        asked = []
        real_ask = engine.ask
        engine.ask = lambda question, **kw: asked.append(kw) or real_ask(question, **kw)
        for question in data.questions:
            for use_date in (True, False):
                got = ask(engine, question, use_date)
                want = engine.read(
                    question.question, as_of=question.asked_on if use_date else None
                ).to_json()
                got.pop("latency_ms"), want.pop("latency_ms")
                assert got == want
    assert asked == [{"as_of": "2025-03-28"}, {"as_of": None},
                     {"as_of": "2025-02-28"}, {"as_of": None}]


def test_eval_refuses_a_folder_that_is_not_an_eval_store(tmp_path, hashing_embedder):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="holds other files"), eval_engine(
        make_config(tmp_path), tmp_path / "mine", embedder=hashing_embedder
    ):
        pass
    assert (tmp_path / "mine" / "notes.txt").exists()
    # Nor a real store, which `newsbot eval` would otherwise empty.
    real = NewsEngine(make_config(tmp_path / "real"), embedder=hashing_embedder)
    real.close()
    with pytest.raises(InputError, match="holds a newsbot store"), eval_engine(
        make_config(tmp_path), tmp_path / "real", embedder=hashing_embedder
    ):
        pass
    assert not (tmp_path / "real" / ".newsbot-eval").exists()


def test_newsbot_eval_rgb_command_with_the_test_embedder(tmp_path, monkeypatch):
    """The command on the fast test embedder: the root --config is honoured, the report is
    printed and --summary-json holds the same numbers."""
    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    data = _write_jsonl(tmp_path / "rgb.jsonl", [
        {"id": 0, "query": "Which species will fishing bans near breeding colonies protect?",
         "answer": [["African penguin", "African penguins"]],
         "positive": [ARTICLES[0]["text"]], "negative": [ARTICLES[2]["text"]]},
        {"id": 1, "query": "Which restaurant chain added a surcharge to meals with eggs?",
         "answer": "Denny's", "positive": [ARTICLES[1]["text"]], "negative": [COOKIE_NOTICE]},
    ])
    pred, summary = tmp_path / "pred.jsonl", tmp_path / "summary.json"

    def run(answer_settings: str) -> list[str]:
        config = tmp_path / "fast.toml"
        config.write_text(f"[answer]\n{answer_settings}\n")
        result = CliRunner().invoke(cli, [
            "--config", str(config), "eval", "rgb", "--data", str(data), "--predictions",
            str(pred), "--data-dir", str(tmp_path / "store"), "--summary-json", str(summary),
        ], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    # The test embedder's similarities and scores are not the real model's: never decline.
    lines = run("min_similarity = 0.0\nmin_score = -100.0")
    assert lines[0] == f"rgb: 2 questions -> {pred}"
    assert lines[1] == "skipped 1 of the 4 articles:"
    assert lines[2] == (f"  {data} snippet 4: no article text is left after removing page"
                        " boilerplate")
    del lines[1:3]
    assert re.fullmatch(r"index build: 3 articles, 3 passages in \d+\.\d s = \d+\.\d passages/s"
                        r" \(3 embedded now, 0 from the embedding cache\)", lines[1]), lines[1]
    assert lines[2].split() == ["all"]
    # RGB has no wrong choices: no exclusive@answer row.
    assert [line[:18].strip() for line in lines[3:]] == [
        "questions", "hit@5", "contains@answer", "cited", "declined", "answered wrongly",
        "latency p50 ms", "latency p95 ms",
    ]
    assert lines[3] == f"{'questions':18}{2:>14}"
    written = json.loads(summary.read_text())
    assert set(written) == {"build", "metrics", "readers", "fallbacks"}
    assert written["readers"] == {"extractive": 2} and written["fallbacks"] == {}
    assert written["build"]["articles"] == 3 and written["build"]["embedded"] == 3
    assert written["metrics"]["all"]["questions"] == 2
    assert written["metrics"]["all"]["declined"] == 0.0
    assert written["metrics"]["all"]["exclusive"] is None
    assert [json.loads(line)["question_id"] for line in pred.read_text().splitlines()] == ["0", "1"]
    # The config is the root command's: a similarity no passage reaches declines everything.
    lines = run("min_similarity = 1.0")
    assert json.loads(summary.read_text())["metrics"]["all"]["declined"] == 1.0
    assert "(0 embedded now, 3 from the embedding cache)" in lines[3]


@pytest.mark.model
def test_newsbot_eval_realtimeqa_end_to_end(tmp_path, real_embedder):
    articles = _write_jsonl(tmp_path / "articles.jsonl", ARTICLES)
    questions = _write_jsonl(tmp_path / "questions.jsonl", QUESTIONS)
    search = _write_jsonl(tmp_path / "search.jsonl", [
        {"question_id": "q1", "urls": ["https://news.example/penguins"]},
        {"question_id": "q2", "urls": ["https://news.example/old"]},
    ])
    pred = tmp_path / "pred.jsonl"
    result = CliRunner().invoke(cli, [
        "eval", "realtimeqa", "--articles", str(articles), "--questions", str(questions),
        "--predictions", str(pred), "--search-results", str(search),
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "evidence-present" in result.output and "contains@answer" in result.output
    lines = [json.loads(line) for line in pred.read_text().splitlines()]
    assert "African penguin" in lines[0]["answer"] and lines[0]["answered"]
    assert "Denny's" in lines[1]["answer"]

    # Without choices or answers: predictions only.
    bare = _write_jsonl(tmp_path / "bare.jsonl", [
        {k: v for k, v in q.items() if k not in ("choices", "answer")} for q in QUESTIONS
    ])
    result = CliRunner().invoke(cli, [
        "eval", "realtimeqa", "--articles", str(articles), "--questions", str(bare),
        "--predictions", str(pred),
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "nothing scored" in result.output
    assert len(pred.read_text().splitlines()) == 2


@pytest.mark.model
@pytest.mark.data
@needs_shared_data()
def test_rgb_quality_does_not_regress(tmp_path, real_embedder):
    """All 100 RGB questions (a store of ~1,000 short snippets: seconds to build)."""
    data = load_rgb(SHARED_DATA / "rgb" / "en_fact.jsonl")
    with eval_engine(make_config(tmp_path), None, embedder=real_embedder) as engine, \
            open(tmp_path / "rgb.jsonl", "w") as fh:
        report = run_eval(engine, data, fh, use_date=False)
    summary = report.summaries["all"]
    # Floors a little under the measured numbers (benchmarks/README.md), to catch regressions.
    assert summary.hit5 >= 0.75
    assert summary.contains >= 0.55


def test_eval_says_which_file_it_cannot_write(tmp_path, hashing_embedder):
    # A predictions path that cannot be opened: one line naming it, before any work.
    result = CliRunner().invoke(cli, [
        "eval", "rgb", "--data", str(_write_jsonl(tmp_path / "rgb.jsonl", [])),
        "--predictions", str(tmp_path / "missing" / "pred.jsonl"),
    ])
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError)
    assert str(result.exception).startswith(f"cannot write {tmp_path / 'missing' / 'pred.jsonl'}")

    # A write that fails once answering has begun (a full disk) is named the same way.
    class FullDisk(io.StringIO):
        name = "pred.jsonl"

        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    full = r"^cannot write pred\.jsonl: No space left on device$"
    with eval_engine(make_fast_config(tmp_path), tmp_path / "store",
                     embedder=hashing_embedder) as engine, pytest.raises(InputError, match=full):
        run_eval(engine, _small_realtimeqa(tmp_path), FullDisk())
