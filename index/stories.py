"""Story groups: copies of one story (a wire story on several sites, updated versions of one
report) found at index time, so an answer cites one copy and names the others.

Each article gets a MinHash signature (datasketch) of the set of its 5-word shingles. Two
articles are copies when their shingle sets overlap enough: the share of the smaller set that
the two have in common (containment, estimated from the MinHash Jaccard and both sizes) is at
least MIN_CONTAINMENT, and their Jaccard is at least MIN_JACCARD. Containment rather than
Jaccard alone, because a copy is often cut short or an update adds paragraphs to the first
version; the Jaccard floor keeps a short piece from joining a long one that quotes it.
Candidates come from MinHash LSH (banding), so a new article is compared with the few stored
articles that share a band, not with all of them.

A story is the connected set of articles linked as copies; its id is the smallest article id
in it, so grouping does not depend on the order articles arrived in. Measured against the
passage embeddings on RealTime QA 2025 (benchmarks/stories.py; benchmarks/README.md).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datasketch import MinHash

    from index.sqlite.database import Database

NUM_PERM = 128
SCHEME = "affine32"  # datasketch's default since 2.0: 32-bit values, the fastest to compute
SHINGLE_WORDS = 5
# LSH candidate threshold (Jaccard): low, since containment decides; candidates are verified.
LSH_THRESHOLD = 0.2
MIN_CONTAINMENT = 0.5
MIN_JACCARD = 0.2
MIN_SHINGLES = 20  # shorter texts (a headline and a line) are their own story

_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str) -> set[bytes]:
    """The text's runs of SHINGLE_WORDS lower-cased words (punctuation and spacing ignored)."""
    words = _WORD.findall(text.lower())
    n = SHINGLE_WORDS
    return {" ".join(words[i : i + n]).encode() for i in range(max(0, len(words) - n + 1))}


@dataclass(frozen=True)
class Signature:
    """What is stored per article: its shingle count and MinHash values."""

    size: int
    hashvalues: np.ndarray  # uint32, NUM_PERM values

    def to_blob(self) -> bytes:
        return np.asarray(self.hashvalues, dtype=np.uint32).tobytes()

    @staticmethod
    def from_blob(size: int, blob: bytes) -> Signature:
        return Signature(size, np.frombuffer(blob, dtype=np.uint32))

    def minhash(self) -> MinHash:
        from datasketch import MinHash  # imported when stories are grouped: see StoryIndex

        return MinHash(num_perm=NUM_PERM, hashvalues=self.hashvalues, scheme=SCHEME)


def signature(text: str) -> Signature:
    from datasketch import MinHash  # imported when stories are grouped: see StoryIndex

    items = shingles(text)
    mh = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
    if items:
        mh.update_batch(list(items))
    return Signature(len(items), mh.hashvalues.copy())


def overlap(a: Signature, b: Signature) -> tuple[float, float]:
    """(estimated Jaccard, estimated containment of the smaller set) of two articles."""
    if a.size == 0 or b.size == 0:
        return 0.0, 0.0
    jaccard = float(np.count_nonzero(a.hashvalues == b.hashvalues)) / NUM_PERM
    # |A ∩ B| = J (|A| + |B|) / (1 + J)
    common = jaccard * (a.size + b.size) / (1.0 + jaccard)
    return jaccard, min(1.0, common / min(a.size, b.size))


def are_copies(a: Signature, b: Signature) -> bool:
    if min(a.size, b.size) < MIN_SHINGLES:
        return False
    jaccard, containment = overlap(a, b)
    return jaccard >= MIN_JACCARD and containment >= MIN_CONTAINMENT


