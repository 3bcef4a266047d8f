"""Readers: turn files, uploads, web pages and feeds into ArticleInput records.

Every reader returns a ReadResult; bad input becomes a Skipped entry with a reason a user can
act on, never an exception. Only fetch_url raises (FetchRefused or InputError).

The names below are imported on first use (PEP 562): importing one reader module, as
answering a question does, does not import every reader's libraries (feedparser, HTML).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.readers.boilerplate import clean_text
    from index.readers.feeds import read_feed
    from index.readers.files import read_bytes, read_paths
    from index.readers.normalize import canonical_url
    from index.readers.web import fetch_url, read_urls

_HOME = {
    "canonical_url": "normalize",
    "clean_text": "boilerplate",
    "fetch_url": "web",
    "read_bytes": "files",
    "read_feed": "feeds",
    "read_paths": "files",
    "read_urls": "web",
}
__all__ = [
    "canonical_url",
    "clean_text",
    "fetch_url",
    "read_bytes",
    "read_feed",
    "read_paths",
    "read_urls",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
