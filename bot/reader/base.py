"""The interface every reader implements, and that the engine (bot/engine.py) calls.

A reader turns the passages found for a question (bot/reader/passages.py) into the answer
record (bot/reader/answer.py). Three implement it: the rules (bot/reader/rules.py), the
learned model (bot/reader/learned/reader.py) and the LLM (bot/reader/llm/reader.py), which
rewrites one of the other two's answers. A fourth reader is one new module with a class of
this shape, and a line in the engine's `make_reader`.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from bot.reader.answer import Answer
from bot.reader.passages import Passages


class Reader(Protocol):
    """Answers a question from the passages found for it; thread-safe."""

    name: str  # [reader] kind, and Answer.reader of the answers it writes

    def answer(self, question: str, passages: Passages, day: date) -> Answer:
        """The answer to `question` asked on `day`, from `passages`: an answer with its
        citations, or NOT_FOUND with the closest articles."""
        ...

    def close(self) -> None:
        """Free what the reader holds (a client, threads); it answers no more after."""
        ...
