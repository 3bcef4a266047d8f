"""Question kinds, answer candidates, recency, and the sentence ranking behind the lead."""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import date

import pytest

from bot.reader.questions import Kind, analyse, focus_of, kind_of, stem
from bot.reader.ranking import candidates, normalise, rank, recency
from index.models import Article, ArticleInput, PassageRow, ReadResult
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
        ("What was Tesla's revenue in Q1 2021?", Kind.NUMBER),
        ("What is Apple's release date for the new iPhone?", Kind.DATE),
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
    assert q.numerals == {"2019"}
    assert analyse("Did 1,500 or 2,000 people attend?").numerals == {"1500", "2000"}


@pytest.mark.parametrize(
    ("question", "focus"),
    [
        ("Which tech giant pledged to invest $500 billion?", {"tech", "giant"}),
        ("US stocks fell after the release of a chatbot by which Chinese company?",
         {"chinese", "company"}),
        ("What resort town in the Canadian Rockies hosted the G7?", {"resort", "town"}),
        ("What is the most endangered marine mammal?", {"endanger", "marine", "mammal"}),
        ("What is the name of November's supermoon?", {"november", "supermoon"}),
        ("Which tennis player recently won the US Open?", {"tenni", "player"}),
        ("Who won the election?", set()),
    ],
)
def test_the_focus_is_what_the_question_asks_for(question, focus):
    assert focus_of(question) == focus


def test_irregular_verbs_share_a_stem():
    assert stem("won") == stem("wins") == stem("win") == "win"
    assert "win" in analyse("Who won the Stanley Cup?").terms
    assert stem("pledged") == "pledg" == stem("pledges")


def test_candidates_by_kind():
    s = "The Kremlin demands that Ukraine recognise Russia's sovereignty over Crimea."
    names = candidates(s, Kind.NAMED)
    assert "Kremlin" in names and "Crimea" in names and "The Kremlin" not in names
    # A lone capitalised word opening a sentence is an ordinary word, not a name.
    assert "Amid" not in candidates("Amid protests, Spain ordered Airbnb to act.", Kind.NAMED)
    assert candidates("It cost $31.5 billion, up 20%.", Kind.NUMBER) == ["$31.5 billion", "20%"]
    assert "July 21, 2017" in candidates("It came out on July 21, 2017.", Kind.DATE)
    assert candidates("Anything at all.", Kind.OPEN) == []
    # A possessive inside a run of capitalised words separates two names.
    head = "The head of Chile's National Electricity Coordinator, Ernesto Huber, spoke."
    assert candidates(head, Kind.NAMED)[:2] == ["Chile", "National Electricity Coordinator"]
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


def _hit(i: int, text: str, similarity: float = 0.6, published: str | None = None) -> Hit:
    article = Article(
        id=f"a{i}", title=None, url=f"https://example.com/{i}", source=None, published=published,
        author=None, text=text, content_hash=f"h{i}", added_at="", updated_at="",
    )
    return Hit(PassageRow(i, 0, text, article), score=1.0, similarity=similarity,
               lexical_rank=None)


def _top_sentence(question: str, *passages: str) -> str:
    """The best answer sentence among one-sentence passages, every question word weighing 1."""
    parsed = analyse(question)
    hits = [_hit(i, text) for i, text in enumerate(passages)]
    return rank(parsed, hits, dict.fromkeys(parsed.terms, 1.0), date(2025, 3, 1))[0].sentence


@pytest.mark.parametrize(("agreeing", "expected"), [("Denny's", "Denny's"),
                                                     ("Waffle House", "Waffle House")])
def test_the_name_more_articles_agree_on_leads(agreeing, expected):
    lead = _top_sentence(
        "Which restaurant chain added a surcharge to egg dishes?",
        "Denny's added a surcharge to egg dishes on Monday.",
        "Waffle House added a surcharge to egg dishes on Monday.",
        f"Diners say {agreeing} was first to charge extra for eggs.",
        f"Bird flu is why {agreeing} asks more for breakfasts now.",
    )
    assert lead.startswith(expected)


@pytest.mark.parametrize("named", ["Apple", "Nvidia"])
def test_the_name_given_next_to_what_is_asked_leads(named):
    """Two companies are said to pledge the same, and as many articles name each; only one is
    called a tech giant anywhere."""
    other = "Nvidia" if named == "Apple" else "Apple"
    lead = _top_sentence(
        "Which tech giant pledged to invest $500 billion in America?",
        "Apple pledged to invest $500 billion in America on Monday.",
        "Nvidia pledged to invest $500 billion in America on Monday.",
        f"Shares of the tech giant {named} rose after the news.",
        f"Shares of {other} rose on a day of news that lifted every tech stock and one giant"
        " index.",
    )
    assert lead.startswith(named)


def test_a_named_question_no_sentence_answers_is_declined(tmp_path, hashing_embedder):
    """On the subject, but no sentence names anyone: min_score declines; off, it answers."""
    from bot.engine import NewsEngine

    article = ArticleInput(
        url="https://a.example/eggs", title="Egg dishes cost more",
        text="Egg dishes cost more at restaurant chains this winter, and a surcharge on egg"
             " dishes is spreading, diners say. Bird flu has cut the supply of eggs.",
    )
    question = "Which restaurant chain added a surcharge to egg dishes?"
    answers = {}
    for min_score in (1.8, -100.0):
        engine = NewsEngine(
            make_config(tmp_path / str(min_score),
                        answer={"min_similarity": 0.0, "min_score": min_score}),
            embedder=hashing_embedder,
        )
        _add(engine, article)
        answers[min_score] = engine.read(question)
        # An open question is never declined for its score: any sentence may answer it.
        assert engine.read("Why do egg dishes cost more this winter?").answered
        engine.close()
    assert not answers[1.8].answered and answers[1.8].retrieved  # closest articles still listed
    assert answers[-100.0].answered and "surcharge" in answers[-100.0].answer


