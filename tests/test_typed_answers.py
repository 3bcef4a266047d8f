"""Typed candidates from the stored entities, and the short answer the lead begins with.

The passages' entities come from the real spaCy pipeline (loaded once per session by the
`ner_model` fixture); the store uses the hashing test embedder, so the ranking's entity
signals are what decide."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.discord_app.render.answers import render_answer
from bot.engine import NewsEngine
from bot.reader.answer import Answer
from bot.reader.questions import analyse
from bot.reader.ranking import entity_candidates
from index.embedding import HashingEmbedder
from index.models import ArticleInput, ReadResult
from tests.conftest import make_fast_config

DAY = "2025-02-26"
ARTICLES = [
    ("https://news.example/apple", "Apple to invest $500 billion in US", "2025-02-24",
     "Apple said on Monday it would invest $500 billion in the United States over four years.\n"
     "The iPhone maker, led by Tim Cook, will build a server factory in Houston, Texas."),
    ("https://wire.example/apple", "Apple plans US spending", "2025-02-25",
     "The tech giant Apple will spend $500 billion and hire 20,000 people, the company said.\n"
     "Analysts in New York said the plan answers tariff threats."),
    ("https://paper.example/apple", "What Apple's plan means for Texas", "2025-02-25",
     "Houston will host the new Apple factory, Texas governor Greg Abbott said on Tuesday.\n"
     "Apple's plan was welcomed by state officials."),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory, ner_model):
    data: Path = tmp_path_factory.mktemp("typed") / "data"
    # Every passage is read (min_similarity off): the entity signals decide, not the embedder.
    config = make_fast_config(data, answer={"min_similarity": -1.0})
    engine = NewsEngine(config, embedder=HashingEmbedder())
    engine.add_articles(ReadResult(articles=[
        ArticleInput(text=text, title=title, url=url, published=day)
        for url, title, day, text in ARTICLES
    ]))
    yield engine
    engine.close()


@pytest.mark.parametrize(
    ("question", "labels", "wanted"),
    [
        ("Which company pledged to invest $500 billion in the US?", "ORG", {"ORG"}),
        ("Who leads the iPhone maker?", "PERSON", {"PERSON"}),
        ("Which city will host Apple's new factory?", "GPE", {"GPE"}),
        ("How much will Apple invest?", "MONEY", {"MONEY"}),
        ("What percentage of voters backed it?", "PERCENT", {"PERCENT"}),
        ("When did Apple announce the plan?", "DATE", set()),
        ("How many people will Apple hire?", "CARDINAL", set()),
        ("Why did Apple announce the plan?", None, set()),
    ],
)
def test_the_question_says_which_entity_labels_answer_it(question, labels, wanted):
    q = analyse(question)
    assert (labels in q.labels) if labels else not q.labels
    assert q.wanted_labels == wanted


def test_entity_candidates_keep_the_labels_asked():
    ents = [("Apple", "ORG"), ("Monday", "DATE"), ("$500 billion", "MONEY"), ("Tim Cook", "PERSON")]
    assert entity_candidates(ents, analyse("Who leads Apple?").labels) == [
        ("Apple", "ORG"), ("Tim Cook", "PERSON")
    ]
    assert entity_candidates(ents, analyse("How much will it invest?").labels) == [
        ("$500 billion", "MONEY")
    ]


def test_a_clear_name_comes_first_in_bold_with_its_sentence(engine):
    answer = engine.ask("Which city in Texas will host the new factory?", as_of=DAY)
    assert answer.answered
    assert answer.short_answer == "Houston"
    assert answer.answer.startswith("**Houston** — ")
    assert "[1]" in answer.answer  # the sentence that says it keeps its citation


def test_a_clear_person_and_a_clear_sum(engine):
    who = engine.ask("Who is the Texas governor?", as_of=DAY)
    assert who.short_answer == "Greg Abbott"
    much = engine.ask("How much will Apple invest in the United States?", as_of=DAY)
    assert much.short_answer == "$500 billion"


def test_the_question_s_own_names_are_never_the_answer(engine):
    answer = engine.ask("Which company did Tim Cook say would build a factory in Houston?",
                        as_of=DAY)
    assert answer.short_answer not in ("Tim Cook", "Houston")


def test_two_equally_good_candidates_give_no_short_answer(engine):
    # Houston and Texas are both places the articles give next to the factory, equally often.
    answer = engine.ask("Which place will host the new factory?", as_of=DAY)
    assert answer.short_answer is None


def test_an_open_question_has_no_short_answer(engine):
    answer = engine.ask("Why is Apple building a factory?", as_of=DAY)
    assert answer.short_answer is None
    assert not answer.answer.startswith("**")


def test_json_has_short_answer(engine):
    payload = engine.ask("Which city in Texas will host the new factory?", as_of=DAY).to_json()
    assert payload["short_answer"] == "Houston"
    assert json.loads(json.dumps(payload))["answer"].startswith("**Houston**")
    assert engine.ask("Why is Apple building a factory?", as_of=DAY).to_json()[
        "short_answer"] is None


@pytest.mark.model
def test_cli_ask_json_short_answer(tmp_path, ner_model):
    data = tmp_path / "data"
    articles = tmp_path / "articles"
    articles.mkdir()
    for i, (_, title, day, text) in enumerate(ARTICLES):
        (articles / f"a{i}.json").write_text(json.dumps(
            {"title": title, "published": day, "text": text}
        ))
    runner = CliRunner()
    added = runner.invoke(cli, ["--data-dir", str(data), "index", "add", str(articles)])
    assert added.exit_code == 0, added.output
    result = runner.invoke(cli, ["--data-dir", str(data), "ask", "--json", "--as-of", DAY,
                                 "How much will Apple invest in the United States?"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["short_answer"] == "$500 billion"
    assert payload["answer"].startswith("**$500 billion** — ")
    result = runner.invoke(cli, ["--data-dir", str(data), "ask", "--as-of", DAY,
                                 "How much will Apple invest in the United States?"])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("$500 billion — ") and "**" not in first  # bold, not asterisks


def test_discord_shows_the_short_answer_in_bold_and_escapes_the_rest():
    answer = Answer(
        question="Which company?", answer="**Apple_Inc** — Apple_Inc said *so* [1]",
        answered=True, short_answer="Apple_Inc",
    )
    body = render_answer(answer).description
    assert body.startswith("**Apple\\_Inc** — Apple\\_Inc said \\*so\\* [1]")
    plain = Answer(question="q", answer="It said **so** [1]", answered=True)
    assert render_answer(plain).description.startswith("It said \\*\\*so\\*\\* [1]")


def test_a_typed_question_whose_best_sentence_holds_no_such_entity_is_declined(tmp_path):
    text = ("Egg dishes cost more at restaurant chains this winter, and a surcharge on egg"
            " dishes is spreading, diners say.\nThe supply of eggs has fallen sharply.")
    answers = {}
    for min_score in (-50.0, -100.0):  # the check is on (however low the score bar), then off
        config = make_fast_config(tmp_path / str(min_score),
                                  answer={"min_similarity": -1.0, "min_score": min_score})
        engine = NewsEngine(config, embedder=HashingEmbedder())
        engine.add_articles(ReadResult(articles=[
            ArticleInput(text=text, title="Egg dishes cost more", url="https://a.example/eggs")
        ]))
        answers[min_score] = engine.ask("Which restaurant chain added a surcharge to egg dishes?")
        assert engine.ask("Why do egg dishes cost more?").answered  # open: never for this
        engine.close()
    declined = answers[-50.0]
    assert not declined.answered and declined.retrieved  # the closest articles instead
    assert answers[-100.0].answered and answers[-100.0].short_answer is None


def test_a_candidate_of_the_kind_asked_does_not_lift_a_sentence_over_the_decline_bar(
    engine, monkeypatch
):
    from bot.reader import rules
    from bot.reader.ranking import W_WANTED

    seen = []

    def rank_and_keep(*args, **kwargs):
        ranked = real_rank(*args, **kwargs)
        seen.append(ranked)
        return ranked

    real_rank = rules.rank
    monkeypatch.setattr(rules, "rank", rank_and_keep)
    question = "Which company pledged to invest $500 billion in the US?"
    assert engine.ask(question).short_answer == "Apple"
    best = seen[-1][0]
    assert best.wanted  # "which company": Apple is an ORG, the kind asked
    settings = engine.extractive.settings  # monkeypatch puts it back after the test
    # A bar the sentence clears only with its kind bonus: declined.
    bar = dataclasses.replace(settings, min_score=best.score - best.recency - W_WANTED / 2)
    monkeypatch.setattr(engine.extractive, "settings", bar)
    declined = engine.ask(question)
    assert not declined.answered and declined.retrieved
    # Just under how well it matches the question: answered.
    low = dataclasses.replace(settings, min_score=best.relevance - 0.01)
    monkeypatch.setattr(engine.extractive, "settings", low)
    assert engine.ask(question).short_answer == "Apple"
