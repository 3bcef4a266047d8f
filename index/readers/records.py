"""Turning raw fields from any reader into one ArticleInput: cleaned body, normalised metadata."""

from __future__ import annotations

from index.errors import InputError
from index.models import ArticleInput
from index.readers.boilerplate import clean_text
from index.readers.normalize import clean_meta, http_url, normalise_date, scrub
from index.text import fold

# A headline is a line, not a paragraph: longer "titles" (a feed that puts the whole story in
# <title>, a hostile one that puts a megabyte there) are cut at a word, with an ellipsis.
MAX_TITLE_CHARS = 500


def build_article(
    text: str,
    *,
    origin: str,
    title: object = None,
    url: object = None,
    source: object = None,
    published: object = None,
    author: object = None,
) -> ArticleInput:
    """An article from raw reader output; raises InputError when no text is left."""
    if not text or not text.strip():
        raise InputError("the article has no text")
    body = clean_text(scrub(text))
    title_text = cap_title(clean_meta(title))
    if title_text:
        body = _drop_leading_title(body, title_text)
    if not body:
        raise InputError("no article text is left after removing page boilerplate")
    return ArticleInput(
        text=body,
        title=title_text,
        url=http_url(url),
        source=clean_meta(source),
        published=normalise_date(published),
        author=clean_meta(author),
        origin=scrub(origin),
    )


def cap_title(title: str | None) -> str | None:
    """`title`, cut to MAX_TITLE_CHARS at a word boundary when longer."""
    if title is None or len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title[: MAX_TITLE_CHARS - 1]
    space = cut.rfind(" ")
    if space > MAX_TITLE_CHARS // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def _drop_leading_title(body: str, title: str) -> str:
    # Extractors often repeat the headline as the first line; keeping it would index it twice.
    first, _, rest = body.partition("\n")
    if rest.strip() and fold(first.strip()) == fold(title):
        return rest.lstrip("\n")
    return body
