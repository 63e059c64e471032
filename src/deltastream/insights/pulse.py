"""The market pulse: a short factual narrative of one product's snapshot, each sentence with
the figures it rests on.

Every figure comes from the same analytics the API serves for the same snapshot: the chain's
PCR, max pain, ATM strike and straddle (the engine's, as ``/api/data/chain`` and
``/api/analytics/*`` serve them), ATM IV as the store records it and IV rank reads it
(:func:`deltastream.store.rows.atm_iv`), OI build-up by
:func:`deltastream.analytics.buildup.classify`, IV rank and percentile by
:mod:`deltastream.analytics.iv_stats`, the skew, ATM-forward term structure and expected move
by :mod:`deltastream.strategy.skew` (``/api/analytics/skew``), and the underlying's ticks and
PCR series the routes list. Nothing is invented: a figure that cannot be computed leaves its
sentence out (or says why, for IV rank).

Units: prices and strikes in the product's currency; IV and realised volatility as decimals
in ``facts`` (shown in percent in the text); percentages (``*_pct``) in percent; IV rank and
percentile 0-100; time in years ACT/365 and days in the exchange's own dates. Realised
volatility is annualised over calendar time: sqrt(sum r_i^2 x SECONDS_PER_YEAR / elapsed)
with r_i the log returns between consecutive ticks, elapsed the seconds from the first tick to
the last.

The words ("rich", "put-heavy", "elevated", ...) follow :class:`PulseThresholds`, documented
in docs/deployment.md and configurable through the ``pulse_*`` settings.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np

from ..analytics.buildup import classify
from ..analytics.chain_stats import max_pain_distance_pct
from ..analytics.iv_stats import IVStat, iv_percentile, iv_rank
from ..core.snapshot import ChainSnapshot, ExpiryChain
from ..settings import Settings
from ..store.rows import atm_iv
from ..strategy.skew import ExpirySkew, expiry_skew

SECONDS_PER_YEAR = 365.0 * 86_400.0

Fact = float | int | str | None


@dataclass(frozen=True)
class PulseThresholds:
    """Where the narrative's words change (each documented in docs/deployment.md).

    ``flat_move_pct``: a spot move under this (percent, absolute) is "flat".
    ``iv_rich_ratio`` / ``iv_cheap_ratio``: ATM IV over realised volatility at or above / at
    or below which implied volatility is "rich" / "cheap" ("in line" between).
    ``pcr_high`` / ``pcr_low``: PCR (OI) at or above / at or below which positioning is
    "put-heavy" / "call-heavy" ("balanced" between).
    ``pcr_change``: a PCR change of at least this (absolute) is "rising" / "falling".
    ``max_pain_near_pct``: max pain within this distance of spot (percent) is "near spot".
    ``iv_rank_high`` / ``iv_rank_low``: IV rank (0-100) at or above / at or below which IV is
    "elevated" / "subdued" ("moderate" between).
    ``term_points``: front minus back ATM IV (vol points) beyond which the term structure is
    "inverted" (front higher) or "upward sloping" (back higher); "flat" within.
    ``skew_points``: a 25-delta risk reversal (call minus put IV, vol points) beyond which
    puts or calls are "bid"; "balanced" within.
    """

    flat_move_pct: float = 0.1
    iv_rich_ratio: float = 1.2
    iv_cheap_ratio: float = 0.8
    pcr_high: float = 1.2
    pcr_low: float = 0.8
    pcr_change: float = 0.05
    max_pain_near_pct: float = 0.5
    iv_rank_high: float = 70.0
    iv_rank_low: float = 30.0
    term_points: float = 0.5
    skew_points: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> PulseThresholds:
        """The thresholds of the ``pulse_*`` settings."""
        return cls(**{name: getattr(settings, f"pulse_{name}")
                      for name in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Sentence:
    """One sentence of the narrative: its ``topic``, ``text``, the ``facts`` every figure in
    the text comes from, and the ``labels`` (words) the thresholds chose."""

    topic: str
    text: str
    facts: dict[str, Fact]
    labels: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"topic": self.topic, "text": self.text, "facts": self.facts,
                "labels": self.labels}


@dataclass(frozen=True)
class Pulse:
    """The narrative of one snapshot (nearest expiry) and the figures behind it."""

    product: str
    expiry: date
    sequence: int
    sentences: tuple[Sentence, ...]
    data: dict[str, Fact]

    @property
    def analysis(self) -> str:
        return " ".join(s.text for s in self.sentences)

    @property
    def facts(self) -> dict[str, Fact]:
        """Every sentence's facts in one mapping (names are unique across sentences)."""
        merged: dict[str, Fact] = {}
        for s in self.sentences:
            merged.update(s.facts)
        return merged


