"""The `newsbot` command line: index, ask, follow feeds, run the Discord bot, evaluate.

One module per command group, each importing only bot/cli/common.py of this package: `index`
(the store), `ask`, `feeds` (and `follow`), `migrate` (to PostgreSQL), `run` (the Discord bot:
run, sync, feedback), `eval` (bot/evaluation/) and `reader` (training the learned reader).
This module assembles them under the root group and runs it: errors the user can act on
(NewsbotError and its kinds) print as one line on stderr with a non-zero exit; a traceback
appears only with --debug.

May import bot.engine, bot.reader, bot.evaluation, bot.feeds, bot.guilds and index/; imports
bot.discord_app only inside `newsbot run` and `newsbot sync`.
"""

from __future__ import annotations

import logging
import sys

import click
from rich.markup import escape

from bot.cli.ask import ask
from bot.cli.common import EXIT_ERROR, State, err
from bot.cli.eval import eval_group
from bot.cli.feeds import feeds_group, follow
from bot.cli.index import index_group
from bot.cli.migrate import migrate
from bot.cli.reader import reader_group
from bot.cli.run import feedback, run, sync
from index.errors import NewsbotError

# Loggers whose records are the product's own (and discord.py's, for `newsbot run`). Every other
# library logs its own view of one input's trouble (trafilatura's "ERROR ... parsed tree length:
# 0" for a page with no article); the one-line skip reason already says it, so their records
# are shown only with --debug.
_OWN_LOGGERS = frozenset({"bot", "index", "newsbot", "discord", "__main__"})


class _OwnLogsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.partition(".")[0] in _OWN_LOGGERS


def setup_cli_logging(debug: bool) -> None:
    """Warnings of our own on stderr; everything, libraries included, with --debug."""
    root = logging.getLogger()
    had_handlers = bool(root.handlers)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not debug and not had_handlers:
        for handler in root.handlers:
            handler.addFilter(_OwnLogsOnly())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Config file (default: $NEWSBOT_CONFIG, else ./config.toml).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="Data directory (overrides data_dir in the config).")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="newsbot")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, data_dir: str | None, debug: bool) -> None:
    """Answer questions about news articles, with numbered citations."""
    ctx.obj = State(config_path, data_dir, debug)
    setup_cli_logging(debug)


for command in (index_group, ask, feeds_group, follow, migrate, feedback, run, sync,
                eval_group, reader_group):
    cli.add_command(command)


def main() -> None:
    debug = "--debug" in sys.argv
    try:
        # Without standalone mode click returns the code of an Exit instead of exiting.
        code = cli.main(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err.print("Aborted.")
        sys.exit(130)
    except NewsbotError as exc:
        if debug:
            err.print_exception()
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, markup=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if debug:
            err.print_exception()
        err.print(
            f"[red]error:[/red] unexpected {escape(type(exc).__name__)}: {escape(str(exc))}"
            " (a bug: please report it; --debug shows the traceback)",
            highlight=False, markup=True,
        )
        sys.exit(EXIT_ERROR)
