"""Typed errors of the store; the front doors (CLI, Discord) turn them into one clear line."""


class NewsbotError(Exception):
    """Base of every error a user can be shown as-is."""


class InputError(NewsbotError):
    """An article source (file, URL, feed) could not be read."""


class FetchRefused(InputError):
    """A URL was refused before or during fetching (scheme, private address, size, type)."""


class StoreError(NewsbotError):
    """The data directory is missing, inconsistent or damaged."""


class StoreMismatch(StoreError):
    """SQLite and FAISS disagree, or the configured model differs from the stored one."""


class ConfigError(NewsbotError):
    """A config value is invalid; the message names the key and what is allowed."""


class StoreUnavailable(StoreError):
    """The store's database server cannot be reached just now (connection lost or refused);
    the same call works again once it is back. The message is short and names no password."""


class StoreTimedOut(StoreUnavailable):
    """The store's database server did not finish a read within [store] statement_timeout_s
    (a lock held by another session, a runaway query) and cancelled it; the same call may
    work in a moment."""