@dataclass(frozen=True)
class PulseInputs:
    """What the pulse reads besides the snapshot: the underlying's latest ticks (epoch
    seconds and prices, oldest first), the nearest expiry's PCR (OI) series oldest first
    (epoch seconds, PCR or None), and, with a history store, the IV-rank lookback's ATM IVs
    and its length in days (or why there is none in ``iv_unavailable``)."""

    tick_times: np.ndarray
    tick_prices: np.ndarray
    pcr_series: Sequence[tuple[float, float | None]] = ()
    iv_lookback: Sequence[float] | None = None
    iv_lookback_days: float | None = None
    iv_unavailable: str | None = None


def _n(value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}"


def _k(strike: float) -> str:
    """A strike: whole numbers without decimals (24,500), others with two (97.50)."""
    return _n(strike, 0 if float(strike).is_integer() else 2)


def days(count: int) -> str:
    """"1 day", "3 days"."""
    return f"{count} day" if count == 1 else f"{count} days"


def _pct(value: float, decimals: int = 1) -> str:
    """A decimal (0.153) in percent ("15.3%")."""
    return f"{value * 100:.{decimals}f}%"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def realised_vol(times: np.ndarray, prices: np.ndarray) -> float | None:
    """Annualised realised volatility (decimal) of ticks (see the module docstring); None
    with fewer than three ticks or no elapsed time."""
    t = np.asarray(times, dtype=np.float64)
    p = np.asarray(prices, dtype=np.float64)
    if t.size < 3 or not np.all(p > 0):
        return None
    elapsed = float(t[-1] - t[0])
    if elapsed <= 0:
        return None
    r = np.diff(np.log(p))
    return math.sqrt(float(np.sum(r * r)) * SECONDS_PER_YEAR / elapsed)


@dataclass(frozen=True)
class ExpiryFigures:
    """One expiry's figures as the routes serve them (see the module docstring)."""

    expiry: date
    days: int
    time_to_expiry: float
    spot: float
    pcr_oi: float | None
    pcr_volume: float | None
    max_pain_strike: float | None
    max_pain_distance_pct: float | None    # analytics.chain_stats.max_pain_distance_pct
    atm_strike: float
    atm_iv: float | None                   # at the ATM strike (as stored, IV rank)
    atm_straddle_price: float
    atm_forward_iv: float | None           # the skew analytics' ATM-forward IV
    rr25: float | None                     # 25-delta call IV - put IV
    bf25: float | None
    put25_iv: float | None
    call25_iv: float | None
    expected_move: float | None            # ATM-forward straddle carried to expiry
    expected_move_pct: float | None        # in percent of spot
    expected_move_iv: float | None         # spot x ATM-forward IV x sqrt(T)
    expected_move_iv_pct: float | None
    call_wall_strike: float | None         # largest call open interest (ties: lowest strike)
    call_wall_oi: float | None
    put_wall_strike: float | None
    put_wall_oi: float | None
    call_oi_added_strike: float | None     # largest call OI added since the last session
    call_oi_added: float | None
    put_oi_added_strike: float | None
    put_oi_added: float | None
    buildup: dict[str, int]                # build-up type -> count of contracts (both sides)

    def facts(self) -> dict[str, Fact]:
        out = {k: v for k, v in asdict(self).items() if k not in ("expiry", "buildup")}
        out["expiry"] = self.expiry.isoformat()
        return out


def _wall(strikes: np.ndarray, values: np.ndarray) -> tuple[float | None, float | None]:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or not np.any(v > 0):
        return None, None
    i = int(np.argmax(v))   # first maximum: ties go to the lowest strike
    return float(strikes[i]), float(v[i])


