"""What adding an article to a collection means, decided before anything is written: a new
article, an update of one the collection holds, a copy of its own, or joining an article
exactly as another collection stored it. A part of `Store` (index/store.py), shared by both
backends."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from index.chunking import chunk_text
from index.models import Article, ArticleInput, Skipped, now_iso


def article_id_for(url: str | None, digest: str) -> str:
    basis = url if url else f"text:{digest}"
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


@dataclass
class AddResult:
    added: list[Article] = field(default_factory=list)
    updated: list[Article] = field(default_factory=list)
    unchanged: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class _Planned:
    article: Article
    passages: list[str] | None  # None: passages stay as they are
    replaces: bool  # an existing article's passages are replaced
    leaves: str | None = None  # the article (held by others too) the collection gives up


class Planning:
    """How each input of an add becomes a plan (a part of `Store`: its `db` and settings)."""

    def _plan(
        self, item: ArticleInput, seen: dict[str, Article], taken: set[str], collection: str
    ) -> tuple[str, _Planned]:
        """What adding `item` to `collection` means: ("added"|"updated"|"unchanged", plan).

        A collection only ever gains an article from what it supplied itself: `item` updates
        the article `collection` already holds under its URL (else with its text); failing
        that it joins a stored article only where that one is exactly what `item` supplies
        (same text, URL and shown details), else it is stored anew for `collection` alone,
        whatever other collections hold under the same URL. An update of an article that
        other collections hold too leaves theirs as it is: `collection` gets its own copy."""
        digest = item.content_hash
        own = None
        if item.url:
            own = seen.get(item.url) or self.db.article_by_url(item.url, collection)
        if own is None:
            own = seen.get(digest) or self.db.article_by_hash(digest, collection)
        stamp = now_iso()
        if own is None:
            same = self.identical(item)
            if same is not None:
                return "unchanged", _Planned(same, None, replaces=False)
            article = Article(
                id=self._new_id(item.url, digest, taken), title=item.title, url=item.url,
                source=item.source, published=item.published, author=item.author,
                text=item.text, content_hash=digest, added_at=stamp, updated_at=stamp,
                origin=item.origin or None,
            )
            return "added", _Planned(article, self._chunks(article), replaces=False)
        same_text = own.content_hash == digest
        merged = replace(
            own,
            # The same text under another URL keeps its first URL; a URL's new text replaces.
            url=own.url or item.url,
            title=item.title or own.title,
            source=item.source or own.source,
            published=item.published or own.published,
            author=item.author or own.author,
            text=item.text,
            content_hash=digest,
            origin=own.origin or item.origin or None,
        )
        if merged == own:
            return "unchanged", _Planned(own, None, replaces=False)
        merged = replace(merged, updated_at=stamp)
        if self.db.collections_of(own.id) - {collection}:
            copy = replace(merged, id=self._new_id(merged.url, digest, taken), added_at=stamp)
            return "updated", _Planned(copy, self._chunks(copy), replaces=False, leaves=own.id)
        rechunk = not same_text or merged.title != own.title
        return "updated", _Planned(merged, self._chunks(merged) if rechunk else None, rechunk)

    def identical(self, item: ArticleInput) -> Article | None:
        """A stored article that is exactly what `item` supplies: its text, URL and every
        detail an answer shows (the origin names an untitled one). Joining it shows the
        newcomer nothing it did not supply itself."""
        for article in self.db.articles_with_text(item.content_hash, item.url or None):
            if (article.title, article.source, article.published, article.author) != (
                item.title, item.source, item.published, item.author
            ):
                continue
            if article.title or article.origin == (item.origin or None):
                return article
        return None

    def _new_id(self, url: str | None, digest: str, taken: set[str]) -> str:
        """An id no stored or planned article has: from the URL (or text) as before, else,
        for another collection's own article under a stored URL, from the URL and text."""
        candidate, salt = article_id_for(url, digest), 0
        while candidate in taken or self.db.article_by_id(candidate) is not None:
            salt += 1
            candidate = article_id_for(f"{url or ''}\n{digest}\n{salt}", digest)
        taken.add(candidate)
        return candidate

    def _chunks(self, article: Article) -> list[str]:
        return chunk_text(article.text, self.settings.chunk)


def _unstorable(item: ArticleInput) -> str | None:
    """Why SQLite cannot (or should not) store `item`'s text fields, or None."""
    for name in ("text", "title", "url", "source", "published", "author", "origin"):
        value = getattr(item, name)
        if not value:
            continue
        if "\x00" in value:
            return f"the article's {name} holds a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"the article's {name} is not valid Unicode text (a lone surrogate)"
    return None

