"""Sentence splitting and passage cutting."""

import itertools

from index.chunking import chunk_text, embedding_text
from index.sentences import split_sentences
from index.settings import ChunkSettings


def test_split_keeps_abbreviations_initials_and_numbers_inside_sentences():
    text = (
        "Mr. Smith met Dr. Jones in Washington. J. K. Rowling arrived at 3 p.m. on Monday! "
        "Prices rose 3.5 per cent? \"It was fine,\" he said."
    )
    assert split_sentences(text) == [
        "Mr. Smith met Dr. Jones in Washington.",
        "J. K. Rowling arrived at 3 p.m. on Monday!",
        "Prices rose 3.5 per cent?",
        '"It was fine," he said.',
    ]


def test_line_breaks_end_sentences_and_blank_lines_vanish():
    assert split_sentences("Headline without stop\n\nFirst line. Second.\n") == [
        "Headline without stop", "First line.", "Second.",
    ]


def test_passages_never_cut_a_sentence_and_stay_bounded():
    sentences = [f"Sentence number {i} has exactly seven words." for i in range(40)]
    text = " ".join(sentences)
    passages = chunk_text(text, ChunkSettings(max_words=50, overlap_sentences=1))
    assert len(passages) > 3
    for passage in passages:
        assert len(passage.split()) <= 50
        for piece in split_sentences(passage):
            assert piece in sentences
    # Every sentence is in some passage, and consecutive passages overlap by one sentence.
    covered = {s for p in passages for s in split_sentences(p)}
    assert covered == set(sentences)
    for a, b in itertools.pairwise(passages):
        assert split_sentences(a)[-1] == split_sentences(b)[0]


def test_a_sentence_longer_than_the_limit_stays_whole():
    long = "Many " + " ".join(["word"] * 80) + "."
    passages = chunk_text(f"Short one. {long} Another short one.", ChunkSettings(max_words=30))
    assert long in passages


def test_no_overlap_when_disabled():
    text = " ".join(f"Sentence {i} is here." for i in range(30))
    passages = chunk_text(text, ChunkSettings(max_words=20, overlap_sentences=0))
    pieces = [s for p in passages for s in split_sentences(p)]
    assert len(pieces) == 30


def test_embedded_text_carries_the_title():
    assert embedding_text("Big news", "It happened.") == "Big news. It happened."
    assert embedding_text(None, "It happened.") == "It happened."
