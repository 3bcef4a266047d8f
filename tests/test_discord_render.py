"""The Discord rendering is pure: limits, trimming, escaping, mention neutralisation, errors."""

from __future__ import annotations

import re

import discord
import pytest
from discord import app_commands

from bot.discord_app.embeds import to_embed
from bot.discord_app.errors import NotAdmin, Refusal, describe_error
from bot.discord_app.render.admin import (
    render_channel_rules,
    render_ingest,
    render_progress,
    render_remove,
    render_roles,
    render_stats,
    render_summary,
)
from bot.discord_app.render.answers import COLOR_DECLINED, FOLLOW_UP_HINT, render_answer
from bot.discord_app.render.sources import MAX_PASSAGE_MESSAGES, render_passages
from bot.discord_app.render.spec import (
    CONTENT_LIMIT,
    EMBED_TOTAL_LIMIT,
    TITLE_LIMIT,
    EmbedSpec,
    message_problems,
)
from bot.discord_app.render.text import (
    ELLIPSIS,
    ZWSP,
    escape_markdown,
    neutralize_mentions,
    safe_url,
    split_text,
    trim,
)
from bot.discord_app.thread_names import thread_name
from bot.discord_app.typing_gate import TypingGate
from bot.engine import IngestReport, RemoveReport, StoreStats
from bot.reader.answer import NOT_FOUND, Answer, Citation, Retrieved
from index.errors import InputError
from index.models import Article, Skipped

WORDS = re.compile(r"[A-Za-z]+")


def citation(n: int, *, title: str = "", quote: str = "", url: str | None = "x") -> Citation:
    return Citation(
        n=n,
        title=title or f"Article number {n}",
        source="Example News",
        published="2022-03-01T10:00:00+00:00",
        url=f"https://news.example.com/story/{n}" if url == "x" else url,
        quote=quote or f"Passage {n} says something relevant. It has two sentences.",
        article_id=f"art{n}",
    )


def answered(text: str, citations: list[Citation], question: str = "What happened?") -> Answer:
    return Answer(question=question, answer=text, answered=True, citations=citations)


def article(i: int, title: str = "") -> Article:
    return Article(
        id=f"id{i}",
        title=title or f"Story {i}",
        url=f"https://news.example.com/{i}",
        source="Wire",
        published=f"2022-03-0{i % 9 + 1}",
        author=None,
        text="x",
        content_hash="h",
        added_at="2022-03-01",
        updated_at="2022-03-01",
    )


def assert_fits(specs: list[EmbedSpec], content: str | None = None) -> None:
    assert message_problems(specs, content) == []
    embeds = [to_embed(s) for s in specs]
    # discord.py's own count of an embed's characters agrees with ours
    assert [len(e) for e in embeds] == [s.total_length() for s in specs]
    assert sum(len(e) for e in embeds) <= EMBED_TOTAL_LIMIT


def no_word_cut(original: str, shown: str) -> None:
    """Every word in the shown text is a whole word of the original (nothing cut mid-word)."""
    vocabulary = set(WORDS.findall(original))
    for word in WORDS.findall(shown):
        assert word in vocabulary, word


# ---------------------------------------------------------------- trimming


def test_trim_prefers_a_sentence_boundary():
    text = "Talks began at the border. Both sides agreed to meet again next week in Minsk."
    assert trim(text, 40) == "Talks began at the border."
    assert trim(text, 500) == text


def test_trim_keeps_markers_with_their_sentence():
    text = "Putin set conditions. [1] The talks ended without a deal and more text follows here."
    assert trim(text, 30) == "Putin set conditions. [1]"


def test_trim_falls_back_to_a_word_boundary_with_ellipsis():
    text = "alpha beta gamma delta epsilon zeta eta theta"
    out = trim(text, 20)
    assert out.endswith(ELLIPSIS) and len(out) <= 20
    assert out == "alpha beta gamma…"
    no_word_cut(text, out)


def test_trim_hard_cuts_only_a_single_giant_word():
    out = trim("x" * 50, 10)
    assert out == "x" * 9 + ELLIPSIS