def expiry_figures(snap: ChainSnapshot, chain: ExpiryChain) -> ExpiryFigures:
    """The figures of one expiry of ``snap``."""
    today = snap.local_date()
    sk: ExpirySkew = expiry_skew(chain, today)
    smile, move = sk.figures, sk.figures.expected_move
    mp = chain.max_pain_strike
    iv = atm_iv(chain)
    straddle = chain.atm_straddle_price
    call_wall, call_wall_oi = _wall(chain.strikes, chain.calls.open_interest)
    put_wall, put_wall_oi = _wall(chain.strikes, chain.puts.open_interest)
    call_add, call_added = _wall(chain.strikes, chain.calls.oi_change)
    put_add, put_added = _wall(chain.strikes, chain.puts.oi_change)
    types = (classify(chain.calls.change, chain.calls.oi_change)
             + classify(chain.puts.change, chain.puts.oi_change))
    return ExpiryFigures(
        expiry=chain.expiry, days=sk.days,
        time_to_expiry=chain.time_to_expiry, spot=chain.spot, pcr_oi=chain.pcr_oi,
        pcr_volume=chain.pcr_volume, max_pain_strike=mp,
        max_pain_distance_pct=max_pain_distance_pct(mp, chain.spot),
        atm_strike=chain.atm_strike, atm_iv=iv, atm_straddle_price=straddle,
        atm_forward_iv=smile.atm_iv, rr25=smile.rr25, bf25=smile.bf25,
        put25_iv=smile.put25_iv, call25_iv=smile.call25_iv, expected_move=move.straddle,
        expected_move_pct=move.straddle_pct, expected_move_iv=move.iv,
        expected_move_iv_pct=move.iv_pct,
        call_wall_strike=call_wall, call_wall_oi=call_wall_oi, put_wall_strike=put_wall,
        put_wall_oi=put_wall_oi, call_oi_added_strike=call_add, call_oi_added=call_added,
        put_oi_added_strike=put_add, put_oi_added=put_added,
        buildup=dict(Counter(t for t in types if t is not None)))


def _spot_sentences(snap: ChainSnapshot, front: ExpiryFigures, inputs: PulseInputs,
                    th: PulseThresholds) -> list[Sentence]:
    t, p = inputs.tick_times, inputs.tick_prices
    out: list[Sentence] = []
    if t.size < 2:
        return out
    first, last = float(p[0]), float(p[-1])
    change = last - first
    change_pct = change / first * 100
    minutes = (float(t[-1]) - float(t[0])) / 60
    move = ("flat" if abs(change_pct) < th.flat_move_pct
            else "up" if change > 0 else "down")
    out.append(Sentence(
        "spot",
        f"{snap.product} is at {_n(last, 2)}, {move} {_n(abs(change_pct), 2)}% "
        f"({change:+,.2f}) over the last {_n(minutes, 1)} minutes of ticks.",
        {"spot": last, "spot_before": first, "spot_change": change,
         "spot_change_pct": change_pct, "window_minutes": minutes, "ticks": int(t.size)},
        {"move": move}))
    rv = realised_vol(t, p)
    if rv is not None and rv > 0 and _finite(front.atm_iv):
        assert front.atm_iv is not None
        ratio = front.atm_iv / rv
        word = ("rich" if ratio >= th.iv_rich_ratio else
                "cheap" if ratio <= th.iv_cheap_ratio else "in line")
        out.append(Sentence(
            "volatility",
            f"Realised volatility over those ticks is {_pct(rv)} against an ATM implied "
            f"{_pct(front.atm_iv)} for {front.expiry.isoformat()}: implied looks {word} "
            f"({_n(ratio, 2)} times realised).",
            {"realised_vol": rv, "atm_iv": front.atm_iv, "iv_rv_ratio": ratio},
            {"iv_vs_realised": word}))
    return out


def _pcr_sentence(front: ExpiryFigures, inputs: PulseInputs,
                  th: PulseThresholds) -> Sentence | None:
    pcr = front.pcr_oi
    if pcr is None:
        return None
    tilt = ("put-heavy" if pcr >= th.pcr_high else
            "call-heavy" if pcr <= th.pcr_low else "balanced")
    facts: dict[str, Fact] = {"pcr_oi": pcr}
    labels = {"pcr": tilt}
    text = f"The put-call ratio by open interest is {_n(pcr, 2)} ({tilt})"
    before = [v for _, v in inputs.pcr_series if v is not None]
    if len(before) >= 2:
        first = before[0]
        delta = pcr - first
        trend = ("rising" if delta >= th.pcr_change else
                 "falling" if delta <= -th.pcr_change else "steady")
        facts.update(pcr_oi_before=first, pcr_oi_change=delta,
                     pcr_points=len(inputs.pcr_series))
        labels["pcr_trend"] = trend
        text += f", {trend} from {_n(first, 2)} over the last {len(inputs.pcr_series)} snapshots"
    return Sentence("pcr", text + ".", facts, labels)


