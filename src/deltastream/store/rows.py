"""Pure mappings from a :class:`ChainSnapshot` to the store's rows (plain dicts of Python
scalars, ready for an executemany).

Times are stored as integer microseconds since the Unix epoch, UTC; undefined numbers (NaN)
become None (NULL) so SQLite and PostgreSQL read back the same. Every row carries the
snapshot's ``source`` (``simulator`` for the simulated market), the first column of each
table's key.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from ..core.snapshot import ChainSnapshot, ExpiryChain
from ..core.snapshot_codec import encode_snapshot

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Row = dict[str, Any]


def epoch_us(when: datetime) -> int:
    """Microseconds since the Unix epoch of a timezone-aware time (exact, no float)."""
    if when.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return (when - EPOCH) // _MICROSECOND


def from_epoch_us(us: int) -> datetime:
    """The UTC time ``us`` microseconds after the Unix epoch."""
    return EPOCH + timedelta(microseconds=int(us))


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def tick_row(snap: ChainSnapshot) -> Row:
    """The underlying's tick: price (spot, in the product's currency) and the volume traded
    since the previous tick."""
    return {"source": snap.source, "product": snap.product, "ts": epoch_us(snap.timestamp),
            "sequence": int(snap.sequence), "price": float(snap.spot),
            "volume": float(snap.tick_volume)}


def archive_row(snap: ChainSnapshot, level: int = 6) -> Row:
    """The full chain, encoded by :func:`~deltastream.core.snapshot_codec.encode_snapshot`
    at zlib compression ``level``."""
    return {"source": snap.source, "product": snap.product, "ts": epoch_us(snap.timestamp),
            "sequence": int(snap.sequence), "payload": encode_snapshot(snap, level)}


def atm_iv(chain: ExpiryChain) -> float | None:
    """Implied volatility (decimal) at the chain's ATM strike: the mean of the call's and the
    put's where both solved, the one that solved otherwise, None when neither did."""
    i = int(np.searchsorted(chain.strikes, chain.atm_strike))
    if i >= chain.strikes.size or chain.strikes[i] != chain.atm_strike:
        return None
    ivs = [float(chain.calls.iv[i]), float(chain.puts.iv[i])]
    solved = [v for v in ivs if math.isfinite(v)]
    return sum(solved) / len(solved) if solved else None


def summary_rows(snap: ChainSnapshot) -> list[Row]:
    """One row per listed expiry: PCR (OI and volume), max pain, ATM strike / IV / straddle
    and the total call and put open interest and volume. ``expiry_rank`` 0 is the nearest."""
    ts = epoch_us(snap.timestamp)
    ranks = {e: r for r, e in enumerate(sorted(c.expiry for c in snap.chains))}
    rows = []
    for chain in snap.chains:
        calls, puts = chain.calls, chain.puts
        rows.append({
            "source": snap.source, "product": snap.product, "expiry": chain.expiry, "ts": ts,
            "expiry_rank": ranks[chain.expiry], "sequence": int(snap.sequence),
            "spot": float(chain.spot), "pcr_oi": _finite(chain.pcr_oi),
            "pcr_volume": _finite(chain.pcr_volume),
            "max_pain_strike": _finite(chain.max_pain_strike),
            "atm_strike": float(chain.atm_strike), "atm_iv": atm_iv(chain),
            "atm_straddle": _finite(chain.atm_straddle_price),
            # nansum: an imported chain has no interest or volume where a side is missing.
            "call_oi": float(np.nansum(calls.open_interest)),
            "put_oi": float(np.nansum(puts.open_interest)),
            "call_volume": float(np.nansum(calls.volume)),
            "put_volume": float(np.nansum(puts.volume)),
        })
    return rows


def session_close_rows(snap: ChainSnapshot, session_date: date) -> list[Row]:
    """Each contract's closing open interest (contracts) and last premium at the close of
    ``session_date``, taken from the session's last snapshot."""
    rows: list[Row] = []
    for chain in snap.chains:
        strikes = chain.strikes.tolist()
        for right, side in (("C", chain.calls), ("P", chain.puts)):
            for strike, oi, last in zip(strikes, side.open_interest.tolist(),
                                        side.last.tolist(), strict=True):
                rows.append({"source": snap.source, "product": snap.product,
                             "session_date": session_date,
                             "expiry": chain.expiry, "strike": strike, "right": right,
                             "close_oi": float(oi), "close_last": _finite(last)})
    return rows
