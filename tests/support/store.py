"""Reading back what the store holds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from deltastream.core.snapshot import ChainSnapshot
from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from deltastream.store.database import open_database, sqlite_url
from deltastream.store.imports import write_imported
from deltastream.store.rows import epoch_us

from .specs import EUROPEAN, START, spec, terms

# The second product of a stored day ('IDX' is EUROPEAN), and the time between snapshots.
TAPE_SECOND = spec("SEC", 410.0, 5.0, 0.01, False, strikes_each_side=6)
TAPE_STEP = timedelta(minutes=5)


def count(db: sa.Engine, table: sa.Table) -> int:
    with db.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def expected_archive_times(snaps, every: float) -> list[int]:
    out: list[int] = []
    for s in snaps:
        ts = epoch_us(s.timestamp)
        if not out or ts >= out[-1] + every * 1e6:
            out.append(ts)
    return out


def imported(snap, source: str, *, product: str | None = None, shift=None, spot_offset=0.0):
    """``snap`` as an import of ``source`` would store it: with quality arrays (every tenth
    contract flagged as not listed, no vendor numbers), optionally renamed, moved in time by
    ``shift`` and with the underlying moved by ``spot_offset``; without session state, which
    imported files do not carry."""
    import dataclasses
    from datetime import timedelta

    import numpy as np

    from deltastream.core.snapshot import ContractQuality
    from deltastream.core.types import PriceSource, QuoteFlag

    n = snap.strikes.size
    flags = np.zeros((2, n), np.int16)
    flags[:, ::10] = int(QuoteFlag.NO_CONTRACT)
    flags[0, 1] = int(QuoteFlag.ZERO_BID)
    nan = np.full((2, n), np.nan)
    quality = ContractQuality(price_source=np.full((2, n), int(PriceSource.MID), np.int8),
                              flags=flags, vendor_iv=nan, vendor_delta=nan, vendor_gamma=nan,
                              vendor_theta=nan, vendor_vega=nan, vendor_rho=nan)
    when = snap.timestamp + (shift or timedelta(0))
    return dataclasses.replace(
        snap, source=source, product=product or snap.product, timestamp=when,
        sequence=int(when.timestamp()), spot=snap.spot + spot_offset, quality=quality,
        forward_residuals=np.full(len(snap.expiry_dates), 1e-4), market_status=None,
        market_status_until=None)


def tape_day(steps: int, *, seed: int, data_dir: Path | None = None
             ) -> list[dict[str, ChainSnapshot]]:
    """``steps`` snapshots of two simulated products (IDX in INR, SEC in USD), ``TAPE_STEP``
    apart from START, each as the source 'tape' imported it (see :func:`imported`); stored in
    ``data_dir``'s SQLite store when given."""
    clock = FixedClock(START)
    engine = Engine([EUROPEAN, TAPE_SECOND],
                    {"IDX": terms(EUROPEAN), "SEC": terms(TAPE_SECOND, "USD")},
                    seed=seed, clock=clock, history=100)
    day = []
    for _ in range(steps):
        day.append({p: imported(s, "tape") for p, s in engine.tick().items()})
        clock.advance(TAPE_STEP.total_seconds())
    if data_dir is not None:
        db = open_database(sqlite_url(data_dir))
        try:
            counts = write_imported(db, [s for step in day for s in step.values()])
            assert counts.snapshots_stored == 2 * steps
        finally:
            db.dispose()
    return day
