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


def test_runs_of_initials_do_not_end_a_sentence():
    text = "J.D. Vance met George H.W. Bush's biographer. Then he left for D.C. today."
    assert split_sentences(text) == [
        "J.D. Vance met George H.W. Bush's biographer.",
        "Then he left for D.C. today.",
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


def test_passages_keep_line_breaks_so_a_byline_stays_its_own_sentence():
    text = (
        "Jeff Corwin\n\nOpinion contributor\n\nThe Marine Mammal Protection Act was enacted in"
        " 1972. It has prevented extinctions.\nHong Kong CNN —\nMarkets rose on Monday."
    )
    (passage,) = chunk_text(text, ChunkSettings(max_words=120))
    # One paragraph's sentences share a line; lines stay lines.
    assert passage.split("\n") == [
        "Jeff Corwin", "Opinion contributor",
        "The Marine Mammal Protection Act was enacted in 1972. It has prevented extinctions.",
        "Hong Kong CNN —", "Markets rose on Monday.",
    ]
    assert split_sentences(passage) == [
        "Jeff Corwin", "Opinion contributor",
        "The Marine Mammal Protection Act was enacted in 1972.", "It has prevented extinctions.",
        "Hong Kong CNN —", "Markets rose on Monday.",
    ]
    # The overlap sentence keeps its line too.
    first, second = chunk_text(
        "One two three four five.\nSix seven eight nine ten.\nEleven twelve thirteen.",
        ChunkSettings(max_words=10, overlap_sentences=1),
    )
    assert first == "One two three four five.\nSix seven eight nine ten."
    assert second == "Six seven eight nine ten.\nEleven twelve thirteen."
