"""The answer record shared by the CLI, the Discord bot and the evaluation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

NOT_FOUND = "I couldn't find that in the indexed articles."
# shown beside answers of the LLM reader ([reader] kind = "llm"), in Discord and the terminal
LLM_NOTE = "Written by a language model from the sources below; every citation was checked."
SHORT_ANSWER_SEPARATOR = " — "  # between the bold short answer and the sentence that says it


@dataclass(frozen=True)
class ReportedBy:
    """Another copy of a cited story (bot/reader/copies.py): who published it, when, where."""

    publisher: str  # the article's source, else its URL's host
    published: str | None
    url: str | None
    title: str | None


@dataclass(frozen=True)
class Citation:
    n: int  # the number used in the answer's [n] markers, 1-based
    title: str
    source: str | None
    published: str | None
    url: str | None
    quote: str  # the passage text the marker points to
    article_id: str
    # the other copies of the same story the store holds (syndicated or earlier versions)
    also_reported_by: list[ReportedBy] = field(default_factory=list)


@dataclass(frozen=True)
class Retrieved:
    url: str | None
    title: str
    score: float
    text: str
    article_id: str
    passage_id: int
    source: str | None = None
    published: str | None = None


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str  # the lead text with [n] markers, or the "couldn't find" line when declined
    answered: bool
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[Retrieved] = field(default_factory=list)  # top passages in rank order
    latency_ms: float = 0.0
    reader: str = "extractive"  # which reader wrote `answer`: "extractive" or "llm"
    # why the extractive answer was given although [reader] kind = "llm" (one line; None when
    # the configured reader answered)
    fallback: str | None = None
    # The name, date or number the lead begins with, in bold ("**Apple** — Apple said ..."),
    # when the question asks for one and a candidate wins clearly; None otherwise.
    short_answer: str | None = None
    # The learned reader's chance that the lead answers the question (None for the others).
    confidence: float | None = None
    # The candidate the short answer was taken from and the passage (its text) it came from.
    span_passage: str | None = None

    def lead_parts(self) -> tuple[str | None, str]:
        """(short answer, the rest of the lead): how a front door shows the short answer in
        its own bold. (None, the whole text) when there is no short answer."""
        prefix = f"**{self.short_answer}**{SHORT_ANSWER_SEPARATOR}"
        if self.short_answer and self.answer.startswith(prefix):
            return self.short_answer, self.answer[len(prefix) :]
        return None, self.answer

    def to_json(self) -> dict:
        """The object `newsbot ask --json` prints (and `newsbot eval` writes per question)."""
        return {
            "question": self.question,
            "answer": self.answer,
            "answered": self.answered,
            "short_answer": self.short_answer,
            "citations": [
                {k: v for k, v in asdict(c).items() if k != "article_id"} for c in self.citations
            ],
            "retrieved": [
                {"url": r.url, "title": r.title, "score": round(r.score, 4), "text": r.text}
                for r in self.retrieved
            ],
            "latency_ms": round(self.latency_ms, 1),
            "reader": self.reader,
            "fallback": self.fallback,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "span": (
                {"text": self.short_answer, "passage": self.span_passage}
                if self.short_answer and self.span_passage else None
            ),
        }