def test_the_lead_source_is_shown_first(lenient_engine):
    _add(
        lenient_engine,
        ArticleInput(url="https://a.example/1", title="Egg prices",
                     text="Egg prices rose again this winter across the country."),
        ArticleInput(url="https://b.example/2", title="Surcharge",
                     text="Denny's added a surcharge to egg dishes because of bird flu."),
    )
    answer = lenient_engine.read(
        "Which restaurant chain added a surcharge to egg dishes?"
    )
    assert answer.answered and answer.lead_parts()[1].startswith("Denny's")
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
    asked_2025 = lenient_engine.read(question, as_of="2025-06-20")
    asked_2024 = lenient_engine.read(question, as_of="2024-06-25")
    assert "Tampa Rays" in asked_2025.answer.split("[1]")[0]
    assert "Florida Panthers" in asked_2024.answer.split("[1]")[0]


def test_recent_reports_move_up_the_search_results():
    from bot.reader.passages import RECENCY_PLACES, _recent_first

    def dated(i: int, published: str | None) -> Hit:
        return _hit(i, f"Passage number {i}.", published=published)

    day = date(2025, 6, 20)
    hits = [dated(i, None) for i in range(15)]
    hits[12] = dated(12, "2025-06-18")  # two days before the day asked
    hits[3] = dated(3, "2025-07-30")  # dated after it: distrusted
    order = [h.passage.id for h in _recent_first(hits, day)]
    assert RECENCY_PLACES == 10  # the order below spells out ten places
    # The recent one moves up ten places (ties keep search order); the later one down ten.
    assert order == [0, 1, 2, 12, 4, 5, 6, 7, 8, 9, 10, 11, 3, 13, 14]
    undated = [dated(i, None) for i in range(5)]
    assert [h.passage.id for h in _recent_first(undated, day)] == [0, 1, 2, 3, 4]
    old = [dated(0, "2020-01-01"), dated(1, "2025-06-01")]  # the fresher one moves ahead
    assert [h.passage.id for h in _recent_first(old, day)] == [1, 0]


def test_the_day_asked_may_be_a_date_a_datetime_or_text():
    from datetime import datetime

    from bot.reader.passages import question_day

    day = date(2025, 6, 20)
    assert question_day(day) == question_day(datetime(2025, 6, 20, 23, 59)) == day
    assert question_day("2025-06-20") == day
    assert type(question_day(datetime(2025, 6, 20, 8, 0))) is date  # ranking subtracts dates


@pytest.mark.parametrize(
    ("question", "wants", "passages", "expected"),
    [
        ("Who leads the central bank?", "person",
         ["The central bank is led by Acme, officials said.",
          "The central bank is led by Jane Smith, officials said."], "Jane Smith"),
        ("How much did the deal cost?", "money",
         ["The deal cost 12 days of talks.", "The deal cost $12 billion."], "$12 billion"),
        ("What percentage of voters backed the plan?", "percent",
         ["Voters backed the plan in 40 towns.", "Voters backed the plan by 40%."], "40%"),
    ],
)
def test_a_candidate_of_the_narrower_kind_leads(question, wants, passages, expected):
    """The first passage wins ties (search rank); the one with a person's name, a sum of money
    or a percentage wins when that is what is asked."""
    assert analyse(question).wants == wants
    assert expected in _top_sentence(question, *passages)
    assert analyse("How many people died?").wants is None
    assert analyse("Which company won?").wants is None


def test_normalise_drops_exactly_the_punctuation_marks_of_the_basic_plane():
    """The punctuation table is filled as characters are met (listing all 65,536 up front
    cost every `newsbot ask` 35 ms): it must still drop every mark and keep every letter."""
    import unicodedata

    marks = "".join(chr(c) for c in range(0x10000)
                    if unicodedata.category(chr(c)).startswith("P"))
    assert normalise(f"x{marks}y") == "xy"
    letters = "".join(chr(c) for c in range(0x100, 0x3000) if chr(c).isalpha())
    assert normalise(letters) == letters.lower()
    assert normalise("Putin’s “demands” — Crimea… (1,000)") == "putin demands crimea 1000"
    assert normalise("\U0001F389 done") == "\U0001F389 done"  # outside the plane: kept


def _tracked_growth(work: Callable[[], object]) -> int:
    """How many more objects the garbage collector tracks after `work` than before."""
    gc.collect()
    before = len(gc.get_objects())
    work()
    gc.collect()
    return len(gc.get_objects()) - before


def test_the_sentence_caches_leave_nothing_for_the_garbage_collector_to_walk():
    # Every full collection walks each tracked object: the ~70,000 frozensets the caches kept
    # after 200 questions made each take ~170 ms (benchmarks/README.md, issue 21).
    parsed = analyse("How many times did the council vote on the budget plan?")
    hits = [
        _hit(i, f"The council of Town{i} voted {i} times on budget plan {i}. "
                f"Mayor Person{i} said the plan{i} would pass by spring.")
        for i in range(400)
    ]
    grown = _tracked_growth(lambda: rank(parsed, hits, dict.fromkeys(parsed.terms, 1.0), None))
    assert grown < 40


def test_the_near_duplicate_check_caches_nothing_the_garbage_collector_walks():
    from index.search import _shingles

    texts = [f"Storm {i} closed road{i} and school{i} in county{i} on day {i}." for i in range(400)]
    assert _tracked_growth(lambda: [_shingles(t) for t in texts]) < 40
