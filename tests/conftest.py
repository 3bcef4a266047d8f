"""Shared fixtures: a temporary data directory, the fast test embedder, the real model once."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from bot.config import config_from_dict
from bot.engine import NewsEngine
from bot.settings import Config
from index.embedding import HashingEmbedder, SentenceTransformerEmbedder
from index.settings import ModelSettings

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "000_1fcdc2a48f4510a7.txt"
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_config(data_dir: Path, **sections: dict) -> Config:
    """A config for tests: defaults, the given data dir, and section overrides."""
    raw = {k: v for k, v in sections.items()}
    config = config_from_dict(raw, data_dir=str(data_dir))
    return dataclasses.replace(config, discord=dataclasses.replace(config.discord, token=None))


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path / "data")


@pytest.fixture
def hashing_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def fast_engine(config: Config, hashing_embedder: HashingEmbedder):
    """An engine on a temporary store with the deterministic test embedder."""
    engine = NewsEngine(config, embedder=hashing_embedder)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def real_embedder() -> SentenceTransformerEmbedder:
    """The packaged all-MiniLM-L6-v2, loaded once per test session."""
    return SentenceTransformerEmbedder(ModelSettings())


@pytest.fixture
def real_engine(config: Config, real_embedder: SentenceTransformerEmbedder):
    engine = NewsEngine(config, embedder=real_embedder)
    yield engine
    engine.close()


def needs_shared_data() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