class StoryIndex:
    """Stored articles' signatures behind an LSH index; finds an article's copies."""

    def __init__(self) -> None:
        # datasketch imports scipy (0.45 s together): only indexing groups stories, so it is
        # imported here and not when a question reads `shingles` through bot/reader/copies.py.
        from datasketch import MinHashLSH

        self._lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
        self._signatures: dict[str, Signature] = {}

    def __contains__(self, article_id: str) -> bool:
        return article_id in self._signatures

    def add(self, article_id: str, sig: Signature) -> None:
        self.discard(article_id)
        self._signatures[article_id] = sig
        if sig.size >= MIN_SHINGLES:
            self._lsh.insert(article_id, sig.minhash())

    def discard(self, article_id: str) -> None:
        old = self._signatures.pop(article_id, None)
        if old is not None and old.size >= MIN_SHINGLES:
            self._lsh.remove(article_id)

    def copies_of(self, article_id: str, sig: Signature) -> list[str]:
        """Stored articles (other than `article_id`) that are copies of `sig`'s article."""
        if sig.size < MIN_SHINGLES:
            return []
        return sorted(
            other for other in self._lsh.query(sig.minhash())
            if other != article_id and are_copies(sig, self._signatures[other])
        )


def group(signatures: dict[str, Signature]) -> dict[str, str]:
    """article id -> story id (the smallest article id of its connected set of copies)."""
    index = StoryIndex()
    for aid, sig in signatures.items():
        index.add(aid, sig)
    pairs = [(aid, other) for aid, sig in signatures.items() for other in index.copies_of(aid, sig)]
    return components(list(signatures), pairs)


def components(ids: list[str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """id -> the smallest id of its connected set, the sets joined by `pairs` (union-find)."""
    parent = {i: i for i in ids}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: root(i) for i in ids}


def members(story_of: dict[str, str]) -> dict[str, list[str]]:
    """story id -> its article ids, sorted."""
    out: dict[str, list[str]] = {}
    for aid, sid in sorted(story_of.items()):
        out.setdefault(sid, []).append(aid)
    return out


def story_sizes(story_of: Iterable[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for sid in story_of:
        sizes[sid] = sizes.get(sid, 0) + 1
    return sizes


# -- in the store's write transaction ---------------------------------------------------------
def assign(db: Database, conn: sqlite3.Connection, changed: dict[str, Signature]) -> None:
    """Put the articles of `changed` (new, or whose text changed; their signatures) into
    stories, with any article stored before story groups existed; merges the stories a new
    article links. Runs inside the write's transaction `conn`."""
    for article in db.ungrouped_articles(conn):
        changed.setdefault(article.id, signature(article.text))
    if not changed:
        return
    index = StoryIndex()
    story: dict[str, str] = {}
    named_after: set[str] = set()  # changed articles whose old story bears their id
    for aid, sid, size, blob in db.story_rows(conn):
        if aid not in changed:
            index.add(aid, Signature.from_blob(size, blob))
            story[aid] = sid
        elif sid == aid:
            named_after.add(aid)
    # A changed article leaves its old story: one named after it is renamed after the
    # smallest article left in it. (Copies it alone linked stay together until a rebuild.)
    for aid in sorted(named_after):
        rest = [other for other, sid in story.items() if sid == aid]
        if rest:
            db.merge_stories(conn, [aid], min(rest))
            for other in rest:
                story[other] = min(rest)
    for aid in sorted(changed):
        sig = changed[aid]
        linked = {story[other] for other in index.copies_of(aid, sig) if other in story}
        sid = min(linked | {aid})
        if linked - {sid}:
            db.merge_stories(conn, linked - {sid}, sid)
            for other, s in story.items():
                if s in linked:
                    story[other] = sid
        index.add(aid, sig)
        story[aid] = sid
        db.set_story(conn, aid, sid, sig.size, sig.to_blob())


def regroup(db: Database, conn: sqlite3.Connection, signatures: dict[str, Signature]) -> None:
    """Group every article afresh (a rebuild): `signatures` holds them all."""
    db.delete_all_stories(conn)
    for aid, sid in group(signatures).items():
        sig = signatures[aid]
        db.set_story(conn, aid, sid, sig.size, sig.to_blob())
