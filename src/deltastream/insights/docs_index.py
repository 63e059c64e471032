"""Retrieval over DeltaStream's own documentation: BM25 (Okapi, :mod:`rank_bm25`) over the
README and docs/*.md, chunked by heading. No model weights; the index is built in memory on
first use (about 100 kB of text, a few hundred chunks).

Where the documents come from (:func:`default_documents`): in a source checkout (the usual
install, ``pip install -e``) the repository's README.md and docs/*.md; in an installed wheel,
which carries no docs directory, the README from the distribution's metadata (pyproject's
``readme``), so docs questions are answered from the README alone there.

A chunk is the text under one heading (``#`` to ``####``) up to the next heading, outside
fenced code blocks; its ``source`` is the file path relative to the repository and its
``anchor`` the heading path ("Deploying DeltaStream > Paper trading"). Chunks longer than
:data:`MAX_CHUNK_CHARS` are split at paragraph boundaries, keeping the heading.

rank-bm25's Okapi IDF is ln((N - n + 0.5) / (n + 0.5)), floored at a small positive value for
words in more than half of the chunks; a word in exactly half of them weighs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from rank_bm25 import BM25Okapi

MAX_CHUNK_CHARS = 1500
_TOKEN = re.compile(r"[a-z0-9][a-z0-9_\-]*")
_HEADING = re.compile(r"^(#{1,4})\s+(.*?)\s*#*\s*$")
# Words that say nothing about which section answers (kept short: BM25's IDF does the rest).
STOP_WORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "its", "me", "of", "on", "or", "the", "this", "to", "what", "when",
    "where", "which", "who", "why", "with", "you", "your", "my", "we", "should", "there"))


def tokens(text: str) -> list[str]:
    """Lower-case words (letters, digits, '_' and '-'), stop words removed, a plural 's'
    dropped from words longer than three letters."""
    out = []
    for word in _TOKEN.findall(text.lower()):
        word = word.strip("-")
        if not word or word in STOP_WORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


@dataclass(frozen=True)
class Chunk:
    source: str          # path relative to the repository, e.g. "docs/deployment.md"
    anchor: str          # heading path, " > "-joined
    text: str            # the section's text (heading line first)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float


def _split_long(source: str, anchor: str, heading_line: str, body: list[str]) -> list[Chunk]:
    paragraphs = "\n".join(body).strip().split("\n\n")
    chunks: list[Chunk] = []
    current: list[str] = []
    size = 0
    for para in paragraphs:
        if current and size + len(para) > MAX_CHUNK_CHARS:
            chunks.append(Chunk(source, anchor, "\n\n".join([heading_line, *current]).strip()))
            current, size = [], 0
        current.append(para)
        size += len(para) + 2
    if current or not chunks:
        chunks.append(Chunk(source, anchor, "\n\n".join([heading_line, *current]).strip()))
    return [c for c in chunks if c.text]


def chunk_markdown(source: str, text: str) -> list[Chunk]:
    """``text`` (Markdown) in chunks, one per heading (see the module docstring)."""
    chunks: list[Chunk] = []
    path: list[str] = []
    heading_line = ""
    body: list[str] = []
    fenced = False

    def flush() -> None:
        if any(line.strip() for line in body) or heading_line:
            chunks.extend(_split_long(source, " > ".join(path) or source, heading_line, body))

    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        flush()
        level = len(match.group(1))
        path = [*path[:level - 1], match.group(2)]
        heading_line, body = line, []
    flush()
    return [c for c in chunks if tokens(c.text)]


class DocsIndex:
    """BM25 over chunks of Markdown documents."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        if not chunks:
            raise ValueError("no documentation chunks to index")
        self.chunks = list(chunks)
        # The heading path counts twice: a section is about what its heading says.
        self._bm25 = BM25Okapi([tokens(f"{c.anchor} {c.anchor} {c.text}") for c in self.chunks])

    @classmethod
    def from_documents(cls, documents: Iterable[tuple[str, str]]) -> DocsIndex:
        """From (source, Markdown text) pairs."""
        return cls([c for source, text in documents for c in chunk_markdown(source, text)])

    @property
    def sources(self) -> list[str]:
        return sorted({c.source for c in self.chunks})

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """The ``k`` best chunks for ``query``, best first; only chunks sharing a word with
        it (score > 0)."""
        words = tokens(query)
        if not words:
            return []
        scores = self._bm25.get_scores(words)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return [Hit(self.chunks[i], float(scores[i])) for i in order[:k] if scores[i] > 0]


def _checkout_root() -> Path | None:
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file() and (root / "README.md").is_file():
        return root
    return None


def default_documents() -> list[tuple[str, str]]:
    """The documents to index (see the module docstring): (source, text) pairs."""
    root = _checkout_root()
    if root is not None:
        files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
        return [(f.relative_to(root).as_posix(), f.read_text(encoding="utf-8"))
                for f in files if f.is_file()]
    try:
        meta = metadata.metadata("deltastream")
    except metadata.PackageNotFoundError:
        return []
    # Metadata 2.1+ carries the README as the message body; older, as a Description field.
    readme = meta.get_payload() or meta.get("Description")  # type: ignore[attr-defined]
    return [("README.md", str(readme))] if readme else []


@lru_cache(maxsize=1)
def default_index() -> DocsIndex:
    """The index of :func:`default_documents`, built once per process."""
    return DocsIndex.from_documents(default_documents())
