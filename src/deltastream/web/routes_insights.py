"""Insights: the market pulse in words and questions answered (the dashboard's AI Insights
tab: ``/api/ai/pulse``, ``/api/ai/chat``; also ``/api/analytics/insights/<product>``).

The words and figures are :mod:`deltastream.insights`'; this module gathers what they read
from the live feed (the snapshot, the underlying's latest ticks, the nearest expiry's PCR
series) and, with a history store, the IV-rank lookback exactly as
``/api/analytics/iv-history`` reads it (the server's ``iv_lookback_days``, one observation a
day).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import Response, request
from pydantic import BaseModel, ConfigDict, Field

from ..catalog.model import SYMBOL_PATTERN
from ..core.snapshot import ChainSnapshot
from ..insights.chat import MAX_QUERY_CHARS, Chat, LLMConfig
from ..insights.docs_index import default_index
from ..insights.pulse import Pulse, PulseInputs, PulseThresholds, build_pulse
from ..store import history
from ..store.database import is_fault
from .errors import bad_parameter, not_found
from .json import json_response
from .models import Model
from .openapi import NO_MARKET_DATA, UNKNOWN_PRODUCT
from .params import QueryModel, SourceQuery, query
from .routes_data import BY_PRODUCT, respond, service
from .serialize import iso
from .service import MarketService
from .state import app_state

bp = APIBlueprint("insights", __name__, tag="Insights")

DEFAULT_PRODUCT = "NIFTY"
# A chat request's body: the query (at most 500 characters, up to 6 bytes each as a JSON
# escape) and whatever else a client sends beside it.
MAX_BODY_BYTES = 16_384
CHAT_ACCEPTED = (f"a JSON object {{\"query\": text of 1 to {MAX_QUERY_CHARS} characters, not "
                 f"only spaces}} of at most {MAX_BODY_BYTES} bytes")
# One IV observation a day, as /api/analytics/iv-history's default sample_seconds.
IV_SAMPLE_SECONDS = 86_400


class PulseQuery(QueryModel):
    product: Annotated[str | None, Field(
        None, pattern=SYMBOL_PATTERN,
        description="product symbol (default NIFTY, or the first product when the server "
                    "has no NIFTY)")] = None


Figure = float | int | str | None


class PulseData(Model):
    model_config = ConfigDict(extra="allow")
    pcr_oi: float | None = Field(description="put-call ratio by open interest, nearest expiry")
    max_pain_strike: float | None
    atm_straddle_price: float = Field(description="ATM call + put mid, nearest expiry")


class PulseSentence(Model):
    topic: str
    text: str
    facts: dict[str, Figure] = Field(description="every figure the text quotes, in its units "
                                                 "(IV decimal, *_pct percent)")
    labels: dict[str, str] = Field(description="the words the thresholds chose")


class PulseResponse(Model):
    product: str
    expiry: str
    timestamp: str
    sequence: int
    analysis: str = Field(description="the sentences' text")
    data: PulseData
    facts: dict[str, Figure]
    sentences: list[PulseSentence]
    thresholds: dict[str, float]
    source: str


class ChatRequest(BaseModel):
    # Fields besides the query are ignored (a dashboard may send more).
    model_config = ConfigDict(extra="ignore")
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, pattern=r"\S",
                       description=f"the question: 1 to {MAX_QUERY_CHARS} characters, not only "
                                   "spaces")


class ChatResponse(Model):
    answer: str
    sources: list[dict[str, Any]] = Field(description="analytics routes or documentation "
                                                      "sections the answer comes from")
    intent: dict[str, Any]
    facts: dict[str, Figure]
    llm: dict[str, Any] | None = Field(description="with llm_url: model, used, fallback or "
                                                   "flagged_figures")


def _default_product(svc: MarketService) -> str:
    products = svc.products
    if DEFAULT_PRODUCT in products or not products:
        return DEFAULT_PRODUCT
    return products[0]


def _iv_lookback(svc: MarketService, snap: ChainSnapshot, days: float
                 ) -> tuple[list[float] | None, str | None]:
    if svc.store is None:
        return None, "no history store on this server"
    end = snap.timestamp
    try:
        observed = history.atm_iv_series(svc.store, snap.product, end - timedelta(days=days),
                                         end, history.MAX_LIMIT, IV_SAMPLE_SECONDS,
                                         source=snap.source)
    except sa.exc.SQLAlchemyError as error:
        if not is_fault(error):
            raise
        return None, "the history store is failing"
    return [v for _, v in observed], None


def pulse_of(svc: MarketService, snap: ChainSnapshot) -> Pulse:
    """The pulse of ``snap`` (the live feed's latest of its product)."""
    settings = app_state().settings
    if not snap.chains:
        raise not_found(f"no listed expiries for '{snap.product}'", {"expiries": []})
    ticks = svc.feed.ticks.latest(snap.product, settings.pulse_ticks)
    front = snap.chains[0]
    series = svc.summaries.series(snap.product, front.expiry, settings.pulse_pcr_points)
    lookback, unavailable = _iv_lookback(svc, snap, settings.iv_lookback_days)
    inputs = PulseInputs(ticks.epoch_seconds, ticks.prices,
                         [(p.epoch_seconds, p.pcr_oi) for p in series], lookback,
                         settings.iv_lookback_days, unavailable)
    return build_pulse(snap, inputs, PulseThresholds.from_settings(settings))


def _pulse_response(product: str) -> Response:
    svc = service()
    served = svc.served(product, None)
    snap = served.snap

    def build() -> dict[str, Any]:
        pulse = pulse_of(svc, snap)
        return {"product": product, "expiry": pulse.expiry.isoformat(),
                "timestamp": iso(snap.timestamp), "sequence": snap.sequence,
                "analysis": pulse.analysis, "data": pulse.data, "facts": pulse.facts,
                "sentences": [s.as_dict() for s in pulse.sentences],
                "thresholds": PulseThresholds.from_settings(app_state().settings).as_dict(),
                "source": served.source}

    return respond(svc, product, served, ("pulse",), build)


PULSE_ERRORS = {**BY_PRODUCT, 404: UNKNOWN_PRODUCT, 503: NO_MARKET_DATA}


@bp.get("/api/ai/pulse")
@query(bp, PulseQuery)
@bp.output(PulseResponse)
@bp.doc(summary="The market in a few factual sentences (analysis), each with the figures "
                "it rests on (sentences[].facts, all in facts); data holds the chain's PCR, "
                "max pain and ATM straddle", responses=PULSE_ERRORS)
def pulse(query_data: PulseQuery) -> Response:
    return _pulse_response(query_data.product or _default_product(service()))


@bp.get("/api/analytics/insights/<product>")
@query(bp, SourceQuery)
@bp.output(PulseResponse)
@bp.doc(summary="The market pulse of a product (as /api/ai/pulse); source: the live one "
                "only (the pulse reads the feed's latest ticks and PCR series)",
        responses={**BY_PRODUCT, 404: UNKNOWN_PRODUCT, 503: NO_MARKET_DATA})
def insights(product: str, query_data: SourceQuery) -> Response:
    live = service().live_source()
    if query_data.source is not None and query_data.source != live:
        # A stored source has no feed: its ticks and PCR series are not the pulse's inputs.
        raise bad_parameter("source", "the pulse reads the live market only",
                            f"'{live}' (the live source) or omitted")
    return _pulse_response(product)


def _chat() -> Chat:
    state = app_state()
    settings = state.settings
    svc = state.service
    llm = None
    if settings.llm_url:
        llm = LLMConfig(settings.llm_url, settings.llm_model,
                        os.environ.get(settings.llm_key_env) or None, settings.llm_timeout)

    def market(product: str) -> tuple[ChainSnapshot, Pulse]:
        snap = svc.snapshot(product)
        return snap, pulse_of(svc, snap)

    return Chat(svc.products, market, default_index(), llm, _default_product(svc))


@bp.before_request
def _checked_body() -> None:
    """The chat's body checked before the view's schema reads it, so that each mistake is a
    400 naming the query with what it accepts, and no body is read past the limit."""
    if request.method != "POST":
        return
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise bad_parameter("query", f"a body of {request.content_length} bytes",
                            CHAT_ACCEPTED)
    # A body without a length (chunked) is read no further than the limit (413 beyond it);
    # kept for the schema's read.
    request.max_content_length = MAX_BODY_BYTES
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw) if request.is_json else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise bad_parameter("query", "the body is not a JSON object", CHAT_ACCEPTED)
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        raise bad_parameter("query", "missing, not text or only spaces", CHAT_ACCEPTED)
    if len(text) > MAX_QUERY_CHARS:
        raise bad_parameter("query", f"{len(text)} characters", CHAT_ACCEPTED)


@bp.post("/api/ai/chat")
@bp.input(ChatRequest, location="json")
@bp.output(ChatResponse)
@bp.doc(summary="A question about the market (answered from the live analytics) or about "
                "DeltaStream (from its README and docs by BM25 retrieval): {query} -> "
                "{answer, sources, intent, facts, llm}",
        responses={400: f"invalid parameter 'query': {CHAT_ACCEPTED}",
                   404: UNKNOWN_PRODUCT,
                   413: f"a body without a length that runs past {MAX_BODY_BYTES} bytes",
                   503: NO_MARKET_DATA})
def chat(json_data: ChatRequest) -> Response:
    return json_response(_chat().answer(json_data.query.strip()).as_dict())
