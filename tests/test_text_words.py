"""The words search and answering compare (index/text.py)."""

from index.text import content_words, words


def test_words_are_lower_cased_with_their_clitic_dropped() -> None:
    assert words("Trump's TARIFFS don't bite, they’re said") == [
        "trump", "tariffs", "don", "bite", "they", "said",
    ]
    assert content_words("The Fed's rate cut, according to Reuters") == [
        "fed", "rate", "cut", "reuters",
    ]


def test_a_letter_that_lowers_to_two_characters_does_not_split_its_word() -> None:
    # "İ" lowers to "i" + a combining dot, which is not a word character: lowering the whole
    # text first would cut "İstanbul" in two.
    assert words("İstanbul's mayor") == ["i̇stanbul", "mayor"]
    assert words("ΟΔΟΣ") == ["οδος"]  # final sigma as the word alone lowers it
