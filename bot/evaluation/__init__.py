"""Quality evaluation on public news QA sets: `newsbot eval realtimeqa` and `newsbot eval rgb`.

`datasets` reads the files, `metrics` scores answers (SQuAD-style normalisation), `runner`
builds a fresh store, answers every question and writes one JSON line per question; the
command group is bot/cli/eval.py.
"""
