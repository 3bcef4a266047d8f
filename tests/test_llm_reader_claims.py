"""The LLM reader shows a model's sentence only when the passage it cites supports what it
asserts (issue 18, item 2), end to end: a real NewsEngine asking a real HTTP server
(tests/llm_server.FaultProxy, nothing behind it) scripted to reply with a chosen text."""

from __future__ import annotations

import pytest

from bot.reader.answer import Answer
from tests.discord_e2e_helpers import ARTICLES, article_file
from tests.llm_server import Fault, FaultProxy
from tests.test_llm_reader import llm_engine

MINE_TITLE = "Zephyrion copper mine closes after 40 years"
MINE = article_file(
    MINE_TITLE,
    """
The Zephyrion copper mine in Norland closed on Friday after 40 years, its owner Quarrix Mining
said. Falling copper prices made the mine unprofitable, the company said, and all 150 workers
lost their jobs.
""",
    url="https://news.example/business/zephyrion-mine",
    source="Business Desk",
    published="2025-03-07",
)
QUESTION = "Why did the Zephyrion copper mine in Norland close?"


def ask_with_reply(tmp_path, proxy: FaultProxy, reply: str) -> tuple[Answer, Answer]:
    """(the extractive answer, the answer given when the endpoint replies `reply`, its [1]
    standing for the mine article's number in the prompt)."""
    with llm_engine(tmp_path, proxy.base_url, {**ARTICLES, "mine.txt": MINE},
                    timeout_s=10.0) as engine:
        expected = engine.read(QUESTION, reader=engine.extractive)
        titles = [r.title for r in expected.retrieved]
        n = titles.index(MINE_TITLE) + 1
        proxy.fault = Fault("answer", text=reply.replace("[1]", f"[{n}]"))
        return expected, engine.ask(QUESTION)


@pytest.mark.parametrize(("reply", "reason"), [
    ("The Zephyrion copper mine in Norland never closed, the owner Quarrix Mining said [1].",
     "it says 'never closed'"),
    ("The Zephyrion copper mine in Norland closed because executives committed fraud [1].",
     "the cause it gives ('executives committed fraud')"),
    ("Only one of the workers lost their jobs [1].", "'one' is not in the passages it cites"),
    ("The mine closed and seventy-five workers lost their jobs [1].",
     "'seventy-five' is not in the passages it cites"),
    ("the zephyrion copper mine was closed by its owner, borealix mining [1].",
     "'borealix' is not in the passages it cites"),
])
def test_an_invented_claim_gets_the_extractive_answer(tmp_path, bare_proxy, reply, reason):
    expected, answer = ask_with_reply(tmp_path, bare_proxy, reply)
    assert answer.reader == "extractive", answer.answer
    assert answer.fallback is not None and reason in answer.fallback, answer.fallback
    assert (answer.answer, answer.citations) == (expected.answer, expected.citations)
    assert len(bare_proxy.seen) == 1


@pytest.mark.parametrize("reply", [
    "The Zephyrion copper mine closed because falling copper prices made it unprofitable [1].",
    # names in lower case and a number in words are what the passage says
    "the zephyrion mine closed after forty years, and one hundred and fifty workers lost their "
    "jobs [1].",
])
def test_a_supported_claim_is_the_answer(tmp_path, bare_proxy, reply):
    _, answer = ask_with_reply(tmp_path, bare_proxy, reply)
    assert answer.reader == "llm", answer.fallback
    assert answer.answered and answer.fallback is None
    assert answer.citations[0].title == MINE_TITLE
    assert answer.answer.endswith("[1]")
