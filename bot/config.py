"""Reading config.toml into typed settings, with an error that names the key for a bad value.

Where the config comes from: `--config PATH`, else $NEWSBOT_CONFIG, else ./config.toml, else
the built-in defaults. The Discord token may also come from $DISCORD_TOKEN, which wins.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from bot.settings import (
    READER_KINDS,
    Config,
    DiscordSettings,
    FollowSettings,
    LLMSettings,
    ReaderSettings,
)
from index.errors import ConfigError
from index.settings import (
    BACKENDS,
    AnswerSettings,
    BackendSettings,
    ChunkSettings,
    FetchSettings,
    IndexSettings,
    ModelSettings,
    NerSettings,
    SearchSettings,
    StoreSettings,
)
from index.sqlite.vectors import INDEX_TYPES

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Section name -> settings class; the top level holds data_dir and log_level.
SECTIONS: dict[str, type] = {
    "store": BackendSettings,
    "model": ModelSettings,
    "ner": NerSettings,
    "chunking": ChunkSettings,
    "index": IndexSettings,
    "fetch": FetchSettings,
    "search": SearchSettings,
    "answer": AnswerSettings,
    "discord": DiscordSettings,
    "reader": ReaderSettings,
    "llm": LLMSettings,
    "follow": FollowSettings,
}

def _conninfo_problem(text: str) -> str | None:
    from index.postgres.conninfo import problem  # psycopg, only for a PostgreSQL store

    return problem(text)


# Extra rules beyond the type: key -> (check, what is allowed)
_RULES: dict[str, tuple[typing.Callable[[Any], bool], str]] = {
    "store.backend": (lambda v: v in BACKENDS, f"one of {', '.join(BACKENDS)}"),
    "store.url": (
        lambda v: v == "" or _conninfo_problem(v) is None,
        "a PostgreSQL URL, e.g. postgresql://newsbot@db.example.org/newsbot, or a key/value"
        " connection string (host=… dbname=…) that libpq reads",
    ),
    "store.pool_size": (lambda v: 1 <= v <= 100, "a whole number from 1 to 100"),
    "store.statement_timeout_s": (
        lambda v: v == 0 or 0.1 <= v <= 3600, "seconds from 0.1 to 3600, or 0 for no limit"
    ),
    "index.type": (lambda v: v in INDEX_TYPES, f"one of {', '.join(INDEX_TYPES)}"),
    "model.batch_size": (lambda v: 1 <= v <= 4096, "a whole number from 1 to 4096"),
    "ner.model": (lambda v: bool(v.strip()), 'a spaCy pipeline name or folder, or "none"'),
    "ner.batch_size": (lambda v: 1 <= v <= 4096, "a whole number from 1 to 4096"),
    "chunking.max_words": (lambda v: 20 <= v <= 400, "a whole number from 20 to 400"),
    "chunking.overlap_sentences": (lambda v: 0 <= v <= 5, "a whole number from 0 to 5"),
    "search.top_k": (lambda v: 1 <= v <= 20, "a whole number from 1 to 20"),
    "search.candidates": (lambda v: 5 <= v <= 1000, "a whole number from 5 to 1000"),
    "search.per_article": (lambda v: 1 <= v <= 20, "a whole number from 1 to 20"),
    "answer.min_similarity": (lambda v: -1.0 <= v <= 1.0, "a number from -1 to 1"),
    "answer.min_score": (lambda v: -100.0 <= v <= 100.0, "a number from -100 to 100"),
    "answer.lead_max_chars": (lambda v: 80 <= v <= 2000, "a whole number from 80 to 2000"),
    "answer.passages_read": (lambda v: 1 <= v <= 200, "a whole number from 1 to 200"),
    "fetch.timeout_s": (lambda v: 0 < v <= 300, "a number of seconds above 0, at most 300"),
    "fetch.max_bytes": (lambda v: v > 0, "a positive number of bytes"),
    "fetch.feed_timeout_s": (lambda v: 0 < v <= 3600, "a number of seconds above 0, at most 3600"),
    "fetch.max_file_bytes": (lambda v: v > 0, "a positive number of bytes"),
    "discord.cooldown_s": (lambda v: 0 <= v <= 3600, "seconds from 0 to 3600"),
    "index.max_age_days": (lambda v: 0 <= v <= 100_000, "a whole number of days (0: keep all)"),
    "index.max_articles_per_collection": (
        lambda v: 0 <= v <= 100_000_000, "a whole number of articles (0: no cap)"
    ),
    "follow.interval_minutes": (lambda v: 5 <= v <= 10_080, "minutes from 5 to 10080 (a week)"),
    "follow.max_backoff_minutes": (lambda v: 5 <= v <= 10_080, "minutes from 5 to 10080"),
    "follow.jitter": (lambda v: 0 <= v <= 0.5, "a fraction from 0 to 0.5"),
    "follow.failing_after": (lambda v: 1 <= v <= 100, "a whole number from 1 to 100"),
    "follow.max_feeds_per_cycle": (lambda v: 1 <= v <= 1000, "a whole number from 1 to 1000"),
    "follow.max_entries_per_poll": (lambda v: 1 <= v <= 1000, "a whole number from 1 to 1000"),
    "follow.check_every_s": (lambda v: 1 <= v <= 3600, "seconds from 1 to 3600"),
    "discord.max_concurrent": (lambda v: 1 <= v <= 64, "a whole number from 1 to 64"),
    "discord.queue_size": (lambda v: 0 <= v <= 1000, "a whole number from 0 to 1000"),
    "discord.queue_wait_s": (lambda v: 0 <= v <= 60, "seconds from 0 to 60"),
    "discord.answer_timeout_s": (lambda v: 1 <= v <= 600, "seconds from 1 to 600"),
    "discord.admin_roles": (lambda v: all(r > 0 for r in v), "a list of role ids"),
    "reader.kind": (lambda v: v in READER_KINDS, f"one of {', '.join(READER_KINDS)}"),
    "llm.base_url": (
        lambda v: v == "" or re.fullmatch(r"https?://[^\s/]+(/\S*)?", v) is not None,
        "an http:// or https:// URL, e.g. http://127.0.0.1:8080/v1",
    ),
    "llm.api_key_env": (
        lambda v: v == "" or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) is not None,
        "the NAME of an environment variable (letters, digits, _), e.g. OPENAI_API_KEY",
    ),
    "llm.timeout_s": (lambda v: 0 < v <= 600, "a number of seconds above 0, at most 600"),
    "llm.max_tokens": (lambda v: 1 <= v <= 8192, "a whole number from 1 to 8192"),
    "llm.temperature": (lambda v: 0.0 <= v <= 2.0, "a number from 0 to 2"),
    "llm.max_concurrent": (lambda v: 1 <= v <= 64, "a whole number from 1 to 64"),
    "discord.max_attachment_bytes": (
        lambda v: 1 <= v <= 25_000_000,
        "bytes from 1 to 25000000 (Discord's upload limit)",
    ),
}


# Said after a type error in these keys: what the user most likely meant to write.
_HINTS: dict[str, str] = {
    "discord.admin_roles": (
        "admin roles are matched by id only, since anyone who may create roles could copy a "
        "name (Server Settings → Roles → ⋯ → Copy Role ID, with Developer Mode on)"
    ),
}
# Settings whose bad value is not repeated in the error: a key pasted where the NAME of its
# environment variable belongs must not end up in a log.
_SECRET_KEYS = frozenset({"llm.api_key_env", "store.url"})  # a URL may hold a password


def find_config_path(explicit: str | Path | None) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        return path
    env = os.environ.get("NEWSBOT_CONFIG")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"NEWSBOT_CONFIG names {path}, which does not exist")
        return path
    local = Path("config.toml")
    return local if local.is_file() else None


def load_config(explicit: str | Path | None = None, **overrides: Any) -> Config:
    """The effective config; `overrides` (e.g. data_dir) win over the file."""
    path = find_config_path(explicit)
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
    return config_from_dict(raw, base_dir=path.parent if path else None, **overrides)


def config_from_dict(raw: dict[str, Any], base_dir: Path | None = None, **overrides: Any) -> Config:
    raw = dict(raw)
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        table = raw.pop(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: must be a table ([{name}])")
        sections[name] = _build(cls, table, name)
    data_dir = raw.pop("data_dir", "data")
    log_level = raw.pop("log_level", "INFO")
    if raw:
        key = sorted(raw)[0]
        allowed = ", ".join(["data_dir", "log_level", *(f"[{s}]" for s in SECTIONS)])
        raise ConfigError(f"{key}: unknown setting (allowed at the top level: {allowed})")
    if not isinstance(data_dir, str) or not data_dir:
        raise ConfigError("data_dir: must be a folder path (a string)")
    if not isinstance(log_level, str) or log_level.upper() not in LOG_LEVELS:
        raise ConfigError(f"log_level: must be one of {', '.join(LOG_LEVELS)}")
    override_dir = overrides.pop("data_dir", None)
    data_path = Path(override_dir or data_dir).expanduser()
    if override_dir is None and base_dir is not None and not data_path.is_absolute():
        # A relative data_dir in a config file means beside that file, wherever we run from.
        data_path = base_dir / data_path
    discord: DiscordSettings = sections["discord"]
    token = os.environ.get("DISCORD_TOKEN") or discord.token
    discord = dataclasses.replace(discord, token=token or None)
    backend: BackendSettings = sections["store"]
    env_url = os.environ.get("NEWSBOT_DATABASE_URL")
    if env_url:
        problem = _conninfo_problem(env_url)
        if problem:
            raise ConfigError(
                "NEWSBOT_DATABASE_URL: must be a PostgreSQL URL (postgresql://…) or key/value"
                f" connection string (host=… dbname=…) that libpq reads: {problem}"
            )
        backend = dataclasses.replace(backend, url=env_url)
    if backend.backend == "postgres" and not backend.url:
        raise ConfigError(
            '[store] url: must be set when backend = "postgres" (or set NEWSBOT_DATABASE_URL)'
        )
    store = StoreSettings(
        data_dir=data_path,
        backend=backend,
        model=sections["model"],
        ner=sections["ner"],
        chunk=sections["chunking"],
        index=sections["index"],
        fetch=sections["fetch"],
        search=sections["search"],
        answer=sections["answer"],
    )
    reader: ReaderSettings = sections["reader"]
    llm: LLMSettings = sections["llm"]
    if reader.kind == "llm":
        for key in ("base_url", "model"):
            if not getattr(llm, key):
                raise ConfigError(f'llm.{key}: must be set when [reader] kind = "llm"')
    return Config(
        store=store, discord=discord, log_level=log_level.upper(), reader=reader, llm=llm,
        follow=sections["follow"],
    )


def _type_name(tp: Any) -> str:
    names = {int: "a whole number", float: "a number", bool: "true or false", str: "a string"}
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}s"
    return names.get(tp, str(tp))


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: must be {_type_name(tp)}, not {value!r}")
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: must be {_type_name(tp)}, not {value!r}")
        (item_type, *_) = typing.get_args(tp)
        return tuple(_coerce(item_type, v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if tp is int and isinstance(value, str) and value.isdigit():
            return int(value)  # Discord ids are often written as strings
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str and isinstance(value, str):
        return value
    raise ConfigError(f"{key}: must be {_type_name(tp)}, not {value!r}")


def _build(cls: type, table: dict[str, Any], section: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in table.items():
        full = f"{section}.{key}"
        if key not in fields:
            raise ConfigError(f"{full}: unknown setting (allowed: {', '.join(sorted(fields))})")
        secret = full in _SECRET_KEYS
        try:
            coerced = _coerce(hints[key], value, full)
        except ConfigError as exc:
            if secret:
                raise ConfigError(f"{full}: must be {_type_name(hints[key])}") from None
            if full in _HINTS:
                raise ConfigError(f"{exc}; {_HINTS[full]}") from None
            raise
        rule = _RULES.get(full)
        if rule and not rule[0](coerced):
            shown = "" if secret else f", not {value!r}"
            raise ConfigError(f"{full}: must be {rule[1]}{shown}")
        values[key] = coerced
    return cls(**values)
