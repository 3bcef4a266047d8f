"""Typed settings for the user-facing parts (Discord, logging); the store's are in index."""

from __future__ import annotations

from dataclasses import dataclass, field

from index.settings import StoreSettings


@dataclass(frozen=True)
class DiscordSettings:
    token: str | None = None  # DISCORD_TOKEN in the environment wins over the config file
    allow_dms: bool = False
    # role ids (never names: anyone who may create roles could copy one) that may use /news
    # besides members with Manage Server
    admin_roles: tuple[int, ...] = ()
    channels: tuple[int, ...] = ()  # default channels to answer in; empty: every channel it sees
    cooldown_s: float = 10.0  # per user, between questions
    max_concurrent: int = 4  # questions answered at once; more wait in the queue
    queue_size: int = 32  # questions waiting for a slot at most; more get "busy, try again"
    queue_wait_s: float = 5.0  # a question waits this long at most, then "busy, try again"
    # a question not answered this long after it came (its wait for a slot included) gets
    # "that took too long; try again" and its slot back (a frozen database server)
    answer_timeout_s: float = 30.0
    max_attachment_bytes: int = 2_000_000
    test_guild_id: int | None = None  # `newsbot sync` without --guild syncs here if set
    # the privileged Message Content intent (enable it in the developer portal too); only
    # free-response channels need it
    message_content: bool = False


READER_KINDS = ("extractive", "learned", "span", "llm")
# The reader of a config that names none, and the one the LLM reader falls back to.
DEFAULT_READER = "extractive"


@dataclass(frozen=True)
class ReaderSettings:
    # "extractive": sentences copied from the passages, chosen by hand-set rules
    # (bot/reader/rules.py, bot/reader/ranking.py); "learned": the same sentences chosen, and
    # declines decided, by a model trained on news quizzes (bot/reader/learned/); "span": the
    # sentence holding the answer a trained span reader finds leads, and its score decides
    # whether to answer (bot/reader/learned/span_lead.py); "llm": an
    # OpenAI-compatible chat model writes the answer, every citation checked
    # (bot/reader/llm/reader.py)
    kind: str = DEFAULT_READER


@dataclass(frozen=True)
class LLMSettings:
    """The chat-completions endpoint of [reader] kind = "llm"."""

    base_url: str = ""  # e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1
    model: str = ""
    api_key_env: str = ""  # the NAME of the environment variable holding the key; "": no key
    timeout_s: float = 20.0  # the whole call, after which the extractive answer is given
    max_tokens: int = 200
    temperature: float = 0.0
    max_concurrent: int = 2  # calls in flight at once; a question finding none free waits
    # (within timeout_s) and then gets the extractive answer


@dataclass(frozen=True)
class FollowSettings:
    """How followed feeds are polled (bot/feeds/following.py)."""

    interval_minutes: int = 60  # a feed followed without `every`; never under 5 minutes
    max_backoff_minutes: int = 360  # the longest wait after failures in a row
    jitter: float = 0.1  # each wait is stretched or shrunk by up to this fraction, at random
    failing_after: int = 3  # failures in a row before a feed is reported as failing
    max_feeds_per_cycle: int = 20  # feeds fetched in one polling cycle, at most
    max_entries_per_poll: int = 50  # new entries read from one feed in one poll, at most
    check_every_s: float = 30.0  # how often `newsbot run` / `newsbot follow` look for due feeds
    in_run: bool = True  # poll inside `newsbot run` (off: leave it to `newsbot follow`)


@dataclass(frozen=True)
class Config:
    store: StoreSettings = field(default_factory=StoreSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    log_level: str = "INFO"
    reader: ReaderSettings = field(default_factory=ReaderSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    follow: FollowSettings = field(default_factory=FollowSettings)
