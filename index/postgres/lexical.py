"""The lexical half of a search on PostgreSQL: the passages' weighted full text (`tsv`) and a
BM25-like ranking over its GIN index, bounded so that few rows are scored (FTS5's job in the
SQLite store, index/sqlite/lexical.py)."""

from __future__ import annotations

import math

from index.models import PassageFilter, TermStats
from index.postgres.schema import TS_CONFIG
from index.sqlite.lexical import _FTS_TOKEN

# The lexical search's bound (PgDatabase.lexical_search): the rarest words are searched alone
# while they hold at most this many passages together; the rest only in pairs, at most this
# many of them (45 pairs).
RARE_ROWS = 3000
PAIRED_WORDS = 10
COUNTED_ROWS = 10_000  # a word's passages counted up to this when no counts are given


def tsv_sql(title: str, text: str) -> str:
    """A passage's weighted full text from the SQL expressions of its article's title and its
    text (title A, text B: the lexical search weighs a title word half); every writer of
    `tsv` uses this."""
    return (
        f"setweight(to_tsvector('{TS_CONFIG}', {title}), 'A')"
        f" || setweight(to_tsvector('{TS_CONFIG}', {text}), 'B')"
    )


_TSV = tsv_sql("?", "?")
TITLE_OR_EMPTY = "COALESCE(a.title, '')"  # tsv_sql's title over a join with articles `a`


class PgLexical:
    """Full-text search (a part of `PgDatabase`, whose connections it uses)."""

    needs_term_stats = True

    def lexical_search(
        self, terms: list[str], limit: int, where: PassageFilter | None = None,
        stats: TermStats | None = None,
    ) -> list[tuple[int, float]]:
        """Passages holding `terms`, ranked as FTS5's BM25 ranks them, bounded so that the
        GIN index keeps the rows to score few; (passage id, score), best first.

        A passage scores the sum of the inverse passage frequency (BM25's) of the words it
        holds, a word only in its article's title half as much (FTS5's column weights).
        That is BM25 with each word counted once and no length normalisation: news passages
        are short and seldom repeat a word. `ts_rank_cd`, which ranked here before, weighs
        every word alike and read every passage holding any of them (~20,000 rows a question
        at 200,000 passages); see "The PostgreSQL lexical half, bounded" in
        benchmarks/README.md.

        Scored are the passages holding one of the rarest words (taken rarest first while
        they hold at most RARE_ROWS passages together, the rarest always), or two of the
        others: a passage holding one common word and nothing rarer would rank below
        nearly all of those. `stats` are the searcher's counts (else counted here); a word
        no passage holds is left out. `where` restricts the passages inside the query."""
        words = list(dict.fromkeys(t for term in terms for t in _FTS_TOKEN.findall(term)))
        if not words:
            return []
        stats = stats if stats is not None else self._term_stats(words)
        df = {w: stats.frequencies.get(w) for w in words}
        missing = [w for w, n in df.items() if n is None]
        if missing:
            df.update(self._term_stats(missing).frequencies)
        words = sorted((w for w in words if df[w]), key=lambda w: (df[w], w))
        if not words:
            return []
        n = max(stats.passages, max(df.values()))  # type: ignore[type-var]
        score_sql, score_params = [], []
        for w in words:
            idf = math.log(1.0 + (n - df[w] + 0.5) / (df[w] + 0.5))  # type: ignore[operator]
            score_sql.append(
                f"CASE WHEN p.tsv @@ to_tsquery('{TS_CONFIG}', ? || ':B') THEN {idf:.6f}"
                f" WHEN p.tsv @@ to_tsquery('{TS_CONFIG}', ? || ':A') THEN {idf / 2:.6f}"
                " ELSE 0 END"
            )
            score_params += [w, w]
        rare, rows = [words[0]], df[words[0]]
        for w in words[1:]:
            rows += df[w]  # type: ignore[operator]
            if rows > RARE_ROWS:  # type: ignore[operator]
                break
            rare.append(w)
        common = words[len(rare) :][:PAIRED_WORDS]
        one = f"plainto_tsquery('{TS_CONFIG}', ?)"
        match = [one] * len(rare) + [f"({one} && {one})"] * (len(common) * (len(common) - 1) // 2)
        match_params = list(rare)
        for i, a in enumerate(common):
            for b in common[i + 1 :]:
                match_params += [a, b]
        sql = (
            f"SELECT p.id, {' + '.join(score_sql)} AS score FROM passages p"
            f" WHERE p.tsv @@ ({' || '.join(match)})"
        )
        params: list[object] = [*score_params, *match_params]
        if where is not None:
            sql += f" AND {where.condition}"
            params += where.params
        found = self.connection().execute(
            sql + " ORDER BY score DESC, p.id LIMIT ?", (*params, limit)
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in found]

    def _term_stats(self, words: list[str]) -> TermStats:
        """Each word's passages counted here (up to COUNTED_ROWS), for a caller that has no
        counts of its own."""
        return TermStats(
            self.counts()[1], {w: self.match_count(w, COUNTED_ROWS) for w in words}
        )

    def match_count(self, word: str, limit: int) -> int:
        return int(self.connection().execute(
            "SELECT count(*) FROM (SELECT 1 FROM passages"
            f" WHERE tsv @@ plainto_tsquery('{TS_CONFIG}', ?) LIMIT ?) s",
            (word, limit),
        ).fetchone()[0])  # type: ignore[index]
