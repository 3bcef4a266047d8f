"""Dated answers on constructed pairs of articles (bot/reader/dating.py): the lead says when its
report is from unless it is of the last day or two, and when a newer and an older report
disagree the newer leads and the answer says earlier reports said otherwise. The real engine
on the deterministic test embedder."""

from __future__ import annotations

import re

import pytest

from bot.engine import NewsEngine
from index.models import ArticleInput, ReadResult
from tests.conftest import make_fast_config

QUAKE_QUESTION = "How many people were killed in the earthquake in Vallena?"
QUAKE_30 = (
    "At least 30 people were killed when an earthquake struck the mountain town of Vallena on "
    "Monday, officials said. Rescue teams searched collapsed buildings through the night and "
    "the army sent tents for families who lost their homes."
)
QUAKE_45 = (
    "The death toll from the earthquake in the mountain town of Vallena rose to 45 people on "
    "Wednesday, officials said. Rescuers pulled two survivors from the rubble as aid convoys "
    "reached villages cut off by landslides."
)
BANK = (
    "The central bank of Chile raised its benchmark interest rate by half a point on Thursday, "
    "citing stubborn inflation in food and energy prices. Economists had expected a smaller "
    "increase."
)


@pytest.fixture
def engine(tmp_path, hashing_embedder):
    config = make_fast_config(tmp_path / "data", answer={"min_similarity": 0.0})
    engine = NewsEngine(config, embedder=hashing_embedder)
    yield engine
    engine.close()


def add(engine: NewsEngine, *items: ArticleInput) -> None:
    engine.add_articles(ReadResult(articles=list(items)))


def art(text: str, url: str, source: str | None, published: str | None) -> ArticleInput:
    return ArticleInput(text=text, url=url, source=source, published=published,
                        title="Earthquake in Vallena", origin=url)


def cited(answer, marker: str):
    n = int(marker.strip("[]"))
    return next(c for c in answer.citations if c.n == n)


# Each way round: which text is the older report must not decide which leads; its date does.
@pytest.mark.parametrize("older,newer", [(QUAKE_30, QUAKE_45), (QUAKE_45, QUAKE_30)],
                         ids=["toll-rises", "toll-revised-down"])
def test_the_newer_report_leads_and_the_older_is_noted(engine, older, newer):
    add(engine,
        art(older, "https://apnews.com/quake", "AP", "2025-03-03"),
        art(newer, "https://reuters.com/quake", "Reuters", "2025-03-05"),
        art(BANK, "https://example.com/chile", "Example", "2025-03-04"))
    new_n = re.search(r"\b(30|45)\b", newer).group(1)
    old_n = re.search(r"\b(30|45)\b", older).group(1)
    answer = engine.ask(QUAKE_QUESTION, as_of="2025-03-06")
    assert answer.answered
    lead, _, note = answer.answer.partition("Earlier reports said otherwise")
    assert new_n in lead and old_n not in lead
    assert cited(answer, re.search(r"\[\d+\]", lead).group(0)).url == "https://reuters.com/quake"
    # The note names the older report, when it is from, and cites it.
    assert note.startswith(" (AP, 3 March): “") and old_n in note
    assert cited(answer, re.findall(r"\[\d+\]", note)[-1]).url == "https://apnews.com/quake"
    # Every cited source shows its date.
    assert all(c.published for c in answer.citations)


def test_reports_that_agree_are_not_said_to_disagree(engine):
    add(engine,
        art(QUAKE_30, "https://apnews.com/quake", "AP", "2025-03-03"),
        art(QUAKE_45.replace("45", "30"), "https://reuters.com/quake", "Reuters", "2025-03-05"))
    answer = engine.ask(QUAKE_QUESTION, as_of="2025-03-06")
    assert answer.answered and "30" in answer.answer
    assert "Earlier reports" not in answer.answer


def test_a_report_after_the_day_asked_does_not_overrule_it(engine):
    add(engine,
        art(QUAKE_30, "https://apnews.com/quake", "AP", "2025-03-03"),
        art(QUAKE_45, "https://reuters.com/quake", "Reuters", "2025-03-20"))
    answer = engine.ask(QUAKE_QUESTION, as_of="2025-03-04")
    assert "Earlier reports" not in answer.answer
    assert "30" in answer.answer.split("[")[0]


VOTE_QUESTION = "How many votes did Maria Lopez win in the Riverton mayoral election?"
VOTE = (
    "Maria Lopez won the Riverton mayoral election on Tuesday, defeating the incumbent Tom "
    "Hale after a campaign dominated by housing costs and the future of the city's ferry "
    "service. {count} Lopez, a former school principal, promised to freeze property taxes for "
    "two years and to open three new libraries. Hale conceded in a short speech to supporters "
    "at the town hall and wished her well. Turnout was the highest in twenty years, election "
    "officials said, and lines formed outside several polling stations before they opened. "
    "The new mayor takes office in January and will name her deputies next month."
)
EARLY_COUNT = "With most ballots counted, Lopez had won 52,300 votes, election officials said."
FINAL_COUNT = "The final count showed Lopez had won 61,870 votes, election officials said."


def test_an_updated_version_of_one_story_leads_with_the_newer_count(engine):
    """An update of the same story is one story: cited once, newer count first, the earlier
    version named under it with its date."""
    early = art(VOTE.format(count=EARLY_COUNT), "https://riverton.example/vote", "Riverton Post",
                "2025-11-05")
    final = art(VOTE.format(count=FINAL_COUNT), "https://riverton.example/vote-final",
                "Riverton Post", "2025-11-07")
    add(engine, final, early)
    answer = engine.ask(VOTE_QUESTION, as_of="2025-11-08")
    lead, _, note = answer.answer.partition("Earlier reports said otherwise")
    assert "61,870" in lead and "52,300" not in lead
    assert "52,300" in note and "5 November" in note
    vote = [c for c in answer.citations if "riverton" in (c.url or "")]
    assert len(vote) == 1 and vote[0].url == final.url
    assert [(r.url, r.published) for r in vote[0].also_reported_by] == [(early.url, "2025-11-05")]


@pytest.mark.parametrize(
    "as_of,prefix",
    [
        ("2025-03-06", ""),  # the day after: recent, no date needed
        ("2025-03-07", ""),  # two days after
        ("2025-03-20", "As of 5 March (Reuters): "),
        ("2026-01-10", "As of 5 March 2025 (Reuters): "),  # another year: the year too
    ],
)
def test_the_lead_says_when_its_report_is_from_unless_recent(engine, as_of, prefix):
    add(engine, art(QUAKE_45, "https://reuters.com/quake", "Reuters", "2025-03-05"))
    answer = engine.ask(QUAKE_QUESTION, as_of=as_of)
    assert answer.answered
    # (a short answer in bold may come between the date and the sentence)
    assert re.match(re.escape(prefix) + r"(\*\*[^*]+\*\* — )?The death toll", answer.answer)


def test_an_undated_or_sourceless_report_says_what_it_can(engine):
    add(engine,
        ArticleInput(text=QUAKE_45, url=None, title="Quake", origin="quake.txt"),
        ArticleInput(text=BANK, url="https://www.example.com/chile", published="2025-01-02",
                     title="Chile", origin="x"))
    answer = engine.ask(QUAKE_QUESTION, as_of="2025-03-20")
    assert re.match(r"(\*\*[^*]+\*\* — )?The death toll", answer.answer)  # undated: no "As of"
    bank = engine.ask("Which central bank raised its interest rate by half a point?",
                      as_of="2025-03-20")
    assert bank.answer.startswith("As of 2 January (example.com): ")
