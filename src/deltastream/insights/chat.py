"""Questions answered from the live analytics and from the documentation, with sources.

:func:`route` reads a question's intent: a market question names a product (or a market
figure) and asks for a figure (max pain, PCR, IV / IV rank, straddle / expected move, spot,
OI walls, term structure, skew, or the whole pulse) of an expiry (a date YYYY-MM-DD, or
"monthly" for the nearest monthly contract; default the nearest); anything else is a
documentation question, answered by BM25 retrieval (:mod:`.docs_index`). Market answers
quote the figures of :mod:`.pulse` (the same the analytics routes serve) and cite those
routes; docs answers quote the best section from the paragraph sharing most of the question's
words (at most :data:`PASSAGE_CHARS` characters) and cite file and section.

With an OpenAI-compatible endpoint configured (:class:`LLMConfig`), the question, the facts
and the passages are sent to ``<url>/v1/chat/completions``; its reply is the answer when it
comes within the timeout, otherwise the offline answer stands. Every number the reply quotes
is checked (:func:`check_figures`) against the facts, the passages and the question: one
that matches none (at the precision it is written with, IVs also in percent) is flagged.
No network besides the configured URL.
"""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..core.snapshot import ChainSnapshot
from .docs_index import DocsIndex, Hit, tokens
from .pulse import ExpiryFigures, Fact, Pulse, days, expiry_figures, wall_role

MAX_QUERY_CHARS = 500
# Characters of a docs answer's passage (a section's heading and the paragraphs quoted).
PASSAGE_CHARS = 700

# Figure intents, first match wins: (intent, words any of which asks for it).
FIGURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("max_pain", ("max pain", "max-pain", "maxpain")),
    ("pcr", ("pcr", "put-call", "put call", "put/call")),
    ("iv_rank", ("iv rank", "iv percentile", "iv high", "iv low", "iv elevated",
                 "volatility high", "volatility low", "iv expensive", "iv cheap")),
    ("expected_move", ("straddle", "expected move", "implied move", "expected range")),
    ("oi_walls", ("wall", "support", "resistance", "open interest", "oi ", "build-up",
                  "buildup")),
    ("term_structure", ("term structure",)),
    ("skew", ("skew", "risk reversal")),
    ("realised_vol", ("realised", "realized", "historical vol")),
    ("atm_iv", ("implied vol", " iv", "volatility")),
    ("spot", ("spot", "price", "trading at", "level", "quote")),
    ("pulse", ("pulse", "summary", "summarise", "summarize", "overview", "market doing",
               "how is the market", "sentiment")),
)
# Words that make a question about DeltaStream itself (unless a product is named).
DOCS_CUES = ("how do", "how does", "how is", "how are", "how to", "configure", "setting",
             "install", "deploy", "docs", "document", "api", "route", "endpoint", "flag",
             "environment", "computed", "calculated", "defined", "definition", "deltastream")
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")


@dataclass(frozen=True)
class Intent:
    kind: str                     # "market" or "docs"
    figure: str | None = None     # a FIGURES intent for market questions
    product: str | None = None
    expiry: date | None = None
    expiry_text: str | None = None  # as written, when it is not a valid date
    monthly: bool = False         # "monthly": the nearest monthly expiry (no date given)


def route(query: str, products: Sequence[str], default_product: str | None) -> Intent:
    """The intent of ``query`` (see the module docstring)."""
    text = f" {query.lower()} "
    named = [p for p in products
             if re.search(rf"(?<![a-z0-9]){re.escape(p.lower())}(?![a-z0-9])", text)]
    # The longest name: "BANKNIFTY" rather than a product whose name it contains.
    product = max(named, key=len) if named else None
    figure = next((name for name, words in FIGURES if any(w in text for w in words)), None)
    docs_cue = any(c in text for c in DOCS_CUES)
    if product is None and (figure is None or docs_cue):
        return Intent("docs")
    expiry, expiry_text = None, None
    found = _DATE.search(query)
    if found:
        try:
            expiry = date.fromisoformat(found.group(1))
        except ValueError:
            expiry_text = found.group(1)
    return Intent("market", figure or "pulse", product or default_product, expiry,
                  expiry_text, monthly="monthly" in text and not found)


@dataclass(frozen=True)
class Answer:
    answer: str
    sources: list[dict[str, Any]]
    intent: Intent
    facts: dict[str, Fact] = field(default_factory=dict)
    passages: list[Hit] = field(default_factory=list)
    llm: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "sources": self.sources,
                "intent": {"kind": self.intent.kind, "figure": self.intent.figure,
                           "product": self.intent.product,
                           "expiry": None if self.intent.expiry is None
                           else self.intent.expiry.isoformat()},
                "facts": self.facts, "llm": self.llm}


def _n(value: float | None, decimals: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{decimals}f}"


