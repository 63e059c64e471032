"""Per-option outcome codes of the implied-volatility solvers.

A solver never raises and never invents a volatility: where no volatility reproduces the price,
it returns NaN with one of these codes saying why.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class IVStatus(IntEnum):
    """Why an implied volatility is (or is not) available; the ``.label`` is the API string."""

    OK = 0
    BELOW_INTRINSIC = 1
    ABOVE_UPPER_BOUND = 2
    NON_POSITIVE_TIME = 3
    NON_POSITIVE_PRICE = 4
    INVALID_INPUT = 5
    NO_TIME_VALUE = 6
    NOT_CONVERGED = 7

    @property
    def label(self) -> str:
        return self.name.lower()


# The codes as plain integers, for compiled kernels (numba folds module-level integers into
# the machine code; it cannot read an enum member there).
OK = int(IVStatus.OK)
BELOW_INTRINSIC = int(IVStatus.BELOW_INTRINSIC)
ABOVE_UPPER_BOUND = int(IVStatus.ABOVE_UPPER_BOUND)
NON_POSITIVE_TIME = int(IVStatus.NON_POSITIVE_TIME)
NON_POSITIVE_PRICE = int(IVStatus.NON_POSITIVE_PRICE)
INVALID_INPUT = int(IVStatus.INVALID_INPUT)
NO_TIME_VALUE = int(IVStatus.NO_TIME_VALUE)
NOT_CONVERGED = int(IVStatus.NOT_CONVERGED)

LABELS = np.array([s.label for s in IVStatus], dtype=object)


def labels(codes: np.ndarray) -> np.ndarray:
    """Map an array of status codes to their API strings (``ok``, ``below_intrinsic``, ...)."""
    return LABELS[np.asarray(codes, dtype=np.int64)]
