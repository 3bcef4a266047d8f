"""Turning raw fields from any reader into one ArticleInput: cleaned body, normalised metadata."""

from __future__ import annotations

from index.errors import InputError
from index.models import ArticleInput
from index.readers.boilerplate import clean_text
from index.readers.normalize import clean_meta, http_url, normalise_date
from index.text import fold


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
    body = clean_text(text)
    title_text = clean_meta(title)
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
        origin=origin,
    )


def _drop_leading_title(body: str, title: str) -> str:
    # Extractors often repeat the headline as the first line; keeping it would index it twice.
    first, _, rest = body.partition("\n")
    if rest.strip() and fold(first.strip()) == fold(title):
        return rest.lstrip("\n")
    return body
