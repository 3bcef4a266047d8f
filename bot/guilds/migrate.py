"""The bot's own state (bot.sqlite3) as one part of `newsbot migrate` (index/migrate.py).

Copied into the tables bot/guilds/postgres.py keeps, inside the migration's one transaction,
and counted on both sides: server settings, stored answers (in the order they were saved,
which follow-ups in threads read) and feedback (with its ids). A data directory without
bot.sqlite3 copies nothing (a store that never ran the Discord bot).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bot.guilds.postgres import PgGuildDatabase
from bot.guilds.settings import BOT_DB_NAME
from bot.guilds.sqlite import SqliteGuildDatabase
from index.migrate import Progress, Tally

# (table, columns copied as they are, what its count is called)
TABLES: list[tuple[str, str, str]] = [
    ("channel_rules", "guild_id, channel_id, allowed", "channel rules"),
    ("asker_roles", "guild_id, role_id", "asker roles"),
    ("search_options", "guild_id, search_shared", "search options"),
    ("guild_options", "guild_id, thread_per_question", "thread options"),
    ("free_response_channels", "guild_id, channel_id", "free channels"),
    ("answers", "rowid, key, question, context, answer_json, guild_id, channel_id, user_id,"
                " message_id, created_at", "stored answers"),
    ("feedback", "id, guild_id, channel_id, user_id, question, answer, helpful, created_at,"
                 " answer_key", "feedback"),
]
BATCH = 2000


class GuildSettingsPart:
    """bot.sqlite3 of the data directory, into the bot's tables of the target database."""

    name = "bot settings"

    def __init__(self, source: Path, target: Any) -> None:
        self.source = source
        # The target's bot tables, before the copy's transaction needs them.
        PgGuildDatabase(target.pool).migrate()

    def has_rows(self) -> bool:
        if not self.source.exists():
            return False
        SqliteGuildDatabase(self.source).migrate()  # an older file: its tables as they are now
        src = sqlite3.connect(self.source)
        try:
            return any(self._count(src, table) for table, _, _ in TABLES)
        finally:
            src.close()

    def holds(self, tx) -> list[str]:  # type: ignore[no-untyped-def]
        found = []
        for table, _, what in TABLES:
            n = int(tx.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            if n:
                found.append(f"{n} {what}")
        return found

    def clear(self, tx) -> None:  # type: ignore[no-untyped-def]
        for table, _, _ in TABLES:
            tx.execute(f"DELETE FROM {table}")

    def copy(self, tx, progress: Progress) -> list[Tally]:  # type: ignore[no-untyped-def]
        if not self.source.exists():
            return [Tally(what, 0, self._count(tx, table)) for table, _, what in TABLES]
        SqliteGuildDatabase(self.source).migrate()  # an older file: its tables as they are now
        src = sqlite3.connect(self.source, isolation_level=None)
        try:
            src.execute("BEGIN")  # one snapshot of the file for the copy and its counts
            for table, columns, what in TABLES:
                self._copy_table(src, tx, table, columns, what, progress)
            # New ids go on after the copied ones (feedback's AUTOINCREMENT never reuses one).
            seq = src.execute("SELECT seq FROM sqlite_sequence WHERE name = 'feedback'").fetchone()
            last_feedback = max(int(seq[0]) if seq else 0, self._count(
                src, "feedback", "COALESCE(MAX(id), 0)"))
            last_answer = self._count(src, "answers", "COALESCE(MAX(rowid), 0)")
            for table, column, last in (("feedback", "id", last_feedback),
                                        ("answers", "rowid", last_answer)):
                if last > 0:
                    tx.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                               " ?, true)", (last,))
            tallies = [Tally(what, self._count(src, table), self._count(tx, table))
                       for table, _, what in TABLES]
            src.execute("ROLLBACK")
            return tallies
        finally:
            src.close()

    def committed(self) -> None:
        pass

    @staticmethod
    def _count(conn, table: str, what: str = "COUNT(*)") -> int:  # type: ignore[no-untyped-def]
        return int(conn.execute(f"SELECT {what} FROM {table}").fetchone()[0])

    def _copy_table(  # type: ignore[no-untyped-def]
        self, src: sqlite3.Connection, tx, table: str, columns: str, what: str,
        progress: Progress,
    ) -> None:
        total, done = self._count(src, table), 0
        progress(f"copying {what}", 0, total)
        cur = src.execute(f"SELECT {columns} FROM {table} ORDER BY rowid")
        with tx.raw.cursor() as pg, pg.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:
            while rows := cur.fetchmany(BATCH):
                for row in rows:
                    cp.write_row(row)
                done += len(rows)
                progress(f"copying {what}", done, total)


def guild_settings_part(conn: sqlite3.Connection, data_dir: Path, target: Any) -> GuildSettingsPart:
    """index/migrate.py's part factory: (the store's read connection, the data directory,
    the target PgDatabase)."""
    return GuildSettingsPart(Path(data_dir) / BOT_DB_NAME, target)
