"""Analytics over a source's snapshots and history: PCR, volatility surface, max pain, OI
build-up, OHLC, IV history, dealer gamma exposure (GEX) and skew. ``source`` defaults to the
live feed's; the analytics of one snapshot (PCR's figures, surface, max pain, build-up, GEX,
skew) take ``at`` for a past one (see routes_data)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
from apiflask import APIBlueprint
from flask import Response

from ..analytics.buildup import classify
from ..analytics.candles import ohlc as build_candles
from ..analytics.chain_stats import max_pain_distance_pct, payout_curve
from ..analytics.iv_stats import IVStat, iv_percentile, iv_rank
from ..store import history
from ..strategy.exposure import exposure
from ..strategy.skew import skew as skew_of
from . import exposure_models, models
from .errors import bad_parameter, not_found
from .json import json_response
from .openapi import AT_NOT_FOUND, UNKNOWN_PRODUCT, UNKNOWN_SOURCE, UNLISTED_EXPIRY
from .params import (
    ExpiryQuery,
    ExpiryStrikesQuery,
    IVHistoryQuery,
    OHLCQuery,
    PCRQuery,
    SurfaceQuery,
    query,
)
from .routes_data import BY_EXPIRY_AT, BY_PRODUCT_AT, HISTORY, respond, served_at, service
from .serialize import IV_DIGITS, iso, nullable, significant, strike_window
from .service import Served
from .state import app_state

bp = APIBlueprint("analytics", __name__, url_prefix="/api/analytics", tag="Analytics")


@bp.get("/pcr/<product>")
@query(bp, PCRQuery)
@bp.output(models.PCRResponse)
@bp.doc(summary="Put-call ratio by open interest and volume (of the newest snapshot, or at= "
                "of a past one); history=true adds the stored series (from/to/interval)",
        responses={**HISTORY, 404: f"{UNKNOWN_PRODUCT}; {UNKNOWN_SOURCE}; {UNLISTED_EXPIRY}; "
                                   f"{AT_NOT_FOUND}"})
def pcr(product: str, query_data: PCRQuery) -> Response:
    svc = service()
    served = served_at(svc, product, query_data.source, query_data.at)
    snap = served.snap
    chain = svc.select(snap, query_data.expiry)[0]

    def build() -> dict:
        body: dict[str, Any] = {
            "product": product,
            "expiry": chain.expiry.isoformat(),
            "latest": {"product": product, "expiry": chain.expiry.isoformat(),
                       "pcr_oi": chain.pcr_oi, "pcr_volume": chain.pcr_volume,
                       "spot_price": chain.spot, "timestamp": iso(chain.timestamp)},
        }
        if query_data.history and svc.store is not None:
            body["history"] = [
                {"pcr_oi": p.pcr_oi, "pcr_volume": p.pcr_volume, "spot_price": p.spot,
                 "timestamp": iso(p.timestamp)}
                for p in history.summaries(svc.store, product, chain.expiry, start, end,
                                           query_data.interval, query_data.limit,
                                           source=served.source)]
        elif query_data.history:
            body["history"] = [
                {"pcr_oi": p.pcr_oi, "pcr_volume": p.pcr_volume, "spot_price": p.spot,
                 "timestamp": iso(p.epoch_seconds)}
                for p in svc.summaries.series(product, chain.expiry, query_data.limit)]
        return body

    ranged = (query_data.start is not None or query_data.end is not None
              or query_data.interval is not None)
    start, end = None, None
    # At a past time the history ends there too ('to' defaults to the snapshot's time).
    if query_data.history and (ranged or query_data.at is not None):
        svc.require_store()
        start, end = svc.time_range(query_data.start, query_data.end, snap.timestamp,
                                    None if query_data.interval is None else svc.max_range)
        return json_response(build())
    if query_data.history and not served.live:
        # Another source's history grows by imports, not with its newest snapshot.
        return json_response(build())
    return respond(svc, product, served,
                   ("pcr", chain.expiry, query_data.history, query_data.limit), build)


@bp.get("/volatility-surface/<product>")
@query(bp, SurfaceQuery)
@bp.output(models.SurfaceResponse)
@bp.doc(summary="Implied volatility by strike and expiry (of the newest snapshot, or at= of "
                "a past one)", responses=BY_PRODUCT_AT)
def volatility_surface(product: str, query_data: SurfaceQuery) -> Response:
    svc = service()
    served = served_at(svc, product, query_data.source, query_data.at)
    snap = served.snap

    def build() -> dict:
        # Days count in the exchange's own dates (an NSE evening in UTC is already tomorrow).
        today = snap.local_date()
        rows = []
        for c in snap.chains:
            sl = strike_window(c, query_data.strikes)
            ivs = np.concatenate([c.calls.iv[sl], c.puts.iv[sl]])
            valid = ivs[np.isfinite(ivs)]
            rows.append({
                "expiry": c.expiry.isoformat(),
                "days_to_expiry": (c.expiry - today).days,
                "time_to_expiry": c.time_to_expiry,
                "strikes": c.strikes[sl].tolist(),
                "call_ivs": nullable(c.calls.iv[sl], IV_DIGITS),
                "put_ivs": nullable(c.puts.iv[sl], IV_DIGITS),
                "avg_iv": (float(significant(valid.mean(), IV_DIGITS)) if valid.size
                           else None),
            })
        return {"product": product, "spot_price": snap.spot, "expiries": rows,
                "timestamp": iso(snap.timestamp)}

    return respond(svc, product, served, ("surface", query_data.strikes), build)


@bp.get("/max-pain/<product>")
@query(bp, ExpiryQuery)
@bp.output(models.MaxPainResponse)
@bp.doc(summary="Strike of least total payout to option holders (of the newest snapshot, "
                "or at= of a past one)", responses=BY_EXPIRY_AT)
def max_pain(product: str, query_data: ExpiryQuery) -> Response:
    svc = service()
    served = served_at(svc, product, query_data.source, query_data.at)
    chain = svc.select(served.snap, query_data.expiry)[0]

    def build() -> dict:
        mp = chain.max_pain_strike
        call_pay, put_pay = payout_curve(chain.strikes, chain.calls.open_interest,
                                         chain.puts.open_interest)
        payouts = [{"strike": k, "call": c, "put": p, "total": c + p}
                   for k, c, p in zip(chain.strikes.tolist(), call_pay.tolist(),
                                      put_pay.tolist(), strict=True)]
        return {"product": product, "expiry": chain.expiry.isoformat(),
                "spot_price": chain.spot, "max_pain_strike": mp,
                "distance_from_spot": max_pain_distance_pct(mp, chain.spot),
                "timestamp": iso(chain.timestamp), "payouts": payouts}

    return respond(svc, product, served, ("max-pain", chain.expiry), build)


@bp.get("/oi-buildup/<product>")
@query(bp, ExpiryStrikesQuery)
@bp.output(models.BuildupResponse)
@bp.doc(summary="Open-interest build-up per strike (of the newest snapshot, or at= of a "
                "past one)", responses=BY_EXPIRY_AT)
def oi_buildup(product: str, query_data: ExpiryStrikesQuery) -> Response:
    svc = service()
    served = served_at(svc, product, query_data.source, query_data.at)
    chain = svc.select(served.snap, query_data.expiry)[0]

    def build() -> dict:
        sl = strike_window(chain, query_data.strikes)
        call_types = classify(chain.calls.change[sl], chain.calls.oi_change[sl])
        put_types = classify(chain.puts.change[sl], chain.puts.oi_change[sl])
        rows = [{"strike": k, "call_oi_change": co, "put_oi_change": po,
                 "call_buildup_type": ct, "put_buildup_type": pt}
                for k, co, po, ct, pt in zip(chain.strikes[sl].tolist(),
                                             chain.calls.oi_change[sl].tolist(),
                                             chain.puts.oi_change[sl].tolist(),
                                             call_types, put_types, strict=True)]
        return {"product": product, "expiry": chain.expiry.isoformat(),
                "spot_price": chain.spot, "buildup": rows, "timestamp": iso(chain.timestamp)}

    return respond(svc, product, served, ("buildup", chain.expiry, query_data.strikes), build)


@bp.get("/ohlc/<product>")
@query(bp, OHLCQuery)
@bp.output(models.OHLCResponse)
@bp.doc(summary="OHLC candles of the underlying from its (stored) ticks, of any window "
                "from/to", responses=HISTORY)
def ohlc(product: str, query_data: OHLCQuery) -> Response:
    svc = service()
    served = svc.served(product, query_data.source)
    snap = served.snap
    width = query_data.window * 60
    ranged = query_data.start is not None or query_data.end is not None
    if ranged:
        svc.require_store()
    start, end = svc.time_range(query_data.start, query_data.end, snap.timestamp,
                                timedelta(seconds=width * query_data.limit))

    def build() -> dict:
        if svc.store is not None:
            candles = history.candles(svc.store, product, width, start, end, query_data.limit,
                                      source=served.source)
        else:
            ticks = svc.feed.ticks.latest(product)
            candles = build_candles(ticks.epoch_seconds, ticks.prices, ticks.volumes,
                                    width)[-query_data.limit:]
        return {"product": product, "window": query_data.window,
                "candles": [{"timestamp": iso(c.start), "open": c.open, "high": c.high,
                             "low": c.low, "close": c.close, "volume": c.volume,
                             "ticks": c.ticks} for c in candles]}

    if ranged or not served.live:
        return json_response(build())
    return respond(svc, product, served, ("ohlc", query_data.window, query_data.limit), build)


@bp.get("/iv-history/<product>")
@query(bp, IVHistoryQuery)
@bp.output(models.IVHistoryResponse)
@bp.doc(summary="ATM implied volatility series of the nearest expiry, with IV rank and IV "
                "percentile over a lookback (null with the reason until enough history)",
        responses={**HISTORY, 400: HISTORY[400] + "; or more than 100,000 observations in "
                                                  "the lookback (lookback_days x 86,400 / "
                                                  "sample_seconds)"})
def iv_history(product: str, query_data: IVHistoryQuery) -> Response:
    svc = service()
    served = svc.served(product, query_data.source)
    snap = served.snap
    store = svc.require_store()
    start, end = svc.time_range(query_data.start, query_data.end, snap.timestamp,
                                None if query_data.interval is None else svc.max_range)
    settings = app_state().settings
    lookback_days = query_data.lookback_days or settings.iv_lookback_days
    lookback = timedelta(days=lookback_days)
    samples = lookback.total_seconds() / query_data.sample_seconds
    if samples > history.MAX_LIMIT:
        raise bad_parameter("sample_seconds",
                            f"{lookback_days:g} days in samples of {query_data.sample_seconds} s "
                            f"are more than {history.MAX_LIMIT} observations",
                            f"at least {math.ceil(lookback.total_seconds() / history.MAX_LIMIT)}"
                            " seconds for this lookback")
    series = history.atm_iv_series(store, product, start, end, query_data.limit,
                                   query_data.interval, source=served.source)
    observed = history.atm_iv_series(store, product, end - lookback, end, history.MAX_LIMIT,
                                     query_data.sample_seconds, source=served.source)
    current = observed[-1] if observed else None
    values = [v for _, v in observed]
    now_iv = current[1] if current else math.nan
    rank, percentile = iv_rank(values, now_iv), iv_percentile(values, now_iv)
    body = {
        "product": product, "expiry_rank": 0,
        "from": None if start is None else iso(start), "to": iso(end),
        "interval_seconds": query_data.interval, "count": len(series),
        "series": [{"timestamp": iso(t), "atm_iv": v} for t, v in series],
        "current": None if current is None else {"timestamp": iso(current[0]),
                                                 "atm_iv": current[1]},
        "lookback": {"days": lookback_days, "sample_seconds": query_data.sample_seconds,
                     "from": iso(end - lookback), "to": iso(end), "observations": len(values)},
        "iv_rank": _stat(rank), "iv_percentile": _stat(percentile),
    }
    return json_response(body)


def _stat(stat: IVStat) -> dict:
    return {"value": stat.value, "observations": stat.observations, "reason": stat.reason}


def _snapshot_header(product: str, served: Served) -> dict[str, Any]:
    """The fields of :class:`exposure_models.SnapshotHeader` for ``served``'s snapshot."""
    snap = served.snap
    return {"product": product, "currency": snap.terms.currency, "spot": snap.spot,
            "timestamp": iso(snap.timestamp), "sequence": snap.sequence,
            "source": served.source}


