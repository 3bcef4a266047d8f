"""`newsbot reader train`: rebuild the learned reader's model from question–answer data."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot.cli.common import progress_bar
from bot.reader.learned.model import MODEL_FILE, sha256
from index.errors import InputError

CARD_FILE = MODEL_FILE.with_name("reader-model.card.json")


@click.group("reader")
def reader_group() -> None:
    """The learned reader's model."""


@reader_group.command("train")
@click.option("--data", "data_dir", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder of questions.jsonl, articles.jsonl and search_results.jsonl in"
                   " RealTime QA's format (e.g. ../shared/data/realtimeqa-train).")
@click.option("--work", "work_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where the training inputs and their embedding cache are kept (a rerun"
                   " resumes from them).")
@click.option("--share", type=click.FloatRange(0.01, 1.0), default=0.25, show_default=True,
              help="Share of the training weeks' questions used (the held-out weeks always are).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--held-out-weeks", type=click.IntRange(1), default=20, show_default=True,
              help="The last question days kept for model selection and calibration.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=MODEL_FILE,
              show_default=True, help="Where the model is written; a card goes beside it.")
def reader_train(
    data_dir: Path, work_dir: Path, share: float, seed: int, held_out_weeks: int, output: Path
) -> None:
    """Build training inputs, fit the model, calibrate it on the held-out weeks."""
    # Training needs what answering never does (torch-free, but spaCy, scikit-learn):
    # imported when run, so `newsbot ask` starts without them. bot.cli mounts this group.
    from bot.reader.learned import data as training_data
    from bot.reader.learned.train import fit, read_records, rules_summary, split_examples
    from index.bert_onnx import OnnxBertEncoder
    from index.embedding import packaged_model_dir
    from index.entities import make_recogniser
    from index.settings import NerSettings

    for name in ("questions.jsonl", "articles.jsonl", "search_results.jsonl"):
        if not (data_dir / name).is_file():
            raise InputError(f"{data_dir}: no {name} (see README, 'The learned reader')")
    encoder = OnnxBertEncoder.load(packaged_model_dir())
    if encoder is None:
        raise InputError("the packaged embedding model could not be loaded")

    def embed(texts: list[str]):  # type: ignore[no-untyped-def]
        import numpy as np

        return np.concatenate([encoder.embed(texts[i : i + 16]) for i in range(0, len(texts), 16)])

    with progress_bar() as progress:
        records_file = training_data.build(
            data_dir, work_dir, embed, make_recogniser(NerSettings()), share=share, seed=seed,
            held_out_weeks=held_out_weeks,
            progress=lambda done, total: progress("building inputs", done, total),
        )
        records = list(read_records(records_file))
        train, held = split_examples(
            records, None, progress=lambda done, total: progress("ranking", done, total),
        )
    if not train or not held:
        raise InputError("need questions of both the training and the held-out weeks")
    model, report = fit(train, held, training_data.READ)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(output)
    card = {
        "model": output.name, "sha256": sha256(output),
        "trained_on": {"data": str(data_dir), "share": share, "seed": seed,
                       "train_questions": len(train), "held_out_questions": len(held),
                       "held_out_weeks": held_out_weeks,
                       "passages_read": training_data.READ},
        "held_out": report["held_out"], "rules_held_out": rules_summary(held),
        "curve": report["curve"],
        "command": f"newsbot reader train --data {data_dir} --work {work_dir} --share {share}"
                   f" --seed {seed} --held-out-weeks {held_out_weeks}",
    }
    output.with_name(output.stem + ".card.json").write_text(json.dumps(card, indent=1) + "\n")
    click.echo(f"model: {output} (sha256 {card['sha256'][:12]}…)")
    click.echo("held-out weeks: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else
                                             f"{k} {v}" for k, v in report["held_out"].items()))

