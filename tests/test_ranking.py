"""Question kinds, answer candidates, recency, and the sentence ranking behind the lead."""

from __future__ import annotations

from datetime import date

import pytest

from bot.questions import Kind, analyse, kind_of
from bot.ranking import candidates, normalise, rank, recency
from index.database import PassageRow
from index.models import Article, ArticleInput, ReadResult
from index.search import Hit
from tests.conftest import make_config


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many inmates escaped from a New Orleans jail in May?", Kind.NUMBER),
        ("What percentage of Americans identify as Christian?", Kind.NUMBER),
        ("The EU announced a budget totalling how much?", Kind.NUMBER),
        ("When was Splatoon 2 released?", Kind.DATE),
        ("What is the official deadline for most Americans to file their taxes?", Kind.DATE),
        ("Which tech giant pledged to invest $500 billion in the US?", Kind.NAMED),
        ("Who is taking over the lead role in the Broadway show?", Kind.NAMED),
        ("Where did Pope Leo XIV make his first trip abroad?", Kind.NAMED),
        ("What is the new owner of the historic du Pont estate?", Kind.NAMED),
        ("Which age group had the highest fertility rate?", Kind.NAMED),
        ("Super Bowl 2021 location", Kind.NAMED),
        ("Why did Shohei Ohtani miss last week's game?", Kind.OPEN),
        ("What was the outcome of the medical aid in dying legislation?", Kind.OPEN),
        ("A prisoner escaped from an overcrowded jail by doing what?", Kind.OPEN),
    ],
)
def test_question_kinds(question, kind):
    assert kind_of(question) is kind


def test_question_terms_and_numbers():
    q = analyse("Who won the women's singles Wimbledon in 2019?")
    assert "wimbledon" in q.terms and "who" not in q.terms
    assert q.numerals == {"2019"} and q.years == {"2019"}


def test_candidates_by_kind():
    s = "The Kremlin demands that Ukraine recognise Russia's sovereignty over Crimea."
    names = candidates(s, Kind.NAMED)
    assert "Kremlin" in names and "Crimea" in names and "The Kremlin" not in names
    # A lone capitalised word opening a sentence is an ordinary word, not a name.
    assert "Amid" not in candidates("Amid protests, Spain ordered Airbnb to act.", Kind.NAMED)
    assert candidates("It cost $31.5 billion, up 20%.", Kind.NUMBER) == ["$31.5 billion", "20%"]
    assert "July 21, 2017" in candidates("It came out on July 21, 2017.", Kind.DATE)
    assert candidates("Anything at all.", Kind.OPEN) == []
    assert normalise("Denny’s  “Grand Slam”") == "denny grand slam"


def test_recency_prefers_the_days_before_the_question():
    today = date(2025, 3, 28)
    assert recency("2025-03-25", today) == 1.0
    assert 0 < recency("2024-03-25", today) < recency("2025-02-01", today) < 1.0
    assert recency("2025-04-20", today) == -1.0  # reported after the day asked: distrusted
    assert recency(None, today) == 0.0 and recency("not a date", today) == 0.0


def _add(engine, *articles: ArticleInput) -> None:
    engine.add_articles(ReadResult(articles=list(articles)))


@pytest.fixture
def lenient_engine(tmp_path, hashing_embedder):
    """The test embedder's similarities are low; never decline for that in these tests."""
    from bot.engine import NewsEngine

    engine = NewsEngine(make_config(tmp_path / "d", answer={"min_similarity": 0.0}),
                        embedder=hashing_embedder)
    yield engine
    engine.close()


def _hit(i: int, text: str, similarity: float = 0.6) -> Hit:
    article = Article(
        id=f"a{i}", title=None, url=f"https://example.com/{i}", source=None, published=None,
        author=None, text=text, content_hash=f"h{i}", added_at="", updated_at="",
    )
    return Hit(PassageRow(i, 0, text, article), score=1.0, similarity=similarity,
               lexical_rank=None)


@pytest.mark.parametrize(("agreeing", "expected"), [("Denny's", "Denny's"),
                                                     ("Waffle House", "Waffle House")])
def test_the_name_more_articles_agree_on_leads(agreeing, expected):
    question = analyse("Which restaurant chain added a surcharge to egg dishes?")
    idf = dict.fromkeys(question.terms, 1.0)
    hits = [
        _hit(0, "Denny's added a surcharge to egg dishes on Monday."),
        _hit(1, "Waffle House added a surcharge to egg dishes on Monday."),
        _hit(2, f"Diners say {agreeing} was first to charge extra for eggs."),
        _hit(3, f"Bird flu is why {agreeing} asks more for breakfasts now."),
    ]
    ranked = rank(question, hits, idf, date(2025, 3, 1))
    assert ranked[0].sentence.startswith(expected)


def test_the_lead_source_is_shown_first(lenient_engine):
    _add(
        lenient_engine,
        ArticleInput(url="https://a.example/1", title="Egg prices",
                     text="Egg prices rose again this winter across the country."),
        ArticleInput(url="https://b.example/2", title="Surcharge",
                     text="Denny's added a surcharge to egg dishes because of bird flu."),
    )
    answer = lenient_engine.answerer.answer(
        "Which restaurant chain added a surcharge to egg dishes?"
    )
    assert answer.answered and answer.answer.startswith("Denny's")
    assert answer.retrieved[0].text in answer.answer
    assert answer.citations[0].n == 1 and "Denny's" in answer.citations[0].quote


def test_the_latest_report_as_of_the_day_asked_leads(lenient_engine):
    _add(
        lenient_engine,
        ArticleInput(url="https://a.example/old", title="Stanley Cup final", published="2024-06-24",
                     text="The Florida Panthers beat the Edmonton Oilers to win the Stanley Cup."),
        ArticleInput(url="https://a.example/new", title="Stanley Cup final", published="2025-06-18",
                     text="The Edmonton Oilers fell as the Tampa Rays won the Stanley Cup title."),
    )
    question = "Which team won the Stanley Cup?"
    asked_2025 = lenient_engine.answerer.answer(question, as_of="2025-06-20")
    asked_2024 = lenient_engine.answerer.answer(question, as_of="2024-06-25")
    assert "Tampa Rays" in asked_2025.answer.split("[1]")[0]
    assert "Florida Panthers" in asked_2024.answer.split("[1]")[0]
