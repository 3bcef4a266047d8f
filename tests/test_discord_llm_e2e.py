"""End to end: /ask in Discord (the emulator) answered by the LLM reader on the real
llama-server (tests/llm_server.py), its citations rendered like the extractive reader's."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.discord_app.render.answers import FOLLOW_UP_HINT
from bot.reader.answer import LLM_NOTE
from index.embedding import HashingEmbedder
from tests.conftest import make_fast_config
from tests.discord_e2e_helpers import (
    EDIT_ORIGINAL,
    RATES_TITLE,
    assert_asks_no_pings,
    assert_within_limits,
    build_world,
    e2e_emulator,
    e2e_no_rate_limits_provoked,
    only_embed,
    rejected,
    seeded_bot,
)
from tests.discord_emulator import DiscordEmulator
from tests.llm_server import MODEL_NAME, Fault, FaultProxy, LlamaServer, llama_server
from tests.test_llm_reader import RATES_QUESTION, REAL_TIMEOUT_S

pytestmark = pytest.mark.asyncio(loop_scope="session")
emulator = e2e_emulator  # a fresh emulator per test; its provoked 429s go to the tally
no_rate_limits_provoked = e2e_no_rate_limits_provoked  # autouse: the module fails on any

SOURCES_SPLIT = "\n\n**Sources**\n"


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with llama_server(tmp_path_factory.mktemp("llama")) as server:
        yield server


@pytest.fixture
def proxy(llama: LlamaServer) -> Iterator[FaultProxy]:
    p = FaultProxy(llama.base_url.removesuffix("/v1")).start()
    yield p
    p.stop()


async def test_ask_is_answered_by_the_llm_reader_with_its_citations(
    emulator: DiscordEmulator, tmp_path: Path, proxy: FaultProxy
) -> None:
    world = build_world(emulator)
    config = make_fast_config(
        tmp_path / "data", discord={"cooldown_s": 0}, reader={"kind": "llm"},
        llm={"base_url": proxy.base_url, "model": MODEL_NAME, "timeout_s": REAL_TIMEOUT_S},
    )
    # SmolLM2-135M writes no [n] markers (see test_llm_reader): the real server is asked and
    # the proxy's grounded reply, citing the rates passage by its number, stands in for it
    async with seeded_bot(emulator, config, HashingEmbedder(), world.guild) as bot:
        engine = bot.require_engine()
        shown = engine.read(RATES_QUESTION, reader=engine.extractive).retrieved
        n = next(i for i, r in enumerate(shown, 1) if "5.25 percent" in r.text)
        proxy.fault = Fault("reply", text=f"The central bank raised it to 5.25 percent [{n}].")
        inter = await emulator.invoke_command(
            "ask", user=world.alice, channel=world.general, options={"question": RATES_QUESTION}
        )
        await emulator.wait_for_response(inter, timeout=REAL_TIMEOUT_S + 30)

    # the engine ran off the event loop: the interaction was deferred first, then filled in
    assert inter.callback_type == 5
    assert [kind for kind, _ in inter.log] == ["callback", "edit"]
    assert len(proxy.seen) == 1  # the real model was asked once
    answer = inter.response
    assert_within_limits(answer)
    embed = only_embed(answer)
    lead, _, listing = embed["description"].partition(SOURCES_SPLIT)
    sources = listing.splitlines()
    # the model's checked answer (the footer says a model wrote it), citing the rates article
    # as [1], its sources rendered as the extractive reader's are
    assert "5.25" in lead and re.search(r"\[1\]$", lead.rstrip())
    assert sources[0] == (
        f"**[1]** [{RATES_TITLE}](https://news.example/business/rates) — Business Desk, 2023-08-03"
    )
    assert [line.split()[0] for line in sources] == [
        f"**[{n}]**" for n in range(1, len(sources) + 1)
    ]
    assert embed["footer"]["text"] == f"{LLM_NOTE} {FOLLOW_UP_HINT}"
    assert_asks_no_pings(emulator.requests_to("PATCH", EDIT_ORIGINAL)[-1].json)
    assert rejected(emulator) == []
