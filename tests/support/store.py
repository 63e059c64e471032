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
