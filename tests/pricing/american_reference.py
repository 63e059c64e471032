"""QuantLib QdFp reference Greeks of the options of test_american_boundary, stored in
``data/american_greeks_reference.npz`` (computing them takes minutes; the test reads them and
recomputes a sample to show the file is QuantLib's output).

    python -m tests.pricing.american_reference
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.pricing.test_american_boundary import GREEKS, N_RANDOM, options, quantlib_greeks

REFERENCE = Path(__file__).parent / "data" / "american_greeks_reference.npz"
FIELDS = (*GREEKS, "exercised")


def compute(rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The reference Greeks of ``rows`` (all options when None)."""
    o = options()
    idx = np.arange(len(o["S"])) if rows is None else rows
    ref = [quantlib_greeks(*(o[k][i] for k in ("S", "K", "days", "r", "q", "sig", "call")),
                           near=i >= N_RANDOM)
           for i in idx]
    return {k: np.array([x[k] for x in ref]) for k in FIELDS}


def main() -> None:
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, **compute())


if __name__ == "__main__":
    main()
