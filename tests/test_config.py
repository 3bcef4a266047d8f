"""Config: where it is read from, defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import config_from_dict, load_config
from index.errors import ConfigError
from tests.conftest import ROOT


def test_example_config_is_valid_and_equals_the_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    example = load_config(ROOT / "config.example.toml")
    defaults = config_from_dict({})
    assert example.store.model == defaults.store.model
    assert example.store.chunk == defaults.store.chunk
    assert example.store.index == defaults.store.index
    assert example.store.fetch == defaults.store.fetch
    assert example.store.search == defaults.store.search
    assert example.store.answer == defaults.store.answer
    assert example.discord == defaults.discord
    # A relative data_dir in a file is beside that file.
    assert example.store.data_dir == ROOT / "data"


def test_lookup_order_flag_then_env_then_local_file(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSBOT_CONFIG", raising=False)
    assert load_config().store.index.type == "flat"  # nothing anywhere: defaults
    Path("config.toml").write_text('[index]\ntype = "hnsw"\n')
    assert load_config().store.index.type == "hnsw"
    env_file = tmp_path / "env.toml"
    env_file.write_text('[index]\ntype = "ivf"\n')
    monkeypatch.setenv("NEWSBOT_CONFIG", str(env_file))
    assert load_config().store.index.type == "ivf"
    flag_file = tmp_path / "flag.toml"
    flag_file.write_text('[index]\ntype = "flat"\n')
    assert load_config(flag_file).store.index.type == "flat"


def test_token_from_environment_wins(monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", "from-env")
    assert config_from_dict({"discord": {"token": "from-file"}}).discord.token == "from-env"
    monkeypatch.delenv("DISCORD_TOKEN")
    assert config_from_dict({"discord": {"token": "from-file"}}).discord.token == "from-file"
    assert config_from_dict({}).discord.token is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"index": {"type": "quantum"}}, "index.type: must be one of flat, hnsw, ivf"),
        ({"model": {"batch_size": 0}}, "model.batch_size: must be a whole number from 1"),
        ({"model": {"batch_size": "big"}}, "model.batch_size: must be a whole number"),
        ({"search": {"topk": 3}}, "search.topk: unknown setting"),
        ({"colour": "blue"}, "colour: unknown setting"),
        ({"discord": {"allow_dms": "yes"}}, "discord.allow_dms: must be true or false"),
        ({"discord": {"channels": [1, "x"]}}, "discord.channels[1]: must be a whole number"),
        ({"discord": "on"}, "discord: must be a table"),
        ({"log_level": "LOUD"}, "log_level: must be one of DEBUG"),
        ({"fetch": {"timeout_s": -1}}, "fetch.timeout_s"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(raw, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config_from_dict(raw)


def test_missing_or_broken_files(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    monkeypatch.setenv("NEWSBOT_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match="NEWSBOT_CONFIG"):
        load_config()
    broken = tmp_path / "broken.toml"
    broken.write_text("data_dir = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


def test_discord_ids_may_be_strings():
    config = config_from_dict({"discord": {"channels": ["123456789012345678"]}})
    assert config.discord.channels == (123456789012345678,)
