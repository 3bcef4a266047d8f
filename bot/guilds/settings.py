"""The bot's own state: per-server settings, stored answers, feedback (no discord import).

The rules and the SQL live here; where they are kept is a `GuildDatabase`: an SQLite file in
the data directory (bot/guilds/sqlite.py, the default) or, with `[store] backend = "postgres"`,
tables in the store's PostgreSQL database (bot/guilds/postgres.py), which every bot process
shares. The SQL is written once for both (upserts as `ON CONFLICT`, answers ordered by
`rowid`, which the PostgreSQL table declares). Nothing is cached in the process: every call
reads the database, so a setting changed through one process holds in the others from their
next question. `open_guild_settings` picks the database from the store settings.

Channel rules per server: a channel can be explicitly allowed or denied. When the server has at
least one allowed channel, only allowed channels are answered in; otherwise the bot's default
applies (config.discord.channels when set, else every channel) minus denied channels. A thread
follows its parent channel unless it has a rule of its own.

Ways of asking per server: `thread_per_question` (an answer opens a thread; the thread's
questions are the context of the follow-ups asked in it, see `thread_questions`) and
free-response channels (every message there is a question; a thread follows its parent).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.reader.answer import Answer, Citation, Retrieved
from index.models import now_iso

if TYPE_CHECKING:
    from index.settings import StoreSettings
    from index.store import Store

class Rows(Protocol):
    """What a statement returned (sqlite3's cursor, or index/postgres/database.Result)."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A connection with sqlite3's `execute` and `?` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Rows: ...


class GuildDatabase(Protocol):
    """Where the bot's state is kept: connections, one write at a time, migrations."""

    def reading(self) -> AbstractContextManager[Connection]: ...

    def transaction(self) -> AbstractContextManager[Connection]:
        """One atomic write, after every other write of the bot's state."""
        ...

    def migrate(self) -> list[int]:
        """Apply the missing numbered migrations; the numbers applied now."""
        ...

    def schema_version(self) -> int: ...

    def close(self) -> None: ...


#: How many of a thread's earlier questions go with a follow-up as its context.
THREAD_CONTEXT_QUESTIONS = 3


@dataclass(frozen=True)
class Feedback:
    id: int
    guild_id: int | None
    channel_id: int | None
    user_id: int
    question: str
    answer: str
    helpful: bool
    created_at: str
    answer_key: str | None = None


@dataclass(frozen=True)
class StoredAnswer:
    key: str
    question: str
    context: str | None
    answer: Answer
    guild_id: int | None
    channel_id: int | None
    user_id: int | None
    message_id: int | None
    created_at: str


def answer_to_json(answer: Answer) -> str:
    return json.dumps(asdict(answer), ensure_ascii=False)


def answer_from_json(text: str) -> Answer:
    d = json.loads(text)
    return Answer(
        question=d["question"],
        answer=d["answer"],
        answered=bool(d["answered"]),
        citations=[Citation(**c) for c in d.get("citations", [])],
        retrieved=[Retrieved(**r) for r in d.get("retrieved", [])],
        latency_ms=float(d.get("latency_ms", 0.0)),
        reader=str(d.get("reader") or "extractive"),  # answers stored before readers existed
        fallback=d.get("fallback"),
    )


class GuildSettings:
    """Per-server settings, stored answers and feedback, kept in `db`."""

    def __init__(self, db: GuildDatabase, *, keep_answers: int = 20_000) -> None:
        self.db = db
        self.keep_answers = keep_answers
        self.db.migrate()

    def migrate(self) -> list[int]:
        """Apply missing migrations in order; returns the versions applied now."""
        return self.db.migrate()

    def schema_version(self) -> int:
        return self.db.schema_version()

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ channels

    # ------------------------------------------------------------------ collections searched

    def searches_shared(self, guild_id: int) -> bool:
        """Whether this server's questions search the shared collection too (default: yes)."""
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT search_shared FROM search_options WHERE guild_id = ?", (guild_id,)
            ).fetchone()
        return True if row is None else bool(row[0])

    def set_searches_shared(self, guild_id: int, include: bool) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO search_options (guild_id, search_shared) VALUES (?, ?)"
                " ON CONFLICT (guild_id) DO UPDATE SET search_shared = excluded.search_shared",
                (guild_id, int(bool(include))),
            )

    def allow_channel(self, guild_id: int, channel_id: int) -> None:
        self._set_channel(guild_id, channel_id, True)

    def deny_channel(self, guild_id: int, channel_id: int) -> None:
        self._set_channel(guild_id, channel_id, False)

    def _set_channel(self, guild_id: int, channel_id: int, allowed: bool) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO channel_rules (guild_id, channel_id, allowed) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, channel_id) DO UPDATE SET allowed = excluded.allowed",
                (int(guild_id), int(channel_id), int(allowed)),
            )

    def list_channels(self, guild_id: int) -> tuple[list[int], list[int]]:
        """(allowed channel ids, denied channel ids) set for this server."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT channel_id, allowed FROM channel_rules WHERE guild_id = ? "
                "ORDER BY channel_id",
                (int(guild_id),),
            ).fetchall()
        return [c for c, a in rows if a], [c for c, a in rows if not a]

    def reset_channels(self, guild_id: int) -> int:
        """Forget this server's channel rules; returns how many there were."""
        with self.db.transaction() as conn:
            cur = conn.execute("DELETE FROM channel_rules WHERE guild_id = ?", (int(guild_id),))
            return cur.rowcount

    def is_channel_allowed(
        self,
        guild_id: int,
        channel_id: int,
        default_channels: Iterable[int] = (),
        *,
        parent_id: int | None = None,
    ) -> bool:
        """Whether the bot may answer in this channel (a thread passes its parent as parent_id)."""
        allowed, denied = self.list_channels(guild_id)
        return channel_allowed(
            channel_id, allowed, denied, tuple(default_channels), parent_id=parent_id
        )

    # ------------------------------------------------------------------ asker roles

    def allow_asker_role(self, guild_id: int, role_id: int) -> bool:
        """Add a role that may ask; False when it was already there."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO asker_roles (guild_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (int(guild_id), int(role_id)),
            )
            return cur.rowcount > 0

    def deny_asker_role(self, guild_id: int, role_id: int) -> bool:
        """Remove a role from the askers; False when it was not there."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM asker_roles WHERE guild_id = ? AND role_id = ?",
                (int(guild_id), int(role_id)),
            )
            return cur.rowcount > 0

    def reset_asker_roles(self, guild_id: int) -> int:
        with self.db.transaction() as conn:
            cur = conn.execute("DELETE FROM asker_roles WHERE guild_id = ?", (int(guild_id),))
            return cur.rowcount

    def list_asker_roles(self, guild_id: int) -> list[int]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT role_id FROM asker_roles WHERE guild_id = ? ORDER BY role_id",
                (int(guild_id),),
            ).fetchall()
        return [r for (r,) in rows]

    def may_ask(self, guild_id: int, member_role_ids: Iterable[int]) -> bool:
        """True when the server lists no asker roles, or the member has one of them."""
        roles = set(self.list_asker_roles(guild_id))
        return not roles or bool(roles & {int(r) for r in member_role_ids})

    # ------------------------------------------------------------------ ways of asking

    def set_thread_per_question(self, guild_id: int, enabled: bool) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO guild_options (guild_id, thread_per_question) VALUES (?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET "
                "thread_per_question = excluded.thread_per_question",
                (int(guild_id), int(enabled)),
            )

    def thread_per_question(self, guild_id: int | None) -> bool:
        if guild_id is None:
            return False
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT thread_per_question FROM guild_options WHERE guild_id = ?",
                (int(guild_id),),
            ).fetchone()
        return bool(row and row[0])

    def add_free_channel(self, guild_id: int, channel_id: int) -> bool:
        """Mark a free-response channel; False when it already was one."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO free_response_channels (guild_id, channel_id) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (int(guild_id), int(channel_id)),
            )
            return cur.rowcount > 0

    def remove_free_channel(self, guild_id: int, channel_id: int) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM free_response_channels WHERE guild_id = ? AND channel_id = ?",
                (int(guild_id), int(channel_id)),
            )
            return cur.rowcount > 0

    def list_free_channels(self, guild_id: int) -> list[int]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT channel_id FROM free_response_channels WHERE guild_id = ? "
                "ORDER BY channel_id",
                (int(guild_id),),
            ).fetchall()
        return [c for (c,) in rows]

    def is_free_channel(
        self, guild_id: int, channel_id: int, *, parent_id: int | None = None
    ) -> bool:
        """Whether every message in this channel is a question (a thread: its parent's)."""
        free = set(self.list_free_channels(guild_id))
        return channel_id in free or (parent_id is not None and parent_id in free)

    def thread_questions(self, thread_id: int) -> list[str] | None:
        """The questions asked so far in a thread opened on one of our answers, oldest first
        (the answer's question, then those answered inside it); None for any other channel.
        A thread started from a message shares its id, so the opening answer is the one
        whose message id is the thread's."""
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT question FROM answers WHERE message_id = ? ORDER BY rowid LIMIT 1",
                (int(thread_id),),
            ).fetchone()
            if row is None:
                return None
            inside = conn.execute(
                "SELECT question FROM answers WHERE channel_id = ? ORDER BY rowid",
                (int(thread_id),),
            ).fetchall()
        return [row[0], *(q for (q,) in inside)]

    # ------------------------------------------------------------------ answers

    def save_answer(
        self,
        key: str,
        answer: Answer,
        *,
        context: str | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        message_id: int | None = None,
    ) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO answers (key, question, context, answer_json, guild_id, "
                "channel_id, user_id, message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET question = excluded.question, "
                "context = excluded.context, answer_json = excluded.answer_json, "
                "guild_id = excluded.guild_id, channel_id = excluded.channel_id, "
                "user_id = excluded.user_id, message_id = excluded.message_id, "
                "created_at = excluded.created_at",
                (
                    key,
                    answer.question,
                    context,
                    answer_to_json(answer),
                    guild_id,
                    channel_id,
                    user_id,
                    message_id,
                    now_iso(),
                ),
            )
            # keep the table bounded: drop the oldest beyond keep_answers
            conn.execute(
                "DELETE FROM answers WHERE rowid <= (SELECT rowid FROM answers "
                "ORDER BY rowid DESC LIMIT 1 OFFSET ?)",
                (self.keep_answers,),
            )

    def set_answer_message(self, key: str, message_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE answers SET message_id = ? WHERE key = ?", (message_id, key))

    def get_answer(self, key: str) -> StoredAnswer | None:
        return self._one_answer("key = ?", (key,))

    def answer_for_message(self, message_id: int) -> StoredAnswer | None:
        return self._one_answer("message_id = ?", (int(message_id),))

    def _one_answer(self, where: str, args: tuple) -> StoredAnswer | None:
        with self.db.reading() as conn:
            row = conn.execute(
                "SELECT key, question, context, answer_json, guild_id, channel_id, user_id, "
                f"message_id, created_at FROM answers WHERE {where} ORDER BY rowid DESC LIMIT 1",
                args,
            ).fetchone()
        if row is None:
            return None
        key, question, context, blob, gid, cid, uid, mid, created = row
        return StoredAnswer(
            key, question, context, answer_from_json(blob), gid, cid, uid, mid, created
        )

    # ------------------------------------------------------------------ feedback

    def record_feedback(
        self,
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        question: str,
        answer: str,
        helpful: bool,
        answer_key: str | None = None,
    ) -> bool:
        """Store a vote; one per user and answer (a second click replaces the first).

        Returns True for a new vote, False when an earlier vote was replaced.
        """
        with self.db.transaction() as conn:
            if answer_key is not None:
                cur = conn.execute(
                    "UPDATE feedback SET helpful = ?, created_at = ? "
                    "WHERE answer_key = ? AND user_id = ?",
                    (int(helpful), now_iso(), answer_key, int(user_id)),
                )
                if cur.rowcount:
                    return False
            conn.execute(
                "INSERT INTO feedback (guild_id, channel_id, user_id, question, answer, helpful, "
                "created_at, answer_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    guild_id,
                    channel_id,
                    int(user_id),
                    question,
                    answer,
                    int(helpful),
                    now_iso(),
                    answer_key,
                ),
            )
            return True

    def list_feedback(self, limit: int = 50, *, guild_id: int | None = None) -> list[Feedback]:
        """The newest feedback first (optionally one server's only)."""
        sql = (
            "SELECT id, guild_id, channel_id, user_id, question, answer, helpful, created_at, "
            "answer_key FROM feedback"
        )
        args: tuple = ()
        if guild_id is not None:
            sql += " WHERE guild_id = ?"
            args = (int(guild_id),)
        sql += " ORDER BY id DESC LIMIT ?"
        with self.db.reading() as conn:
            rows = conn.execute(sql, (*args, int(limit))).fetchall()
        return [Feedback(i, g, c, u, q, a, bool(h), t, k) for (i, g, c, u, q, a, h, t, k) in rows]


