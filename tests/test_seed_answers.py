"""The seed article answered with the real packaged model, through the CLI's own engine."""

from __future__ import annotations

import re

import pytest

from bot.engine import NewsEngine
from tests.conftest import SEED

pytestmark = pytest.mark.model


@pytest.fixture
def seeded(real_engine: NewsEngine) -> NewsEngine:
    report = real_engine.add_paths([str(SEED.parent)])
    assert len(report.added) == 1
    return real_engine


def test_putins_demand_is_answered_from_the_seed_with_a_citation(seeded):
    answer = seeded.ask("What does Putin demand to end the offensive?")
    assert answer.answered
    assert re.search(r"crimea|demilitari[sz]ation", answer.answer, re.I)
    assert "[1]" in answer.answer
    cited = answer.citations[0]
    assert cited.n == 1
    # The sentence in the lead is quoted from the cited passage, word for word.
    lead = answer.answer.split(" [1]")[0]
    assert lead in cited.quote
    assert lead in SEED.read_text()
    # Unknown metadata stays unknown.
    assert cited.url is None and cited.source is None and cited.published is None


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2022 FIFA World Cup final?",
        "What is the recipe for banana bread?",
        "How did the Federal Reserve change interest rates?",
    ],
)
def test_a_question_the_seed_cannot_answer_is_declined(seeded, question):
    answer = seeded.ask(question)
    assert not answer.answered
    assert answer.answer == "I couldn't find that in the indexed articles."
    assert answer.citations == []
    assert answer.retrieved  # the closest articles are still listed


def test_boilerplate_headlines_are_not_passages(seeded):
    texts = [r[0] for r in seeded.store.db.connection().execute("SELECT text FROM passages")]
    joined = " ".join(texts)
    assert "READ ALSO" not in joined
    assert "Contrasting fortunes" not in joined
    assert "Putin" in joined and "Karim Khan" in joined


def test_json_shape(seeded):
    data = seeded.ask("How many refugees have fled Ukraine?").to_json()
    assert set(data) == {"question", "answer", "answered", "citations", "retrieved", "latency_ms",
                         "reader", "fallback", "short_answer", "confidence", "span"}
    assert (data["reader"], data["fallback"]) == ("extractive", None)
    assert data["confidence"] is None  # only the learned reader says how sure it is
    assert "500,000" in data["answer"]
    assert set(data["citations"][0]) == {
        "n", "title", "source", "published", "url", "quote", "also_reported_by"
    }
    assert set(data["retrieved"][0]) == {"url", "title", "score", "text"}
