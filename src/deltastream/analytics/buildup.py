"""Open-interest build-up: what the day's change in premium and open interest says.

==============  =============  ======================
premium change  OI change      classification
==============  =============  ======================
up              up             ``long_buildup``
down            up             ``short_buildup``
up              down           ``short_covering``
down            down           ``long_unwinding``
==============  =============  ======================

Where either change is zero the move says nothing and the type is None.
"""

from __future__ import annotations

import numpy as np

LONG_BUILDUP = "long_buildup"
SHORT_BUILDUP = "short_buildup"
SHORT_COVERING = "short_covering"
LONG_UNWINDING = "long_unwinding"


def classify(premium_change: np.ndarray, oi_change: np.ndarray) -> list[str | None]:
    """Build-up type per contract from the signs of the two changes."""
    dp = np.sign(np.asarray(premium_change, dtype=np.float64))
    do = np.sign(np.asarray(oi_change, dtype=np.float64))
    table = {(1.0, 1.0): LONG_BUILDUP, (-1.0, 1.0): SHORT_BUILDUP,
             (1.0, -1.0): SHORT_COVERING, (-1.0, -1.0): LONG_UNWINDING}
    return [table.get((float(p), float(o))) for p, o in zip(dp, do, strict=True)]
