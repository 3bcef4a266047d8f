"""`newsbot eval`: the click group the command line mounts (see benchmarks/README.md)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from bot.cli.common import State, progress_bar
from bot.config import load_config
from bot.evaluation.datasets import (
    EvalSet,
    load_articles,
    load_realtimeqa_questions,
    load_rgb,
    load_search_results,
)
from bot.evaluation.runner import EvalReport, eval_engine, evidence_present, format_report, run_eval
from bot.settings import READER_KINDS, Config, ReaderSettings
from index.errors import ConfigError, InputError

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_OUT = click.Path(dir_okay=False, writable=True, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)
_PREDICTIONS_HELP = "Where to write one JSON line a question."
_DATA_DIR_HELP = "Keep the evaluation store and its embedding cache here (default: a temp folder)."
_READER = click.option(
    "--reader", type=click.Choice(READER_KINDS), default=None,
    help="Which reader answers (default: [reader] kind of the config); llm uses its [llm].",
)


def _run(
    ctx: click.Context, data: EvalSet, predictions: Path, data_dir: Path | None,
    use_date: bool, subsets: dict[str, set[str]], summary_json: Path | None,
    reader: str | None = None,
) -> None:

    # The config of `newsbot --config ...` (its data_dir gives way to eval's own --data-dir).
    state = ctx.find_object(State)
    config = state.config if state is not None else load_config(None)
    config = with_reader(config, reader)
    try:
        out = open(predictions, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise InputError(f"cannot write {predictions}: {exc.strerror or exc}") from exc
    with out, eval_engine(config, data_dir) as engine, progress_bar() as progress:
        report = run_eval(engine, data, out, use_date=use_date, subsets=subsets, progress=progress)
    click.echo(f"{data.name}: {len(data.questions)} questions -> {predictions}")
    if data.skipped:
        click.echo(f"skipped {len(data.skipped)} of the {len(data.articles) + len(data.skipped)}"
                   " articles:")
        for skipped in data.skipped:
            click.echo(f"  {skipped.origin}: {skipped.reason}")
    click.echo(format_report(report))
    if summary_json is not None:
        summary_json.write_text(json.dumps(_summary(report), indent=2) + "\n", encoding="utf-8")


def with_reader(config: Config, reader: str | None) -> Config:
    """`config` answering with `reader` (None: as configured); llm needs [llm] set."""
    if reader is None:
        return config
    if reader == "llm":
        for key in ("base_url", "model"):
            if not getattr(config.llm, key):
                raise ConfigError(
                    f"--reader llm: llm.{key} is not set in the config (see config.example.toml)"
                )
    return dataclasses.replace(config, reader=ReaderSettings(kind=reader))


def _summary(report: EvalReport) -> dict:
    b = report.build
    return {
        "build": {**b.__dict__, "passages_per_s": round(b.passages_per_s, 2)},
        "metrics": {name: s.as_dict() for name, s in report.summaries.items()},
        "readers": report.readers,
        "fallbacks": report.fallbacks,
    }


@click.group("eval")
def eval_group() -> None:
    """Measure answer quality on public news QA sets."""


@eval_group.command("realtimeqa")
@click.option("--articles", required=True, type=_FILE,
              help="articles.jsonl (url, title, text, published).")
@click.option("--questions", required=True, type=_FILE,
              help="questions.jsonl; choices/answer are optional and used only for scoring.")
@click.option("--predictions", required=True, type=_OUT, help=_PREDICTIONS_HELP)
@click.option("--data-dir", type=_DIR, default=None, help=_DATA_DIR_HELP)
@click.option("--search-results", type=_FILE, default=None,
              help="search_results.jsonl: also score the questions whose own search results hold "
                   "the gold answer (never used for answering).")
@click.option("--question-date/--no-question-date", default=True, show_default=True,
              help="Answer as of the date each question was asked (a live bot's today).")
@click.option("--summary-json", type=_OUT, default=None, help="Also write the metrics as JSON.")
@_READER
@click.pass_context
def realtimeqa(
    ctx: click.Context, articles: Path, questions: Path, predictions: Path,
    data_dir: Path | None, search_results: Path | None, question_date: bool,
    summary_json: Path | None, reader: str | None,
) -> None:
    """RealTime QA: answer every question from the articles, score against the choices."""
    read = load_articles(articles)
    data = EvalSet("realtimeqa", read.articles, load_realtimeqa_questions(questions), read.skipped)
    subsets: dict[str, set[str]] = {}
    if search_results is not None:
        subsets["evidence-present"] = evidence_present(
            data.questions, data.articles, load_search_results(search_results)
        )
    _run(ctx, data, predictions, data_dir, question_date, subsets, summary_json, reader)


@eval_group.command("rgb")
@click.option("--data", "data_file", required=True, type=_FILE, help="RGB en_fact.jsonl.")
@click.option("--predictions", required=True, type=_OUT, help=_PREDICTIONS_HELP)
@click.option("--data-dir", type=_DIR, default=None, help=_DATA_DIR_HELP)
@click.option("--summary-json", type=_OUT, default=None, help="Also write the metrics as JSON.")
@_READER
@click.pass_context
def rgb(
    ctx: click.Context, data_file: Path, predictions: Path, data_dir: Path | None,
    summary_json: Path | None, reader: str | None,
) -> None:
    """RGB: a store of every question's positive and negative snippets; score the answers."""
    _run(ctx, load_rgb(data_file), predictions, data_dir, False, {}, summary_json, reader)
