"""The span-led reader ([reader] kind = "span", bot/reader/learned/span_lead.py): the sentence
holding the span reader's best span leads, its margin over "no answer" decides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.reader.learned.span import PassageSpans, SpanReader, export
from bot.reader.learned.span_lead import (
    Found,
    SpanLeadSettings,
    SpanLedReader,
    best_span,
    lead_with,
)
from bot.reader.ranking import Scored
from index.embedding import HashingEmbedder
from index.errors import InputError
from index.models import ArticleInput, ReadResult
from index.settings import AnswerSettings
from tests.test_ranking import _hit
from tests.test_span_reader import SAMPLE, tiny_trained  # noqa: F401 (a fixture)


def _spans(n: int, best: tuple[int, int, float], null: float) -> PassageSpans:
    """Logits over `n` passage tokens (each one character wide at 2k..2k+1) whose best span
    is tokens best[0]..best[1] scoring best[2] (start + end), against `null`."""
    start, end = np.full(n, -5.0, dtype=np.float32), np.full(n, -5.0, dtype=np.float32)
    start[best[0]] = end[best[1]] = best[2] / 2
    offsets = [(2 * k, 2 * k + 1) for k in range(n)]
    return PassageSpans(start, end, offsets, null, best[2] - null)


def test_the_best_span_is_the_one_furthest_above_its_passages_no_answer() -> None:
    reads = [_spans(6, (1, 2, 4.0), null=3.5), _spans(6, (3, 3, 2.0), null=-1.0)]
    found = best_span(reads)
    # The second passage's span scores less but is 3.0 above its no-answer, the first's 0.5.
    assert found == Found(margin=3.0, hit=1, start=6, end=7)
    assert best_span([]) is None


def _scored(sentence: str, hit: int, score: float) -> Scored:
    return Scored(sentence, hit, score, [])


def test_the_sentence_holding_the_span_leads_and_carries_it() -> None:
    text = "Markets were calm. Norland Steel bought Baltic Forge on Tuesday. Shares rose."
    ranked = [_scored("Shares rose.", 0, 3.0), _scored("Markets were calm.", 0, 2.0),
              _scored("Norland Steel bought Baltic Forge on Tuesday.", 0, 1.0)]
    at = text.index("Baltic Forge")
    out = lead_with(ranked, [_hit(0, text)], Found(2.0, 0, at, at + len("Baltic Forge")))
    assert [s.sentence for s in out] == ["Norland Steel bought Baltic Forge on Tuesday.",
                                         "Shares rose.", "Markets were calm."]
    assert out[0].found_span == "Baltic Forge" and out[0].score == 1.0  # the rules' score


def test_a_span_in_a_sentence_scored_in_another_passage_leads_that_copy() -> None:
    text = "Norland Steel bought Baltic Forge on Tuesday. Shares rose."
    # The sentence repeats in passage 0, where the ranking scored it; the span is in passage 1.
    ranked = [_scored("Shares rose.", 1, 2.0),
              _scored("Norland Steel bought Baltic Forge on Tuesday.", 0, 1.0)]
    at = text.index("Baltic Forge")
    out = lead_with(ranked, [_hit(0, "other"), _hit(1, text)], Found(1.0, 1, at, at + 12))
    assert out[0].sentence.startswith("Norland Steel") and out[0].found_span == "Baltic Forge"
    untouched = [_scored("Shares rose.", 1, 2.0)]
    assert lead_with(untouched, [_hit(0, "other"), _hit(1, text)], Found(1.0, 1, at, at + 12)) \
        == untouched


@pytest.fixture
def span_files(tiny_trained: Path, tmp_path: Path) -> SpanReader:  # noqa: F811
    export(tiny_trained, tmp_path / "span-model.onnx", SAMPLE[:1], quantize=False)
    return SpanReader(tmp_path / "span-model.onnx", tmp_path / "span-tokenizer.json")


def _engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    from bot.engine import NewsEngine
    from tests.conftest import make_fast_config

    engine = NewsEngine(make_fast_config(tmp_path / "data"), embedder=HashingEmbedder())
    texts = ("Norland Steel agreed on Tuesday to buy Baltic Forge for 2 billion euros.",
             "Analysts said the Baltic Forge deal would close next year, Norland Steel said.")
    engine.add_articles(ReadResult(articles=[ArticleInput(text=text, title="Steel deal")
                                             for text in texts]))
    return engine


def test_the_reader_answers_from_the_span_or_declines_by_its_margin(
        span_files: SpanReader, tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    try:
        question = "Which company did Norland Steel agree to buy?"
        always = SpanLedReader(engine.config.store.answer, 5, span_files,
                               SpanLeadSettings(passages=2, answer_margin=-1e9,
                                                short_margin=-1e9))
        answer = engine.read(question, reader=always)
        assert answer.answered and answer.reader == "span"
        # The bold short answer is the span, and the lead sentence holds it.
        assert answer.short_answer and answer.short_answer in answer.answer.split("**", 2)[2]
        assert 0.0 < (answer.confidence or 0.0) < 1.0
        never = SpanLedReader(engine.config.store.answer, 5, span_files,
                              SpanLeadSettings(passages=2, answer_margin=1e9, short_margin=1e9))
        assert not engine.read(question, reader=never).answered
        # Unless the rules' bars would answer, when the settings let them.
        lenient = SpanLedReader(engine.config.store.answer, 5, span_files, SpanLeadSettings(
            passages=2, answer_margin=1e9, short_margin=1e9, rules_may_answer=True))
        rules = engine.read(question, reader=engine.extractive)
        assert engine.read(question, reader=lenient).answered == rules.answered
    finally:
        engine.close()


def test_the_span_reader_kind_without_its_files_is_refused(tmp_path: Path,
                                                           monkeypatch) -> None:
    from bot.reader.learned import span, span_lead

    monkeypatch.setattr(span_lead, "SETTINGS_FILE", tmp_path / "absent.json")
    with pytest.raises(InputError, match='kind = "span" needs'):
        SpanLedReader.load(AnswerSettings(), 5)
    span.load.cache_clear()