def channel_allowed(
    channel_id: int,
    allowed: Sequence[int],
    denied: Sequence[int],
    default_channels: Sequence[int],
    *,
    parent_id: int | None = None,
) -> bool:
    """The channel rule logic on plain lists (see the module docstring)."""
    allowed_set, denied_set = set(allowed), set(denied)
    for cid in (channel_id, parent_id):
        if cid is None:
            continue
        if cid in denied_set:
            return False
        if cid in allowed_set:
            return True
    if allowed_set:
        return False
    if default_channels:
        return channel_id in default_channels or (
            parent_id is not None and parent_id in default_channels
        )
    return True


#: The SQLite file of the bot's state, in the data directory.
BOT_DB_NAME = "bot.sqlite3"


def open_guild_settings(
    settings: StoreSettings, *, store: Store | None = None, keep_answers: int = 20_000
) -> GuildSettings:
    """The bot's state where `settings` keep the store: the SQLite file BOT_DB_NAME in the
    data directory, or the store's PostgreSQL database (through `store`'s connection pool
    when given, else a small pool of its own, closed by `close`)."""
    if settings.backend.backend == "postgres":
        from bot.guilds.postgres import PgGuildDatabase  # psycopg loads only when used

        return GuildSettings(PgGuildDatabase.for_store(settings, store), keep_answers=keep_answers)
    from bot.guilds.sqlite import SqliteGuildDatabase

    return GuildSettings(
        SqliteGuildDatabase(Path(settings.data_dir) / BOT_DB_NAME), keep_answers=keep_answers
    )
