"""What every command group of the command line shares: the consoles, the per-run State
(config and engine) and the progress bar. bot/cli.py and the groups it mounts
(bot/cli/eval.py, bot/cli/reader.py) import it; it imports none of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.config import load_config
from bot.engine import NewsEngine
from bot.settings import Config

err = Console(stderr=True, soft_wrap=True, markup=False)
out = Console(soft_wrap=True, markup=False)


class State:
    """What every command needs: the config, and the engine made once on first use."""

    def __init__(self, config_path: str | None, data_dir: str | None, debug: bool) -> None:
        self.config_path = config_path
        self.data_dir = data_dir
        self.debug = debug
        self._config: Config | None = None
        self._engine: NewsEngine | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            overrides = {"data_dir": self.data_dir} if self.data_dir else {}
            self._config = load_config(self.config_path, **overrides)
        return self._config

    def engine(self) -> NewsEngine:
        if self._engine is None:
            with err.status("Loading the embedding model…"):
                self._engine = NewsEngine(self.config)
        return self._engine


pass_state = click.make_pass_decorator(State)


@contextmanager
def progress_bar() -> Iterator[callable]:  # type: ignore[valid-type]
    """A progress callback (stage, done, total) drawing rich bars on stderr."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage.capitalize(), total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        yield update
