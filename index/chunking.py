"""Cutting an article into passages: runs of whole sentences, bounded in words, overlapping.

A passage keeps the article's line breaks between its sentences (sentences of one paragraph
are joined by a space), so a byline, dateline or heading line stays a sentence of its own when
the passage is split again to pick an answer, instead of being glued to the paragraph after
it ("Jeff Corwin Opinion contributor The Marine Mammal Protection Act ...")."""

from __future__ import annotations

import itertools

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
    # Each sentence with the number of the line it is on.
    sentences = [
        (sentence, number)
        for number, line in enumerate(text.splitlines())
        for sentence in split_sentences(line)
    ]
    passages: list[str] = []
    current: list[tuple[str, int]] = []
    count = 0
    fresh = 0  # sentences in `current` not already emitted in the previous passage
    for sentence, line in sentences:
        n = _words(sentence)
        if current and count + n > settings.max_words and fresh:
            passages.append(_join(current))
            keep = current[-settings.overlap_sentences :] if settings.overlap_sentences else []
            # Overlap only while it leaves room for new text.
            while keep and sum(_words(s) for s, _ in keep) + n > settings.max_words:
                keep = keep[1:]
            current, count, fresh = list(keep), sum(_words(s) for s, _ in keep), 0
        current.append((sentence, line))
        count += n
        fresh += 1
    if current and fresh:
        passages.append(_join(current))
    return passages


def _join(sentences: list[tuple[str, int]]) -> str:
    """Sentences of one line joined by a space, of different lines by a line break."""
    out = sentences[0][0]
    for (_, before), (sentence, line) in itertools.pairwise(sentences):
        out += (" " if line == before else "\n") + sentence
    return out


def embedding_text(title: str | None, passage: str) -> str:
    """The text that is embedded for a passage: the article title gives it its topic."""
    return f"{title}. {passage}" if title else passage
