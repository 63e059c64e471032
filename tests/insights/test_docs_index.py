"""BM25 retrieval over the documentation: chunking by heading, ranking, and the documents a
checkout indexes."""

from __future__ import annotations

import math

import pytest

from deltastream.insights import docs_index
from deltastream.insights.docs_index import (
    MAX_CHUNK_CHARS,
    DocsIndex,
    chunk_markdown,
    default_documents,
    tokens,
)

DOC = """# Guide

Intro text.

## Install

Run pip install.

```sh
# not a heading: a shell comment
pip install deltastream
```

### Extras

The postgres extra.

## Serve

Serve on port 8001.
"""


def test_chunks_follow_headings_outside_code_fences():
    chunks = chunk_markdown("docs/guide.md", DOC)
    assert [c.anchor for c in chunks] == ["Guide", "Guide > Install", "Guide > Install > Extras",
                                          "Guide > Serve"]
    install = chunks[1]
    assert install.source == "docs/guide.md"
    assert install.text.startswith("## Install")
    assert "# not a heading: a shell comment" in install.text
    assert chunks[3].text == "## Serve\n\nServe on port 8001."


def test_long_sections_split_at_paragraphs_keeping_the_heading():
    para = "word " * 100
    text = "## Long\n\n" + "\n\n".join([para.strip()] * 10)
    chunks = chunk_markdown("README.md", text)
    assert len(chunks) > 1
    assert all(c.anchor == "Long" and c.text.startswith("## Long") for c in chunks)
    assert all(len(c.text) <= MAX_CHUNK_CHARS + len("## Long\n\n") + len(para) for c in chunks)
    assert sum(c.text.count("word") for c in chunks) == 1000


def test_tokens_drop_stop_words_and_plurals():
    assert tokens("How do I configure the Redis URLs?") == ["configure", "redi", "url"]
    assert tokens("class access") == ["class", "access"]


def test_scores_are_okapi_bm25():
    docs = [("a.md", "# Alpha\n\nredis redis cache"), ("b.md", "# Beta\n\npostgres store"),
            ("c.md", "# Gamma\n\nredis stream socket"), ("d.md", "# Delta\n\nnginx proxy"),
            ("e.md", "# Epsilon\n\nmetrics")]
    index = DocsIndex.from_documents(docs)
    hits = index.search("redis", k=5)
    assert [h.chunk.source for h in hits] == ["a.md", "c.md"]      # only chunks with the word
    # By hand: a chunk's words are its heading path twice and its text (heading included):
    # a.md alpha x3, redis x2, cache = 6 words; k1 = 1.5, b = 0.75,
    # idf = ln((N - n + 0.5) / (n + 0.5)) with N = 5 chunks, n = 2 holding "redis".
    lengths = {"a.md": 6, "b.md": 5, "c.md": 6, "d.md": 5, "e.md": 4}
    avgdl = sum(lengths.values()) / 5
    idf = math.log((5 - 2 + 0.5) / (2 + 0.5))
    for hit, tf in zip(hits, (2, 1), strict=True):
        dl = lengths[hit.chunk.source]
        expected = idf * tf * 2.5 / (tf + 1.5 * (1 - 0.75 + 0.75 * dl / avgdl))
        assert hit.score == pytest.approx(expected, rel=1e-12)


def test_a_question_without_known_words_finds_nothing():
    index = DocsIndex.from_documents([("a.md", "# A\n\nredis")])
    assert index.search("the of and") == []
    assert index.search("kubernetes") == []


def test_the_checkout_indexes_the_readme_and_every_doc(tmp_path):
    sources = [s for s, _ in default_documents()]
    assert sources[0] == "README.md"
    root = docs_index._checkout_root()
    assert root is not None
    assert sources[1:] == sorted(f"docs/{p.name}" for p in (root / "docs").glob("*.md"))
    index = docs_index.default_index()
    assert index.sources == sorted(sources)
    assert index.search("paper trading starting cash")[0].chunk.anchor.endswith(
        "Paper trading")


def test_an_installed_package_indexes_its_readme_from_the_metadata(monkeypatch):
    monkeypatch.setattr(docs_index, "_checkout_root", lambda: None)

    readme = "# DeltaStream\n\n## Install\n\npip install deltastream"

    class Body:
        def get_payload(self) -> str:
            return readme

        def get(self, name: str) -> None:
            return None

    class Field(Body):
        def get_payload(self) -> str:
            return ""

        def get(self, name: str) -> str | None:
            return readme if name == "Description" else None

    for meta in (Body(), Field()):
        monkeypatch.setattr(docs_index.metadata, "metadata", lambda name, m=meta: m)
        assert default_documents() == [("README.md", readme)]