@bp.get("/gex/<product>")
@query(bp, exposure_models.GEXQuery)
@bp.output(exposure_models.GEXResponse)
@bp.doc(summary="Dealer gamma exposure per strike and in total, in money per 1 % move, "
                "with the zero-gamma level and the call and put walls (of one expiry or "
                "every listed one; of the newest snapshot, or at= of a past one)",
        responses=BY_EXPIRY_AT)
def gex(product: str, query_data: exposure_models.GEXQuery) -> Response:
    svc = service()
    served = served_at(svc, product, query_data.source, query_data.at)
    snap = served.snap
    expiry = query_data.expiry
    if expiry is not None and expiry not in snap.expiry_dates:
        raise not_found(f"expiry {expiry.isoformat()} is not listed for '{product}'",
                        {"parameter": "expiry",
                         "expiries": [e.isoformat() for e in snap.expiry_dates]})

    def build() -> dict:
        e = exposure(snap, expiry, query_data.convention)
        rows = [{"strike": k, "call_gex": c, "put_gex": p, "net_gex": n, "call_oi": co,
                 "put_oi": po}
                for k, c, p, n, co, po in zip(e.strikes.tolist(), e.call_gex.tolist(),
                                              e.put_gex.tolist(), e.net_gex.tolist(),
                                              e.call_oi.tolist(), e.put_oi.tolist(),
                                              strict=True)]
        return {**_snapshot_header(product, served),
                "expiry": None if expiry is None else expiry.isoformat(),
                "convention": e.convention, "unit": f"{snap.terms.currency} per 1% move",
                "model": snap.terms.model, "strikes": rows, "total": e.total,
                "zero_gamma": e.zero_gamma, "call_wall": e.call_wall, "put_wall": e.put_wall}

    return respond(svc, product, served, ("gex", expiry, query_data.convention), build)


