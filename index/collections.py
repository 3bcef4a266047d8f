"""Collection names: which articles a question may see and a command may change.

Every stored article belongs to one or more collections. The operator's collection is
`shared` (what `newsbot index add` writes by default and what every question may search); a
Discord server's is `guild:<server id>`. An article held by several collections is stored and
embedded once; it leaves the store only when the last collection lets it go.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from index.errors import InputError

SHARED = "shared"
GUILD_PREFIX = "guild:"
MAX_NAME_CHARS = 64

# Lower-case ASCII so that names print and compare the same everywhere (a shell, a JSON
# file, SQLite); ':' for the guild prefix.
_NAME = re.compile(r"[a-z0-9][a-z0-9_.:-]*")


def guild_collection(guild_id: int) -> str:
    """The collection of one Discord server."""
    return f"{GUILD_PREFIX}{int(guild_id)}"


def check_name(name: object) -> str:
    """`name` if it is a valid collection name, else InputError with one line saying why."""
    if not isinstance(name, str):
        raise InputError(f"collection {name!r}: a collection name is text")
    shown = name.encode("utf-8", "backslashreplace").decode("utf-8")[:80]
    if not name:
        raise InputError("the collection name is empty")
    if len(name) > MAX_NAME_CHARS:
        raise InputError(
            f"collection {shown!r}: names are at most {MAX_NAME_CHARS} characters"
        )
    if not _NAME.fullmatch(name):
        raise InputError(
            f"collection {shown!r}: use lower-case letters, digits and . _ - :"
            " (for example 'shared' or 'guild:1234')"
        )
    if name.startswith(GUILD_PREFIX) and not name[len(GUILD_PREFIX):].isdigit():
        raise InputError(f"collection {shown!r}: a server's collection is guild:<server id>")
    return name


def check_names(names: Sequence[str] | None) -> tuple[str, ...]:
    """The collections a question searches: `names` checked, duplicates dropped, in order;
    None means the shared collection only."""
    if names is None:
        return (SHARED,)
    if isinstance(names, str):
        names = [names]
    checked = tuple(dict.fromkeys(check_name(n) for n in names))
    if not checked:
        raise InputError("no collection to search")
    return checked


def describe(names: Iterable[str]) -> str:
    return ", ".join(names) or "(none)"
