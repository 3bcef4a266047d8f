"""One real bot process for the multi-process tests: `python -m tests.bot_process PARAMS`.

PARAMS is JSON: {"config": the config as a dict (what a config file holds), "data_dir",
"api_base" (the Discord emulator's), "shards", "shard_count"}. It runs what `newsbot run
--shards S --shard-count N` runs (run_bot_async, the feed poller inside it), on the hashing
test embedder (the model the test's store was built with) and pointed at the emulator, until
it is stopped (SIGINT: as Ctrl-C) or killed.
"""

from __future__ import annotations

import asyncio
import json
import sys

from bot.config import config_from_dict
from bot.discord_app.sharding import parse_shards
from bot.discord_app.startup import run_bot_async
from bot.engine import NewsEngine
from index.embedding import HashingEmbedder


def main(params: dict) -> None:
    config = config_from_dict(params["config"], data_dir=params["data_dir"])
    shards = parse_shards(params["shards"], params["shard_count"])
    engine = NewsEngine(config, embedder=HashingEmbedder())
    try:
        asyncio.run(run_bot_async(config, engine, api_base=params["api_base"], shards=shards))
    except KeyboardInterrupt:
        pass
    finally:
        engine.close()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
