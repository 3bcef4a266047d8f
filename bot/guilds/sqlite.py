"""The bot's state in one SQLite file (bot.sqlite3 in the data directory): the default.

Every call opens its own connection (writes are serialised by a lock and BEGIN IMMEDIATE),
so it is safe from any thread; settings survive restarts because they live in the file.
Schema changes are numbered migrations recorded in the `migrations` table; opening the file
applies whichever are missing, so opening again is a no-op.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.models import now_iso

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE channel_rules (
            guild_id   INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            allowed    INTEGER NOT NULL CHECK (allowed IN (0, 1)),
            PRIMARY KEY (guild_id, channel_id)
        );
        CREATE TABLE asker_roles (
            guild_id INTEGER NOT NULL,
            role_id  INTEGER NOT NULL,
            PRIMARY KEY (guild_id, role_id)
        );
        CREATE TABLE feedback (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            guild_id   INTEGER,
            channel_id INTEGER,
            user_id    INTEGER NOT NULL,
            question   TEXT NOT NULL,
            answer     TEXT NOT NULL,
            helpful    INTEGER NOT NULL CHECK (helpful IN (0, 1)),
            created_at TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        """
        CREATE TABLE answers (
            key         TEXT PRIMARY KEY,
            question    TEXT NOT NULL,
            context     TEXT,
            answer_json TEXT NOT NULL,
            guild_id    INTEGER,
            channel_id  INTEGER,
            user_id     INTEGER,
            message_id  INTEGER,
            created_at  TEXT NOT NULL
        );
        CREATE INDEX answers_message ON answers (message_id);
        ALTER TABLE feedback ADD COLUMN answer_key TEXT;
        CREATE UNIQUE INDEX feedback_once ON feedback (answer_key, user_id)
            WHERE answer_key IS NOT NULL;
        """,
    ),
    (
        # Whether a server's questions also search the operator's shared collection.
        3,
        """
        CREATE TABLE search_options (
            guild_id      INTEGER PRIMARY KEY,
            search_shared INTEGER NOT NULL CHECK (search_shared IN (0, 1))
        );
        """,
    ),
    (
        # Ways of asking: thread per question, free-response channels.
        4,
        """
        CREATE TABLE guild_options (
            guild_id            INTEGER PRIMARY KEY,
            thread_per_question INTEGER NOT NULL DEFAULT 0
                                CHECK (thread_per_question IN (0, 1))
        );
        CREATE TABLE free_response_channels (
            guild_id   INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            PRIMARY KEY (guild_id, channel_id)
        );
        CREATE INDEX answers_channel ON answers (channel_id);
        """,
    ),
)


class SqliteGuildDatabase:
    """bot/guilds/settings.py's GuildDatabase in the SQLite file at `path`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._write = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._write:
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()

    def migrate(self) -> list[int]:
        """Apply missing migrations in order; returns the versions applied now."""
        applied: list[int] = []
        with self._write:
            conn = self._connect()
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS migrations "
                    "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                done = {v for (v,) in conn.execute("SELECT version FROM migrations")}
                for version, script in MIGRATIONS:
                    if version in done:
                        continue
                    # executescript commits on its own; wrap each migration in its own transaction
                    conn.executescript(
                        "BEGIN IMMEDIATE;\n"
                        + script
                        + f"\nINSERT INTO migrations (version, applied_at) "
                        f"VALUES ({int(version)}, '{now_iso()}');\nCOMMIT;"
                    )
                    applied.append(version)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                conn.close()
        return applied

    def schema_version(self) -> int:
        with self.reading() as conn:
            (v,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM migrations").fetchone()
        return int(v)

    def close(self) -> None:
        pass  # no connection outlives a call