def test_split_text_never_loses_or_cuts_words():
    text = " ".join(f"Sentence number {i} talks about the border talks." for i in range(400))
    pieces = split_text(text, 500)
    assert all(len(p) <= 500 for p in pieces)
    assert " ".join(pieces).split() == text.split()


# ---------------------------------------------------------------- mentions and markdown


@pytest.mark.parametrize(
    "raw",
    ["@everyone look", "hi @here", "<@123456>", "<@!123456>", "<@&987654>", "@EVERYONE"],
)
def test_mentions_are_neutralised(raw: str):
    out = neutralize_mentions(raw)
    assert out != raw
    assert "@everyone" not in out.lower() and "@here" not in out
    assert not re.search(r"<@[!&]?\d", out)
    assert out.replace(ZWSP, "") == raw


def test_escape_markdown_covers_inline_and_line_start_syntax():
    out = escape_markdown("# Head\n- item\n1. one\n> quote\na*b_c ~~s~~ `c` ||sp|| [x](y) <#1>")
    assert out.splitlines()[:4] == [r"\# Head", r"\- item", r"1\. one", r"\> quote"]
    for token in (r"a\*b\_c", r"\~\~s\~\~", r"\`c\`", r"\|\|sp\|\|", r"\[x\](y)", r"\<#1>"):
        assert token in out
    # dates and times stay readable
    assert escape_markdown("2022-03-01 10:00") == "2022-03-01 10:00"


def test_safe_url_accepts_only_http_and_cannot_break_the_link():
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("file:///etc/passwd") is None
    assert safe_url(None) is None
    assert safe_url("https://e.com/a_(b) c") == "https://e.com/a_%28b%29%20c"


# ---------------------------------------------------------------- answers


def test_answer_embed_has_markers_and_numbered_source_links():
    cites = [citation(1), citation(2, url=None)]
    spec = render_answer(answered("Talks began [1]. Refugees fled [2].", cites))
    assert_fits([spec])
    desc = spec.description
    assert desc.startswith("Talks began [1]. Refugees fled [2].")
    assert "**Sources**" in desc
    link = "[Article number 1](https://news.example.com/story/1)"
    assert f"**[1]** {link} — Example News, 2022-03-01" in desc
    # no URL: the title without a link
    assert "**[2]** Article number 2 — Example News, 2022-03-01" in desc
    assert spec.title == "What happened?"
    assert spec.footer == FOLLOW_UP_HINT


def test_hostile_titles_are_escaped_and_cannot_ping():
    evil = "Big [news](https://evil.example) *now* @everyone <@42>"
    spec = render_answer(
        answered("Something @here happened [1].", [citation(1, title=evil)], question="<@&7> hi?")
    )
    assert_fits([spec])
    text = spec.title + spec.description
    assert "@everyone" not in text and "@here" not in text
    assert not re.search(r"<@[!&]?\d", text)
    assert "[news](" not in text and r"\[news\](" in text  # the masked link is defused


def test_very_long_answer_and_many_long_sources_fit():
    lead = " ".join(
        f"Sentence {i} reports that negotiators met again near the border [{i % 30 + 1}]."
        for i in range(600)
    )
    cites = [
        citation(n, title="Extraordinarily long headline " * 40, quote="q " * 3000)
        for n in range(1, 31)
    ]
    spec = render_answer(answered(lead, cites, question="Why? " * 200))
    assert_fits([spec])
    assert len(spec.title) <= TITLE_LIMIT
    body_lead = spec.description.split("\n\n**Sources**")[0]
    assert body_lead.endswith("].")  # cut after a whole sentence, markers included
    no_word_cut(lead, body_lead)
    assert re.search(r"…and \d+ more", spec.description)
    assert "**[1]**" in spec.description


