"""Config: where it is read from, defaults, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import config_from_dict, load_config
from index.errors import ConfigError
from tests.conftest import ROOT


def test_example_config_is_valid_and_equals_the_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("NEWSBOT_DATABASE_URL", raising=False)
    example = load_config(ROOT / "config.example.toml")
    defaults = config_from_dict({})
    assert example.store.backend == defaults.store.backend
    assert example.store.model == defaults.store.model
    assert example.store.ner == defaults.store.ner
    assert example.store.chunk == defaults.store.chunk
    assert example.store.index == defaults.store.index
    assert example.store.fetch == defaults.store.fetch
    assert example.store.search == defaults.store.search
    assert example.store.answer == defaults.store.answer
    assert example.discord == defaults.discord
    assert example.reader == defaults.reader and example.llm == defaults.llm
    assert example.follow == defaults.follow
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
        (
            {"store": {"statement_timeout_s": 0.01}},
            "store.statement_timeout_s: must be seconds from 0.1 to 3600, or 0 for no limit",
        ),
        ({"store": {"statement_timeout_s": "10s"}}, "store.statement_timeout_s: must be a number"),
        ({"discord": {"answer_timeout_s": 0}}, "discord.answer_timeout_s: must be seconds from 1"),
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


LLM_ON = {"reader": {"kind": "llm"}, "llm": {"base_url": "http://127.0.0.1:8080/v1", "model": "m"}}


def test_the_llm_reader_settings_are_read_and_checked():
    config = config_from_dict({**LLM_ON, "llm": {**LLM_ON["llm"], "api_key_env": "MY_KEY",
                                                 "timeout_s": 5, "max_concurrent": 3}})
    assert config.reader.kind == "llm"
    assert (config.llm.base_url, config.llm.model, config.llm.api_key_env) == (
        "http://127.0.0.1:8080/v1", "m", "MY_KEY"
    )
    assert (config.llm.timeout_s, config.llm.max_tokens, config.llm.temperature) == (5.0, 200, 0)
    assert config.llm.max_concurrent == 3
    assert config_from_dict({}).reader.kind == "extractive"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"reader": {"kind": "gpt"}},
         "reader.kind: must be one of extractive, learned, span, llm, not 'gpt'"),
        ({"reader": {"kind": "llm"}}, 'llm.base_url: must be set when [reader] kind = "llm"'),
        ({"reader": {"kind": "llm"}, "llm": {"base_url": "http://x/v1"}},
         'llm.model: must be set when [reader] kind = "llm"'),
        ({"llm": {"base_url": "localhost:8080"}},
         "llm.base_url: must be an http:// or https:// URL"),
        ({"llm": {"timeout_s": 0}}, "llm.timeout_s: must be a number of seconds above 0"),
        ({"llm": {"max_tokens": 0}}, "llm.max_tokens: must be a whole number from 1 to 8192"),
        ({"llm": {"temperature": 3}}, "llm.temperature: must be a number from 0 to 2"),
        ({"llm": {"max_concurrent": 0}}, "llm.max_concurrent: must be a whole number from 1"),
        ({"llm": {"api_key": "x"}}, "llm.api_key: unknown setting"),
    ],
)
def test_bad_llm_reader_settings_name_the_key(raw, message):
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("pasted", ["sk-proj-abc123secret", 12345678])
def test_a_key_pasted_where_its_variable_name_belongs_is_not_repeated(pasted):
    with pytest.raises(ConfigError) as info:
        config_from_dict({"llm": {"api_key_env": pasted}})
    assert str(info.value).startswith("llm.api_key_env: must be")
    assert str(pasted) not in str(info.value)


def test_the_store_backend_is_read_and_the_environment_url_wins(monkeypatch):
    monkeypatch.delenv("NEWSBOT_DATABASE_URL", raising=False)
    assert config_from_dict({}).store.backend.backend == "sqlite"
    raw = {"store": {"backend": "postgres", "url": "postgresql://bot@db.example.org/news"}}
    assert config_from_dict(raw).store.backend.url == "postgresql://bot@db.example.org/news"
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", "postgresql://bot:pw@other/news")
    assert config_from_dict(raw).store.backend.url == "postgresql://bot:pw@other/news"
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError, match="NEWSBOT_DATABASE_URL: must be a PostgreSQL URL"):
        config_from_dict(raw)


def test_postgres_needs_a_url_and_a_bad_url_is_not_repeated(monkeypatch):
    monkeypatch.delenv("NEWSBOT_DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match=r"\[store\] url: must be set"):
        config_from_dict({"store": {"backend": "postgres"}})
    with pytest.raises(ConfigError, match=r"store\.backend: must be one of sqlite, postgres"):
        config_from_dict({"store": {"backend": "mongo"}})
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"store": {"url": "http://user:hunter2@db/news"}})
    assert "store.url" in str(caught.value) and "hunter2" not in str(caught.value)