def _k(strike: float | None) -> str:
    if strike is None:
        return "n/a"
    return _n(strike, 0 if float(strike).is_integer() else 2)


def _pct(value: float | None, decimals: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{decimals}f}%"


def _route_source(path: str, title: str) -> dict[str, Any]:
    return {"type": "analytics", "route": path, "title": title}


def _market_answer(intent: Intent, snap: ChainSnapshot, pulse: Pulse) -> Answer:
    product = snap.product
    chains = list(snap.chains)
    listed = [c.expiry.isoformat() for c in chains]
    note = ""
    if intent.expiry_text is not None or (
            intent.expiry is not None and intent.expiry not in {c.expiry for c in chains}):
        asked = intent.expiry_text or (intent.expiry.isoformat() if intent.expiry else "")
        return Answer(f"{asked} is not a listed expiry of {product}; listed: "
                      f"{', '.join(listed)}.",
                      [_route_source(f"/api/data/expiries/{product}", "listed expiries")],
                      intent, {"expiries": ", ".join(listed)})
    if intent.expiry is not None:
        chain = next(c for c in chains if c.expiry == intent.expiry)
    elif intent.monthly:
        # The nearest monthly contract; the nearest expiry when none is listed as monthly.
        chain = next((c for c in chains if c.monthly), chains[0])
        if not chain.monthly:
            note = f"No listed expiry of {product} is a monthly contract: the nearest is used. "
    else:
        chain = chains[0]
    fig: ExpiryFigures = expiry_figures(snap, chain)
    exp = fig.expiry.isoformat()
    q = f"?expiry={exp}"
    figure = intent.figure
    facts: dict[str, Fact] = {"product": product, "expiry": exp, "spot": fig.spot,
                              "sequence": snap.sequence}
    if figure == "max_pain":
        facts.update(max_pain_strike=fig.max_pain_strike,
                     max_pain_distance_pct=fig.max_pain_distance_pct)
        text = (f"{product} max pain for {exp} is {_k(fig.max_pain_strike)}, "
                f"{_n(fig.max_pain_distance_pct)}% from spot {_n(fig.spot)}.")
        sources = [_route_source(f"/api/analytics/max-pain/{product}{q}", "max pain")]
    elif figure == "pcr":
        facts.update(pcr_oi=fig.pcr_oi, pcr_volume=fig.pcr_volume)
        text = (f"{product} put-call ratio for {exp}: {_n(fig.pcr_oi)} by open interest, "
                f"{_n(fig.pcr_volume)} by volume.")
        if fig.expiry == pulse.expiry and "pcr_oi_change" in pulse.facts:
            facts.update(pcr_oi_before=pulse.facts["pcr_oi_before"],
                         pcr_oi_change=pulse.facts["pcr_oi_change"])
            text += f" It was {_n(_num(pulse.facts['pcr_oi_before']))} earlier in the series."
        sources = [_route_source(f"/api/analytics/pcr/{product}{q}", "put-call ratio")]
    elif figure == "iv_rank":
        rank = pulse.facts.get("iv_rank")
        facts.update(atm_iv=fig.atm_iv, iv_rank=rank,
                     iv_percentile=pulse.facts.get("iv_percentile"))
        sentence = next((s for s in pulse.sentences if s.topic == "iv_rank"), None)
        text = f"{product} ATM IV for {exp} is {_pct(fig.atm_iv)}."
        if sentence is not None:
            text += " " + sentence.text
        sources = [_route_source(f"/api/analytics/iv-history/{product}", "IV rank"),
                   _route_source(f"/api/data/chain/{product}{q}", "chain (ATM IV)")]
    elif figure == "expected_move":
        facts.update(atm_strike=fig.atm_strike, atm_straddle_price=fig.atm_straddle_price,
                     expected_move=fig.expected_move, expected_move_pct=fig.expected_move_pct,
                     expected_move_iv=fig.expected_move_iv,
                     expected_move_iv_pct=fig.expected_move_iv_pct, days_to_expiry=fig.days)
        text = (f"{product} {_k(fig.atm_strike)} straddle for {exp} costs "
                f"{_n(fig.atm_straddle_price)}; the ATM-forward straddle prices an expected "
                f"move of ±{_n(fig.expected_move)} ({_n(fig.expected_move_pct)}% of spot) in "
                f"{days(fig.days)}, one IV standard deviation ±{_n(fig.expected_move_iv)} "
                f"({_n(fig.expected_move_iv_pct)}%).")
        sources = [_route_source(f"/api/data/chain/{product}{q}", "ATM straddle"),
                   _route_source(f"/api/analytics/skew/{product}", "expected move")]
    elif figure == "skew":
        facts.update(rr25=fig.rr25, put25_iv=fig.put25_iv, call25_iv=fig.call25_iv,
                     bf25=fig.bf25, atm_forward_iv=fig.atm_forward_iv)
        rr = "n/a" if fig.rr25 is None else f"{fig.rr25 * 100:+.2f}"
        text = (f"{product} skew for {exp}: 25-delta risk reversal {rr} vol points (25-delta "
                f"put {_pct(fig.put25_iv)}, call {_pct(fig.call25_iv)}, ATM-forward "
                f"{_pct(fig.atm_forward_iv)}).")
        sources = [_route_source(f"/api/analytics/skew/{product}", "skew")]
    elif figure == "oi_walls":
        facts.update(call_wall_strike=fig.call_wall_strike, call_wall_oi=fig.call_wall_oi,
                     put_wall_strike=fig.put_wall_strike, put_wall_oi=fig.put_wall_oi)
        text = (f"{product} {exp}: the largest call open interest is at "
                f"{_k(fig.call_wall_strike)} ({_n(fig.call_wall_oi, 0)} contracts"
                f"{wall_role(fig, 'call')}), the largest put open interest at "
                f"{_k(fig.put_wall_strike)} ({_n(fig.put_wall_oi, 0)}{wall_role(fig, 'put')}).")
        sources = [_route_source(f"/api/data/chain/{product}{q}", "open interest"),
                   _route_source(f"/api/analytics/oi-buildup/{product}{q}", "OI build-up")]
    elif figure == "atm_iv":
        facts.update(atm_strike=fig.atm_strike, atm_iv=fig.atm_iv)
        text = f"{product} ATM IV for {exp} (strike {_k(fig.atm_strike)}) is {_pct(fig.atm_iv)}."
        sources = [_route_source(f"/api/data/chain/{product}{q}", "chain (ATM IV)")]
    elif figure == "spot":
        text = f"{product} spot is {_n(fig.spot)} (snapshot {snap.sequence})."
        sources = [_route_source(f"/api/data/underlying/{product}", "underlying ticks")]
    else:
        topics = {"term_structure": ("term_structure",),
                  "realised_vol": ("volatility", "spot")}.get(figure or "", ())
        chosen = [s for s in pulse.sentences if s.topic in topics] or list(pulse.sentences)
        for s in chosen:
            facts.update(s.facts)
        text = " ".join(s.text for s in chosen)
        if topics and not any(s.topic in topics for s in pulse.sentences):
            text = f"No {figure.replace('_', ' ') if figure else 'figure'} is available for " \
                   f"{product} now. " + text
        sources = [_route_source(f"/api/ai/pulse?product={product}", "market pulse")]
    return Answer(note + text, sources, intent, facts)


