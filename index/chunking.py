"""Cutting an article into passages: runs of whole sentences, bounded in words, overlapping."""

from __future__ import annotations

from index.sentences import split_sentences
from index.settings import ChunkSettings


def _words(sentence: str) -> int:
    return len(sentence.split())


def chunk_text(text: str, settings: ChunkSettings) -> list[str]:
    """Passages of `text`: consecutive sentences up to `max_words`, never cutting a sentence.

    Each passage after the first starts with the last `overlap_sentences` sentences of the one
    before, so an answer that spans a boundary is whole in at least one passage. A sentence
    longer than `max_words` forms a passage on its own.
    """
    sentences = split_sentences(text)
    passages: list[str] = []
    current: list[str] = []
    count = 0
    fresh = 0  # sentences in `current` not already emitted in the previous passage
    for sentence in sentences:
        n = _words(sentence)
        if current and count + n > settings.max_words and fresh:
            passages.append(" ".join(current))
            keep = current[-settings.overlap_sentences :] if settings.overlap_sentences else []
            # Overlap only while it leaves room for new text.
            while keep and sum(map(_words, keep)) + n > settings.max_words:
                keep = keep[1:]
            current, count, fresh = list(keep), sum(map(_words, keep)), 0
        current.append(sentence)
        count += n
        fresh += 1
    if current and fresh:
        passages.append(" ".join(current))
    return passages


def embedding_text(title: str | None, passage: str) -> str:
    """The text that is embedded for a passage: the article title gives it its topic."""
    return f"{title}. {passage}" if title else passage
