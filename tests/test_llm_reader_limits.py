"""The LLM reader against endpoints that misbehave on the wire or leak: a real HTTP server
(tests/llm_server.FaultProxy, nothing behind it) scripted to trickle its reply a byte at a
time, or to put the API key in its reply."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from bot.cli import cli
from index.embedding import HashingEmbedder
from tests.conftest import ROOT
from tests.discord_e2e_helpers import ARTICLES
from tests.llm_server import MODEL_NAME, Fault
from tests.test_llm_reader import (
    FLOODS_QUESTION,
    RATES_QUESTION,
    assert_fell_back,
    extractive_answer,
    llm_engine,
    timed_ask,
)

# the trickled reply: a grounded answer, so that only the time can stop it
GROUNDED = "More than 1,100 people have died since June [1]."


def wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --------------------------------------------------------------------------- trickling


def test_a_trickling_endpoint_is_cut_off_at_timeout_s_and_frees_its_slot(tmp_path, bare_proxy):
    """One byte every 0.2 s (the reply would take over a minute): the answer is the extractive
    one at timeout_s, the connection is closed then (the server sees the client hang up), and
    with max_concurrent = 1 the next question gets the slot and reaches the endpoint instead of
    finding "all 1 LLM calls were busy"."""
    bare_proxy.fault = Fault("trickle", text=GROUNDED, delay_s=0.2)
    expected = extractive_answer(tmp_path, FLOODS_QUESTION)
    with llm_engine(tmp_path, bare_proxy.base_url, timeout_s=2.0, max_concurrent=1) as engine:
        answer, elapsed = timed_ask(engine, FLOODS_QUESTION)
        assert_fell_back(answer, expected, "no reply within 2 s")
        assert elapsed < 2.0 + 3.0, elapsed
        # the call ended with the time: the endpoint's connection is closed
        assert wait_for(lambda: bare_proxy.in_flight == 0, 1.0), "the call still holds on"
        second = engine.ask(FLOODS_QUESTION)
    assert second.fallback == "no reply within 2 s"  # not "all 1 LLM calls were busy"
    assert len(bare_proxy.seen) == 2
    assert bare_proxy.max_in_flight == 1


def test_newsbot_ask_exits_right_after_answering_from_a_trickling_endpoint(
    tmp_path, bare_proxy, monkeypatch
):
    """`newsbot ask` in its own process: it prints the extractive answer and exits within
    seconds of timeout_s, not when the trickling reply would have ended (over a minute)."""
    monkeypatch.setattr("bot.engine.make_embedder", lambda settings: HashingEmbedder())
    config = tmp_path / "llm.toml"
    config.write_text(
        "[answer]\nmin_similarity = 0.0\nmin_score = -100.0\n"
        '[reader]\nkind = "llm"\n'
        f'[llm]\nbase_url = "{bare_proxy.base_url}"\nmodel = "{MODEL_NAME}"\ntimeout_s = 2\n'
    )
    rates = tmp_path / "rates.txt"
    rates.write_bytes(ARTICLES["rates.txt"])
    base = ["--config", str(config), "--data-dir", str(tmp_path / "data")]
    added = CliRunner().invoke(cli, [*base, "index", "add", str(rates)], catch_exceptions=False)
    assert added.exit_code == 0, added.output
    bare_proxy.fault = Fault("trickle", text="It raised it to 5.25 percent [1].", delay_s=0.2)
    # the same command line, in a fresh process with the test embedder
    script = (
        "import bot.engine, index.embedding;"
        "bot.engine.make_embedder = lambda settings: index.embedding.HashingEmbedder();"
        "from bot.cli import main; main()"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script, *base, "ask", "--json", RATES_QUESTION],
        capture_output=True, text=True, cwd=ROOT, timeout=200,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["reader"], data["fallback"]) == ("extractive", "no reply within 2 s")
    # imports and the store take a few seconds on a loaded machine; the reply would take 60+
    assert elapsed < 2.0 + 40.0, elapsed


# --------------------------------------------------------------------------- the key


KEY_ENV = "NEWSBOT_TEST_LLM_KEY"
KEY = "key-QbWmXvRtLpZsNcYd"  # not sk-like: the configured key is scrubbed whatever it is


@pytest.mark.parametrize("leak", [
    # the configured key, inside a sentence that otherwise passes the check
    "More than 1,100 people have died since June {key} [1].",
    # any sk- token, configured or not
    "More than 1,100 people have died since June sk-proj-QfWmXcLwAbNzTRs [1].",
])
def test_a_key_in_the_reply_is_never_shown(tmp_path, bare_proxy, monkeypatch, leak):
    monkeypatch.setenv(KEY_ENV, KEY)
    text = leak.format(key=KEY)
    with llm_engine(tmp_path, bare_proxy.base_url, api_key_env=KEY_ENV, timeout_s=10.0) as engine:
        shown = engine.read(FLOODS_QUESTION, reader=engine.extractive).retrieved
        n = next(i for i, r in enumerate(shown, 1) if "1,100" in r.text)
        bare_proxy.fault = Fault("answer", text=text.replace("[1]", f"[{n}]"))
        answer = engine.ask(FLOODS_QUESTION)
    assert bare_proxy.seen[0].headers["authorization"] == f"Bearer {KEY}"
    dumped = json.dumps(answer.to_json()) + repr(answer)
    assert KEY not in dumped and "sk-proj-QfWmXcLwAbNzTRs" not in dumped
    # the sentence that held it is not shown as the model's: the extractive answer is given
    assert answer.reader == "extractive", answer.answer
    assert answer.fallback is not None and "secret" in answer.fallback
