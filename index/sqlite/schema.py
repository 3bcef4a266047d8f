"""The SQLite store's schema: numbered migrations, run in order by `Database.migrate`
(index/sqlite/database.py), the `_migrations` table recording which ran."""

from __future__ import annotations

# The tokenizer of `passages_fts` (001_initial): index/sqlite/bm25.py stems questions and new
# passages with a table of its own that must tokenize exactly alike.
FTS_TOKENIZE = "porter unicode61 remove_diacritics 2"

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_initial",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE articles (
            id TEXT PRIMARY KEY,
            url TEXT UNIQUE,
            title TEXT,
            source TEXT,
            published TEXT,
            author TEXT,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            added_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX articles_content_hash ON articles (content_hash);
        CREATE INDEX articles_published ON articles (published);
        CREATE TABLE passages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            text TEXT NOT NULL
        );
        CREATE INDEX passages_article ON passages (article_id, position);
        CREATE VIRTUAL TABLE passages_fts USING fts5 (
            title, text, tokenize = 'porter unicode61 remove_diacritics 2'
        );
        """,
    ),
    (
        "002_embedding_cache",
        """
        CREATE TABLE embedding_cache (
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (model, text_hash)
        ) WITHOUT ROWID;
        """,
    ),
    (
        # Where an article was read from (file path or URL): the trace for untitled articles.
        "003_article_origin",
        "ALTER TABLE articles ADD COLUMN origin TEXT",
    ),
    (
        # Named entities of each passage (index/entities.py), found once when it is written;
        # NULL in stores built before this (they gain them at `newsbot index rebuild`) or with
        # [ner] model = "none". The cache keeps them by passage text, like the vectors.
        "004_passage_entities",
        """
        ALTER TABLE passages ADD COLUMN entities TEXT;
        CREATE TABLE entity_cache (
            model TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            entities TEXT NOT NULL,
            PRIMARY KEY (model, text_hash)
        ) WITHOUT ROWID;
        """,
    ),
    (
        # Which collections hold each article (index/collections.py). A store made before
        # collections existed was the operator's: its articles become the shared collection.
        # `ingests` keeps what each add brought to a collection, for the stats.
        "005_collections",
        """
        CREATE TABLE article_collections (
            collection TEXT NOT NULL,
            article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
            added_at TEXT NOT NULL,
            PRIMARY KEY (collection, article_id)
        ) WITHOUT ROWID;
        CREATE INDEX article_collections_article ON article_collections (article_id);
        INSERT INTO article_collections (collection, article_id, added_at)
            SELECT 'shared', id, added_at FROM articles;
        CREATE TABLE ingests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            collection TEXT NOT NULL,
            at TEXT NOT NULL,
            what TEXT NOT NULL,
            added INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            unchanged INTEGER NOT NULL,
            skipped INTEGER NOT NULL,
            skipped_reasons TEXT NOT NULL
        );
        CREATE INDEX ingests_collection ON ingests (collection, id);
        """,
    ),
    (
        # Story groups (index/stories.py): copies of one story share a story id. Stores made
        # before have no rows here; their articles are grouped on the next write or rebuild.
        "006_story_groups",
        """
        CREATE TABLE story_members (
            article_id TEXT PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
            story_id TEXT NOT NULL,
            shingles INTEGER NOT NULL,
            signature BLOB NOT NULL
        );
        CREATE INDEX story_members_story ON story_members (story_id);
        """,
    ),
    (
        # Followed feeds (index/feedstate.py): one row per feed, its followers (collections),
        # and the entries already read from it.
        "007_followed_feeds",
        """
        CREATE TABLE feeds (
            url TEXT PRIMARY KEY,
            interval_s INTEGER NOT NULL,
            next_due REAL NOT NULL,
            etag TEXT,
            last_modified TEXT,
            last_fetch_at TEXT,
            last_new_at TEXT,
            last_error TEXT,
            last_error_at TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            added_at TEXT NOT NULL
        );
        CREATE INDEX feeds_due ON feeds (next_due);
        CREATE TABLE feed_followers (
            url TEXT NOT NULL REFERENCES feeds (url) ON DELETE CASCADE,
            collection TEXT NOT NULL,
            interval_s INTEGER NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (url, collection)
        );
        CREATE INDEX feed_followers_collection ON feed_followers (collection);
        CREATE TABLE feed_entries (
            url TEXT NOT NULL REFERENCES feeds (url) ON DELETE CASCADE,
            entry TEXT NOT NULL,
            article_id TEXT,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (url, entry)
        ) WITHOUT ROWID
        """,
    ),
    (
        # One URL may be stored more than once: each collection that supplies its own text
        # under a URL gets its own article (index/planning.py `_plan`), so a server is never
        # joined to another's copy by naming its URL. SQLite cannot drop a column's UNIQUE,
        # so the table is copied (every row kept, ids unchanged) with foreign keys off
        # (`_REBUILDS_TABLES`): dropping the old table must not cascade to passages.
        "008_article_url_not_unique",
        """
        CREATE TABLE articles_new (
            id TEXT PRIMARY KEY,
            url TEXT,
            title TEXT,
            source TEXT,
            published TEXT,
            author TEXT,
            text TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            added_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            origin TEXT
        );
        INSERT INTO articles_new (id, url, title, source, published, author, text,
            content_hash, added_at, updated_at, origin)
            SELECT id, url, title, source, published, author, text, content_hash, added_at,
            updated_at, origin FROM articles;
        DROP TABLE articles;
        ALTER TABLE articles_new RENAME TO articles;
        CREATE INDEX articles_content_hash ON articles (content_hash);
        CREATE INDEX articles_published ON articles (published);
        CREATE INDEX articles_url ON articles (url)
        """,
    ),
    (
        # A feed's entries that are not stored yet (index/feedstate.py): how many the last
        # poll left for later (`waiting`), and each entry that failed, retried with back-off.
        "009_feed_backlog",
        """
        ALTER TABLE feeds ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE feed_entry_failures (
            url TEXT NOT NULL REFERENCES feeds (url) ON DELETE CASCADE,
            entry TEXT NOT NULL,
            failures INTEGER NOT NULL,
            next_try REAL NOT NULL,
            last_error TEXT NOT NULL,
            PRIMARY KEY (url, entry)
        ) WITHOUT ROWID
        """,
    ),
]

# Migrations that copy a table others refer to: run with foreign keys off (SQLite ignores
# the pragma inside a transaction), checked with foreign_key_check before they commit.
_REBUILDS_TABLES = {"008_article_url_not_unique"}