def test_declined_answer_lists_closest_articles_once_each():
    retrieved = [
        Retrieved(
            url=None, title="Offline piece", score=0.4, text="t", article_id="a", passage_id=1
        ),
        Retrieved(
            url=None, title="Offline piece", score=0.3, text="u", article_id="a", passage_id=2
        ),
        Retrieved(
            url="https://e.com/2",
            title="Online piece",
            score=0.2,
            text="v",
            article_id="b",
            passage_id=3,
            source="AP",
            published="2022-03-02",
        ),
    ]
    answer = Answer(question="Moon?", answer=NOT_FOUND, answered=False, retrieved=retrieved)
    spec = render_answer(answer)
    assert_fits([spec])
    assert spec.description.startswith(escape_markdown(NOT_FOUND))
    assert "**Closest articles:**" in spec.description
    assert spec.description.count("Offline piece") == 1
    assert "• [Online piece](https://e.com/2) — AP, 2022-03-02" in spec.description
    assert spec.color == COLOR_DECLINED


def test_declined_without_any_retrieved_is_just_the_line():
    answer = Answer(question="?", answer=NOT_FOUND, answered=False)
    spec = render_answer(answer)
    assert spec.description == escape_markdown(NOT_FOUND)


# ---------------------------------------------------------------- "Show sources"


def test_short_passages_fit_one_message():
    messages = render_passages(answered("a [1] b [2]", [citation(1), citation(2)]))
    assert len(messages) == 1 and len(messages[0]) == 2
    first = messages[0][0]
    assert first.title == "[1] Article number 1"
    assert first.url == "https://news.example.com/story/1"
    assert first.description.startswith("> Passage 1 says")
    assert first.footer == "Example News, 2022-03-01"
    assert_fits(messages[0])


def test_a_very_long_quote_is_split_across_embeds_and_messages_without_losing_words():
    quote = " ".join(f"Quoted sentence {i} describes the shelling of the city." for i in range(300))
    messages = render_passages(answered("x [1]", [citation(1, quote=quote)]))
    assert len(messages) > 1
    for m in messages:
        assert_fits(m)
    parts = [e.description.removeprefix("> ") for m in messages for e in m]
    assert " ".join(parts).split() == quote.split()
    titles = [e.title for m in messages for e in m]
    assert titles[0] == "[1] Article number 1"
    assert all(t.endswith("(continued)") for t in titles[1:])


def test_many_long_passages_are_capped_with_a_note():
    cites = [citation(n, title="T" * 400, quote="word " * 5000) for n in range(1, 26)]
    messages = render_passages(answered("x", cites))
    assert len(messages) == MAX_PASSAGE_MESSAGES
    for m in messages:
        assert_fits(m)
        assert all(len(e.title or "") <= TITLE_LIMIT for e in m)
    assert "more passage parts not shown" in messages[-1][-1].description


def test_declined_answer_shows_retrieved_passages():
    retrieved = [
        Retrieved(
            url=None,
            title="P",
            score=0.1,
            text="Some passage @everyone.",
            article_id="a",
            passage_id=1,
        )
    ]
    messages = render_passages(
        Answer(question="?", answer=NOT_FOUND, answered=False, retrieved=retrieved)
    )
    assert messages[0][0].title == "P"
    assert "@everyone" not in messages[0][0].description


# ---------------------------------------------------------------- admin replies


def test_ingest_report_is_trimmed_to_one_message():
    report = IngestReport(
        added=[article(i, title="Headline " * 30) for i in range(80)],
        updated=[article(100)],
        unchanged=[article(200)],
        skipped=[Skipped(origin=f"https://x/{i}", reason="not an article") for i in range(50)],
    )
    text = render_ingest(report)
    assert len(text) <= CONTENT_LIMIT
    assert text.startswith("Done. Added 80 · updated 1 · unchanged 1 · skipped 50")
    assert re.search(r"…and \d+ more$", text)


def test_ingest_report_lists_skip_reasons():
    report = IngestReport(skipped=[Skipped(origin="feed.xml", reason="no entries")])
    text = render_ingest(report)
    assert "**Skipped**" in text and "• feed.xml: no entries" in text


