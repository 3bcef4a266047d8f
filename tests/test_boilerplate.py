"""clean_text: page furniture goes, every real paragraph and its line break stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.readers import clean_text

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_1fcdc2a48f4510a7.txt"
SEED_LIST = [
    "READ ALSO:",
    "Russia-Ukraine crisis: Guterres warns against use of nuclear weapons",
    "NATO, US position forces around Ukraine as Russia attempts Kyiv takeover",
    "WAR: Contrasting fortunes of Russian and Ukrainian embassies in Abuja",
]


def test_the_seed_loses_its_read_also_list_and_keeps_every_paragraph() -> None:
    original = SEED.read_text(encoding="utf-8").splitlines()
    cleaned = clean_text("\n".join(original)).split("\n")
    for line in SEED_LIST:
        assert line not in cleaned
    assert [line for line in original if line and line not in SEED_LIST] == cleaned
    assert len(original) - len(cleaned) == 5  # the heading and four headlines, one repeated


@pytest.mark.parametrize(
    "heading",
    ["Read more:", "RELATED ARTICLES", "Related:", "Related stories", "Also read", "See also:",
     "You may also like", "More from Reuters", "Most read", "Don't miss"],
)
def test_link_list_headings_take_their_headlines_with_them(heading: str) -> None:
    text = (
        "The central bank raised interest rates by a quarter point on Thursday.\n"
        f"{heading}\n"
        "- Markets slide as inflation fears grow\n"
        "\n"
        "• Five charts that explain the housing slump\n"
        "Economists had expected the move after three months of rising prices."
    )
    assert clean_text(text) == (
        "The central bank raised interest rates by a quarter point on Thursday.\n"
        "Economists had expected the move after three months of rising prices."
    )


def test_a_list_heading_followed_by_a_paragraph_only_loses_the_heading() -> None:
    text = "Read more:\nThe minister said the plan would be published next week."
    assert clean_text(text) == "The minister said the plan would be published next week."


@pytest.mark.parametrize(
    "line",
    [
        "Advertisement",
        "ADVERTISEMENT",
        "Story continues below advertisement",
        "Subscribe to our newsletter",
        "Sign up for our daily newsletter to get the top stories in your inbox.",
        "Share this article",
        "Share on Facebook",
        "Facebook Twitter WhatsApp Email",
        "Click to share on Twitter (Opens in new window)",
        "We use cookies to improve your experience on our site.",
        "This website uses cookies. By continuing you accept our cookie policy.",
        "Follow us on Twitter",
        "Copyright © 2025 Daily News Ltd. All rights reserved.",
        "READ ALSO: Oil prices hit a six-month high",
        "Skip to main content",
        "Contributing: Christopher Cann, USA TODAY; Reuters",
        "Reporting by Jane Doe in London; Editing by John Smith",
        "Updated Dec. 2, 2025, 4:04 p.m. ET",
        "Published March 3, 2025",
        "AI-assisted summary",
        "Opinion contributor",
        "From USA TODAY Network and wire reports",
        "Staff and wire reports",
        "From staff and wire reports",
        "Need a break? Play the USA TODAY Daily Crossword Puzzle.",
        "Play today's crossword",
        "(Reporting by Jane Doe in Kathmandu; Editing by John Roe)",
        # Reuters' full credit, longer than a paragraph-sized line cap
        "(Reporting by Gita Rai and Om Thapa in Kathmandu; Additional reporting by Asha Menon in"
        " Bengaluru and Lin Wei in Beijing; writing by Shilpa Rao and Dev Patel; Editing by Tom"
        " Hart, Stephen Cole, Sonia Paul, William Marsh)",
        "— Monroe Trombly and Lucas Aulbach, Courier Journal — Leo Bertucci, Courier Journal",
        "— Fay Smith, Lake Lure, North Carolina",
        "– Daniel de Visé",
        "— Nicole Goodkind, Alicia Wallace and Laura He contributed to this report.",
        "Zahid Mahmood contributed reporting.",
    ],
)
def test_furniture_lines_are_removed(line: str) -> None:
    text = f"Floods closed the main road on Sunday.\n{line}\nCrews expect to reopen it on Tuesday."
    assert clean_text(text) == (
        "Floods closed the main road on Sunday.\nCrews expect to reopen it on Tuesday."
    )


@pytest.mark.parametrize(
    "line",
    [
        "The regulator said websites that use cookies without consent would face fines of up to "
        "four percent of their annual turnover from next year.",
        "Residents can sign up for flood alerts on the council website.",
        "Copyright lawyers said the ruling would change how news sites license photos.",
        "Related developments in the case are expected next week, the court said.",
        "Read more: the minister said the plan would fail.",
        "Share prices rose sharply on Monday.",
        "Advertisement revenue fell by a third in the last quarter, the company said.",
        "Contributing to the delays, the airport closed two runways on Monday.",
        "Reporting by the newspaper found the agency had ignored the warnings for years.",
        "(Reporting by the newspaper in 2019 found the agency had ignored the warnings, the"
        " inspector general wrote in a report that the agency disputed for years afterwards and"
        " that the court later cited in its ruling on the case)",
        "Updated figures released on Monday showed the economy grew 2% last year.",
        "The columnist said the wire reports had been wrong about the vote count.",
        "Play the games at home, officials told fans after the stadium closed.",
        "Play resumed after the rain stopped.",
        "— Met privately with five survivors of abuse, promising them accountability.",
        "– The Yankees have just three weeks to figure out their closer situation.",
        "The union said members contributed to this report on working conditions.",
        "The union said its members contributed to this report.",
    ],
)
def test_real_sentences_that_mention_furniture_words_stay(line: str) -> None:
    assert clean_text(line) == line


def test_a_summary_label_goes_and_its_text_stays() -> None:
    text = "AI-assisted summary Investigators are working to find the cause of the collision."
    assert clean_text(text) == "Investigators are working to find the cause of the collision."


def test_white_space_is_normalised_and_paragraph_breaks_kept() -> None:
    text = (
        "\n\n  First\u00a0paragraph  with\tspaces.\r\n"
        "Second\u200b paragraph.\r\n\r\n\r\n\r\n"
        "Third paragraph after a gap.   \n\n"
    )
    assert clean_text(text) == (
        "First paragraph with spaces.\nSecond paragraph.\n\nThird paragraph after a gap."
    )


def test_cleaning_twice_changes_nothing() -> None:
    once = clean_text(SEED.read_text(encoding="utf-8"))
    assert clean_text(once) == once


def test_empty_and_furniture_only_texts_clean_to_nothing() -> None:
    assert clean_text("") == ""
    assert clean_text("Advertisement\n\nSubscribe now\nShare this article\n") == ""
