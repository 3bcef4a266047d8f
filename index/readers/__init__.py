"""Readers: turn files, uploads, web pages and feeds into ArticleInput records.

Every reader returns a ReadResult; bad input becomes a Skipped entry with a reason a user can
act on, never an exception. Only fetch_url raises (FetchRefused or InputError).
"""

from index.readers.boilerplate import clean_text
from index.readers.feeds import read_feed
from index.readers.files import read_bytes, read_paths
from index.readers.normalize import canonical_url
from index.readers.web import fetch_url, read_urls

__all__ = [
    "canonical_url",
    "clean_text",
    "fetch_url",
    "read_bytes",
    "read_feed",
    "read_paths",
    "read_urls",
]
