"""Reading back what the store holds."""

from __future__ import annotations

import sqlalchemy as sa

from deltastream.store.rows import epoch_us


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
    ``shift`` and with the underlying moved by ``spot_offset``."""
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
        forward_residuals=np.full(len(snap.expiry_dates), 1e-4))