def _max_pain_sentence(front: ExpiryFigures, th: PulseThresholds) -> Sentence | None:
    mp, dist = front.max_pain_strike, front.max_pain_distance_pct
    if mp is None or dist is None:
        return None
    where = ("near spot" if abs(dist) <= th.max_pain_near_pct else
             "above spot" if dist > 0 else "below spot")
    return Sentence(
        "max_pain",
        f"Max pain for {front.expiry.isoformat()} is {_k(mp)}, {_n(abs(dist), 2)}% "
        f"{'above' if dist > 0 else 'below'} spot ({where}).",
        {"max_pain_strike": mp, "max_pain_distance_pct": dist}, {"max_pain": where})


def wall_role(front: ExpiryFigures, side: str) -> str:
    """", resistance" for the call wall at or above spot, ", support" for the put wall at or
    below it; nothing for a wall on the other side of spot (it is neither)."""
    if side == "call" and front.call_wall_strike is not None:
        return ", resistance" if front.call_wall_strike >= front.spot else ""
    if side == "put" and front.put_wall_strike is not None:
        return ", support" if front.put_wall_strike <= front.spot else ""
    return ""


_BUILDUP_WORDS = {"long_buildup": "long build-up", "short_buildup": "short build-up",
                  "short_covering": "short covering", "long_unwinding": "long unwinding"}


def _oi_sentence(front: ExpiryFigures) -> Sentence | None:
    if front.call_wall_strike is None or front.put_wall_strike is None:
        return None
    assert front.call_wall_oi is not None and front.put_wall_oi is not None
    facts: dict[str, Fact] = {
        "call_wall_strike": front.call_wall_strike, "call_wall_oi": front.call_wall_oi,
        "put_wall_strike": front.put_wall_strike, "put_wall_oi": front.put_wall_oi}
    text = (f"Open interest is heaviest at the {_k(front.call_wall_strike)} call "
            f"({_n(front.call_wall_oi, 0)} contracts{wall_role(front, 'call')}) and the "
            f"{_k(front.put_wall_strike)} put ({_n(front.put_wall_oi, 0)}"
            f"{wall_role(front, 'put')})")
    if front.call_oi_added_strike is not None and front.put_oi_added_strike is not None:
        facts.update(call_oi_added_strike=front.call_oi_added_strike,
                     call_oi_added=front.call_oi_added,
                     put_oi_added_strike=front.put_oi_added_strike,
                     put_oi_added=front.put_oi_added)
        text += (f"; the most was added at the {_k(front.call_oi_added_strike)} call "
                 f"({_n(front.call_oi_added or 0.0, 0)}) and the "
                 f"{_k(front.put_oi_added_strike)} put ({_n(front.put_oi_added or 0.0, 0)})")
    labels: dict[str, str] = {}
    if front.buildup:
        kind, count = max(sorted(front.buildup.items()), key=lambda kv: kv[1])
        total = sum(front.buildup.values())
        facts.update({f"buildup_{k}": v for k, v in sorted(front.buildup.items())})
        facts["buildup_classified"] = total
        labels["buildup"] = _BUILDUP_WORDS[kind]
        text += (f". Across strikes the build-up is mostly {_BUILDUP_WORDS[kind]} "
                 f"({count} of {total} classified contracts)")
    return Sentence("open_interest", text + ".", facts, labels)


def _iv_rank_sentence(front: ExpiryFigures, inputs: PulseInputs,
                      th: PulseThresholds) -> Sentence | None:
    if inputs.iv_lookback is None:
        if inputs.iv_unavailable is None:
            return None
        return Sentence("iv_rank", f"IV rank is not available: {inputs.iv_unavailable}.",
                        {"iv_rank": None, "iv_percentile": None})
    values = list(inputs.iv_lookback)
    current = values[-1] if values else math.nan
    rank: IVStat = iv_rank(values, current)
    percentile: IVStat = iv_percentile(values, current)
    lookback_days = inputs.iv_lookback_days
    if rank.value is None or percentile.value is None:
        return Sentence("iv_rank", f"IV rank is not available: {rank.reason}.",
                        {"iv_rank": None, "iv_percentile": None,
                         "iv_observations": rank.observations})
    level = ("elevated" if rank.value >= th.iv_rank_high else
             "subdued" if rank.value <= th.iv_rank_low else "moderate")
    return Sentence(
        "iv_rank",
        f"ATM IV is {level}: IV rank {_n(rank.value, 1)} and IV percentile "
        f"{_n(percentile.value, 1)} over {_n(lookback_days or 0.0, 0)} days "
        f"({rank.observations} observations, current {_pct(current)}).",
        {"iv_rank": rank.value, "iv_percentile": percentile.value,
         "iv_observations": rank.observations, "iv_lookback_days": lookback_days,
         "iv_rank_current": current}, {"iv_level": level})