def test_remove_report_and_summary():
    text = render_remove(RemoveReport(removed=[article(1)], not_found=["https://gone"]))
    assert text.startswith("Removed 1 article. Not found: 1.")
    assert "• https://gone" in text

    class Rebuilt:
        def __str__(self) -> str:
            return "Rebuilt 12 articles, 340 passages in 3.2 s"

    assert render_summary(Rebuilt(), heading="") == "Rebuilt 12 articles, 340 passages in 3.2 s"

    class Lower:
        def __str__(self) -> str:
            return "rebuilt 1 articles"

    assert render_summary(Lower(), heading="") == "Rebuilt 1 articles"
    assert render_summary(IngestReport()).startswith("Done. Added 0")


def test_stats_embed_hides_the_data_dir():
    stats = StoreStats(
        articles=3,
        passages=40,
        model="all-MiniLM-L6-v2",
        dimension=384,
        index_type="flat",
        size_bytes=3 * 1024 * 1024,
        last_change="2022-03-01T10:00:00",
        data_dir="/srv/secret",
    )
    spec = render_stats(stats)
    assert_fits([spec])
    values = {f.name: f.value for f in spec.fields}
    assert values["Articles"] == "3" and values["Size"] == "3.0 MB"
    assert "/srv/secret" not in str(spec)


def test_progress_lines():
    assert render_progress("embedding", 30, 120) == "Working… embedding: 30/120 (25%)"
    assert render_progress("reading", 0, 0) == "Working… reading"


def test_channel_and_role_listings():
    assert "every channel" in render_channel_rules([], [], [])
    text = render_channel_rules([1, 2], [3], [])
    assert "<#1>, <#2>" in text and "Never in: <#3>" in text
    roles = render_roles([(5, "Readers"), (6, None), (7, "@everyone")])
    assert "• Readers" in roles and "• role 6" in roles and "@everyone" not in roles
    assert render_roles([]).startswith("Everyone may ask")


# ---------------------------------------------------------------- errors


def test_expected_errors_are_shown_as_is_without_an_id():
    assert describe_error(InputError("That feed has no entries.")) == (
        "That feed has no entries.",
        None,
    )
    assert describe_error(Refusal("Not here.")) == ("Not here.", None)
    text, eid = describe_error(NotAdmin())
    assert "Manage Server" in text and eid is None
    text, eid = describe_error(app_commands.NoPrivateMessage())
    assert eid is None and "server" in text


def test_unexpected_errors_get_an_id():
    text, eid = describe_error(ZeroDivisionError("boom"))
    assert eid is not None and re.fullmatch(r"[0-9a-f]{8}", eid)
    assert eid in text and "boom" not in text


def test_wrapped_engine_errors_are_unwrapped():
    ask = app_commands.Command(name="ask", description="d", callback=_dummy_callback)
    wrapped = app_commands.CommandInvokeError(ask, InputError("Bad date: 2022-13-01"))
    assert describe_error(wrapped) == ("Bad date: 2022-13-01", None)
    forbidden_id = describe_error(app_commands.CommandInvokeError(ask, ValueError("x")))[1]
    assert forbidden_id is not None


async def _dummy_callback(interaction: discord.Interaction) -> None:  # pragma: no cover
    return None


def test_thread_names_never_show_mention_markup():
    # nothing in the cache: each kind of markup still reads as what it is
    name = thread_name("did <@&12345> or <@!678> post in <#999> <:party:42> at <t:0:R>?")
    assert name == "did @role or @user post in #channel :party: at 1970-01-01 00:00 UTC?"
    assert thread_name("ask <@5>", users={5: "Bob"}) == "ask @Bob"
    long = thread_name("<@&1> " + "word " * 40)
    assert len(long) == 100 and long.startswith("@role word") and long.endswith("…")


def test_one_typing_indicator_per_channel_while_it_lasts():
    now = [0.0]
    gate = TypingGate(10.0, clock=lambda: now[0])
    assert gate.claim(1) and not gate.claim(1) and gate.claim(2)
    now[0] = 10.5  # the first indicator has run out
    assert gate.claim(1) and not gate.claim(1)