@bp.get("/skew/<product>")
@query(bp, exposure_models.SkewQuery)
@bp.output(exposure_models.SkewResponse)
@bp.doc(summary="Per expiry the ATM IV (term structure), 25-delta risk reversal and "
                "butterfly, 10-delta wings, and the expected move from the ATM straddle and "
                "from IV side by side (of the newest snapshot, or at= of a past one)",
        responses=BY_PRODUCT_AT)
def skew(product: str, query_data: exposure_models.SkewQuery) -> Response:
    svc = service()
    served = served_at(svc, product, query_data.source, query_data.at)
    snap = served.snap

    def build() -> dict:
        rows = []
        for row in skew_of(snap):
            f, m = row.figures, row.figures.expected_move
            rows.append({
                "expiry": row.expiry.isoformat(), "days": row.days,
                "time_to_expiry": row.time_to_expiry, "forward": row.forward,
                "atm_iv": f.atm_iv, "rr25": f.rr25, "bf25": f.bf25, "put25_iv": f.put25_iv,
                "call25_iv": f.call25_iv, "put10_iv": f.put10_iv, "call10_iv": f.call10_iv,
                "expected_move": {"straddle": m.straddle, "iv": m.iv,
                                  "straddle_pct": m.straddle_pct, "iv_pct": m.iv_pct}})
        return {**_snapshot_header(product, served), "delta_convention": "forward",
                "expiries": rows}

    return respond(svc, product, served, ("skew",), build)