def _term_sentence(figures: Sequence[ExpiryFigures], th: PulseThresholds) -> Sentence | None:
    solved = [f for f in figures if _finite(f.atm_forward_iv)]
    if len(solved) < 2:
        return None
    front, back = solved[0], solved[-1]
    assert front.atm_forward_iv is not None and back.atm_forward_iv is not None
    points = (front.atm_forward_iv - back.atm_forward_iv) * 100
    shape = ("inverted" if points > th.term_points else
             "upward sloping" if points < -th.term_points else "flat")
    return Sentence(
        "term_structure",
        f"The ATM-forward term structure is {shape}: {_pct(front.atm_forward_iv)} for "
        f"{front.expiry.isoformat()} ({days(front.days)}) against "
        f"{_pct(back.atm_forward_iv)} for {back.expiry.isoformat()} ({days(back.days)}).",
        {"atm_iv_front": front.atm_forward_iv, "front_expiry": front.expiry.isoformat(),
         "front_days": front.days, "atm_iv_back": back.atm_forward_iv,
         "back_expiry": back.expiry.isoformat(), "back_days": back.days,
         "term_points": points}, {"term_structure": shape})


def _skew_sentence(front: ExpiryFigures, th: PulseThresholds) -> Sentence | None:
    if front.rr25 is None or front.put25_iv is None or front.call25_iv is None:
        return None
    points = front.rr25 * 100
    side = ("puts bid" if points < -th.skew_points else
            "calls bid" if points > th.skew_points else "balanced")
    return Sentence(
        "skew",
        f"Skew for {front.expiry.isoformat()} is {side}: the 25-delta risk reversal is "
        f"{points:+.2f} vol points (25-delta put {_pct(front.put25_iv, 2)}, 25-delta call "
        f"{_pct(front.call25_iv, 2)}).",
        {"rr25": front.rr25, "put25_iv": front.put25_iv, "call25_iv": front.call25_iv},
        {"skew": side})


def _expected_move_sentence(front: ExpiryFigures) -> Sentence:
    facts: dict[str, Fact] = {"atm_straddle_price": front.atm_straddle_price,
                              "atm_strike": front.atm_strike, "days_to_expiry": front.days}
    text = (f"The {_k(front.atm_strike)} straddle costs {_n(front.atm_straddle_price, 2)} "
            f"with {days(front.days)} to {front.expiry.isoformat()}")
    if front.expected_move is not None and front.expected_move_pct is not None:
        facts.update(expected_move=front.expected_move,
                     expected_move_pct=front.expected_move_pct)
        text += (f"; the ATM-forward straddle prices an expected move of "
                 f"±{_n(front.expected_move, 2)} ({_n(front.expected_move_pct, 2)}%)")
    if front.expected_move_iv is not None and front.expected_move_iv_pct is not None:
        facts.update(expected_move_iv=front.expected_move_iv,
                     expected_move_iv_pct=front.expected_move_iv_pct)
        text += (f", one IV standard deviation ±{_n(front.expected_move_iv, 2)} "
                 f"({_n(front.expected_move_iv_pct, 2)}%)")
    return Sentence("expected_move", text + ".", facts)


def build_pulse(snap: ChainSnapshot, inputs: PulseInputs,
                thresholds: PulseThresholds | None = None) -> Pulse:
    """The narrative of ``snap``'s nearest expiry (and its term structure), with its facts.
    ``snap`` must list at least one expiry."""
    th = thresholds or PulseThresholds()
    figures = [expiry_figures(snap, c) for c in snap.chains]
    if not figures:
        raise ValueError(f"no listed expiries for '{snap.product}'")
    front = figures[0]
    sentences = [*_spot_sentences(snap, front, inputs, th),
                 _pcr_sentence(front, inputs, th), _max_pain_sentence(front, th),
                 _oi_sentence(front), _iv_rank_sentence(front, inputs, th),
                 _term_sentence(figures, th), _skew_sentence(front, th),
                 _expected_move_sentence(front)]
    data: dict[str, Fact] = {
        "spot_price": snap.spot, "expiry": front.expiry.isoformat(), "pcr_oi": front.pcr_oi,
        "pcr_volume": front.pcr_volume, "max_pain_strike": front.max_pain_strike,
        "atm_strike": front.atm_strike, "atm_straddle_price": front.atm_straddle_price,
        "atm_iv": front.atm_iv}
    return Pulse(snap.product, front.expiry, snap.sequence,
                 tuple(s for s in sentences if s is not None), data)