def _num(value: Fact) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def quoted_passage(text: str, query: str) -> str:
    """What a docs answer quotes of a section's ``text`` (its heading line, then paragraphs
    separated by blank lines): all of it when it fits in :data:`PASSAGE_CHARS`, else the
    heading and, from the paragraph sharing most distinct words with ``query`` (the first on
    a tie; "…" marks the paragraphs skipped before it), as much as fits, cut at a space."""
    if len(text) <= PASSAGE_CHARS:
        return text
    heading, _, body = text.partition("\n\n")
    if not heading.startswith("#"):
        heading, body = "", text
    paragraphs = body.split("\n\n")
    asked = set(tokens(query))
    shared = [len(asked & set(tokens(p))) for p in paragraphs]
    start = shared.index(max(shared))
    kept = [heading] if heading else []
    kept += (["…"] if start else []) + paragraphs[start:]
    quoted = "\n\n".join(kept)
    if len(quoted) <= PASSAGE_CHARS:
        return quoted
    return quoted[:PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"


def _docs_answer(intent: Intent, query: str, index: DocsIndex, k: int) -> Answer:
    hits = index.search(query, k)
    if not hits:
        return Answer("Nothing in DeltaStream's documentation matches that question.", [],
                      intent)
    best = hits[0].chunk
    passage = quoted_passage(best.text, query)
    sources = [{"type": "docs", "source": h.chunk.source, "section": h.chunk.anchor,
                "score": round(h.score, 3)} for h in hits]
    return Answer(f"From {best.source} ({best.anchor}):\n{passage}", sources, intent,
                  passages=hits)


# --- the optional language model -------------------------------------------------------

SYSTEM_PROMPT = (
    "You answer questions about an options market and about the DeltaStream software. Use only "
    "the facts and passages given; quote figures exactly as given; if they do not answer the "
    "question, say so. Be brief.")


@dataclass(frozen=True)
class LLMConfig:
    """An OpenAI-compatible endpoint: ``url`` (its base; ``/v1/chat/completions`` is added),
    ``model``, ``api_key`` (a Bearer token, or None) and ``timeout`` in seconds."""

    url: str
    model: str
    api_key: str | None
    timeout: float


class LLMError(RuntimeError):
    """The endpoint failed, timed out or answered in an unexpected shape."""


def llm_messages(query: str, answer: Answer) -> list[dict[str, str]]:
    """The messages sent: the system prompt with the facts (JSON) and passages, then the
    question."""
    context = {"facts": answer.facts, "offline_answer": answer.answer,
               "passages": [{"source": h.chunk.source, "section": h.chunk.anchor,
                             "text": h.chunk.text[:PASSAGE_CHARS * 2]} for h in answer.passages]}
    return [{"role": "system",
             "content": f"{SYSTEM_PROMPT}\n\nContext (JSON):\n{json.dumps(context)}"},
            {"role": "user", "content": query}]


def ask_llm(config: LLMConfig, messages: list[dict[str, str]]) -> str:
    """The endpoint's reply to ``messages``; :class:`LLMError` on any failure."""
    url = config.url.rstrip("/") + "/v1/chat/completions"
    if url.endswith("/v1/v1/chat/completions"):
        url = url.replace("/v1/v1/", "/v1/")
    body = json.dumps({"model": config.model, "messages": messages, "temperature": 0,
                       "stream": False}).encode()
    headers = {"Content-Type": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=config.timeout) as resp:
            payload = json.loads(resp.read(1_000_000))
        content = payload["choices"][0]["message"]["content"]
    except TimeoutError as error:
        raise LLMError(f"no answer within {config.timeout:g} s") from error
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise LLMError(f"no answer within {config.timeout:g} s") from error
        raise LLMError(f"request failed: {error.reason}") from error
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise LLMError(f"unexpected answer: {error!r}"[:300]) from error
    if not isinstance(content, str) or not content.strip():
        raise LLMError("empty answer")
    return content.strip()


# 24,450 / 24450.5 / -3.85 (a comma ending a number is punctuation, not part of it).
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


# Dates and names such as "25-delta" are not figures.
_NOT_FIGURES = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d+-delta\b")


def _figures(text: str) -> list[str]:
    return _NUMBER.findall(_NOT_FIGURES.sub(" ", text))


def _value(token: str) -> tuple[float, int]:
    clean = token.replace(",", "")
    decimals = len(clean.split(".")[1]) if "." in clean else 0
    return float(clean), decimals


def check_figures(reply: str, facts: dict[str, Fact], allowed_text: str) -> list[str]:
    """The numbers in ``reply`` that match no fact (shown with the reply's precision, as is
    or x100 for decimals shown in percent) and do not appear in ``allowed_text`` (the
    question and the passages)."""
    values = [float(v) for v in facts.values()
              if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]
    allowed = {_value(t)[0] for t in _figures(allowed_text)}
    flagged = []
    for token in _figures(reply):
        x, decimals = _value(token)
        tolerance = 0.5 * 10.0 ** -decimals + 1e-9
        if x in allowed or abs(x) in allowed:
            continue
        if any(abs(abs(x) - abs(v) * s) <= tolerance for v in values for s in (1.0, 100.0)):
            continue
        flagged.append(token)
    return flagged


# --- answering ---------------------------------------------------------------------------

@dataclass
class Chat:
    """Answers questions: ``market(product)`` gives a product's latest snapshot and its
    pulse (raises for an unknown product), ``index`` the documentation index, ``llm`` the
    optional endpoint."""

    products: Sequence[str]
    market: Callable[[str], tuple[ChainSnapshot, Pulse]]
    index: DocsIndex | None
    llm: LLMConfig | None = None
    default_product: str | None = None
    passages: int = 3

    def answer(self, query: str) -> Answer:
        default = self.default_product or (self.products[0] if self.products else None)
        intent = route(query, self.products, default)
        if intent.kind == "market" and intent.product is not None:
            snap, pulse = self.market(intent.product)
            offline = _market_answer(intent, snap, pulse)
        elif self.index is not None:
            offline = _docs_answer(Intent("docs"), query, self.index, self.passages)
        else:
            offline = Answer("No documentation is available on this server.", [],
                             Intent("docs"))
        if self.llm is None:
            return offline
        return self._phrased(query, offline)

    def _phrased(self, query: str, offline: Answer) -> Answer:
        assert self.llm is not None
        info: dict[str, Any] = {"model": self.llm.model, "used": False}
        try:
            reply = ask_llm(self.llm, llm_messages(query, offline))
        except LLMError as error:
            info["fallback"] = str(error)
            return Answer(offline.answer, offline.sources, offline.intent, offline.facts,
                          offline.passages, info)
        allowed = " ".join([query, *(h.chunk.text for h in offline.passages)])
        flagged = check_figures(reply, offline.facts, allowed)
        info.update(used=True, flagged_figures=flagged, offline_answer=offline.answer)
        return Answer(reply, offline.sources, offline.intent, offline.facts,
                      offline.passages, info)
