"""What every command group of the command line shares: the consoles, the per-run State
(config and engine), the progress bar, the checks of text arguments and collection names,
and the ingest report. Every module of bot/cli/ imports it; it imports none of them.

Errors the user can act on (NewsbotError and its kinds) are raised as such and become one
line on stderr with a non-zero exit in bot/cli/__init__.py's `main`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot.config import load_config
from bot.engine import IngestReport, NewsEngine
from bot.settings import Config
from index.collections import SHARED, check_name, describe
from index.errors import InputError

# soft_wrap: long paths and URLs stay on one line when output goes to a file or pipe.
# Markup off by default: titles, quotes, answers, paths and error messages come from articles
# and users, and a "[/dim]" in them must print as text. Lines with styling opt in and escape
# what they interpolate.
err = Console(stderr=True, soft_wrap=True, markup=False)
out = Console(soft_wrap=True, markup=False)

EXIT_ERROR = 1


def check_text(value: str, what: str) -> str:
    """`value` when it is valid Unicode text; InputError naming `what` otherwise.

    Python hands over command-line bytes that are not UTF-8 as lone surrogates, which neither
    SQLite nor the question encoder can take: they are refused here, at the edge, in one line.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start]
        byte = f" (byte 0x{ord(bad) - 0xDC00:02x})" if 0xDC80 <= ord(bad) <= 0xDCFF else ""
        raise InputError(
            f"{what}: not valid UTF-8 text{byte} at character {exc.start + 1}"
        ) from None
    return value


class Text(click.ParamType):
    """A text argument (question, source, date, URL, article id) checked by check_text."""

    name = "text"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> object:
        if isinstance(value, str):
            check_text(value, _shown_name(param))
        return value


class SourceRef(click.ParamType):
    """A file or folder (any bytes a file system allows), or a URL (which must be text)."""

    name = "path|url"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> object:
        if isinstance(value, str) and "://" in value[:12]:
            check_text(value, _shown_name(param))
        return value


def _shown_name(param: click.Parameter | None) -> str:
    if param is None:
        return "argument"
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return (param.human_readable_name or "argument").upper()


TEXT = Text()
SOURCE = SourceRef()


def default_seeds_dir() -> Path:
    """`seeds/` of the checkout this package runs from, else ./seeds."""
    beside = Path(__file__).resolve().parents[2] / "seeds"
    return beside if beside.is_dir() else Path("seeds")


def print_report(report: IngestReport, verb: str = "Added") -> None:
    parts = [f"{len(report.added)} added", f"{len(report.updated)} updated"]
    if report.unchanged:
        parts.append(f"{len(report.unchanged)} unchanged")
    parts.append(f"{len(report.skipped)} skipped")
    err.print(f"{verb}: " + ", ".join(parts) + ".")
    for article in report.added:
        err.print(f"  + {escape(article.display_title)} [dim]({article.id})[/dim]",
                  highlight=False, markup=True)
    for article in report.updated:
        err.print(f"  ~ {escape(article.display_title)} [dim]({article.id})[/dim]",
                  highlight=False, markup=True)
    for skipped in report.skipped:
        err.print(f"  [yellow]skipped[/yellow] {escape(skipped.origin)}: {escape(skipped.reason)}",
                  highlight=False, markup=True)


def finish_ingest(report: IngestReport, verb: str) -> None:
    print_report(report, verb)
    if report.changed == 0 and not report.unchanged:
        raise click.exceptions.Exit(EXIT_ERROR)


def _collection_name(ctx: click.Context, param: click.Parameter, value: object) -> object:
    """Checks --collection values as click reads them: a bad name is one line, before the
    model loads."""
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(check_name(v) for v in value)
    return check_name(value)


def collection_option(help_text: str, *, default: str | None = SHARED, multiple: bool = False):
    return click.option(
        "--collection", "collection", metavar="NAME", default=default, multiple=multiple,
        callback=_collection_name, show_default=not multiple and default is not None,
        help=help_text,
    )


def require_collections(engine: NewsEngine, names: tuple[str, ...] | list[str]) -> None:
    """An InputError naming the first of `names` that the store does not have."""
    known = set(engine.collections())
    for name in names:
        if name not in known:
            raise InputError(
                f"--collection: no collection named {name!r}"
                f" (collections: {describe(sorted(known))})"
            )


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
