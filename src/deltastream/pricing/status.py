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


LABELS = np.array([s.label for s in IVStatus], dtype=object)


def labels(codes: np.ndarray) -> np.ndarray:
    """Map an array of status codes to their API strings (``ok``, ``below_intrinsic``, ...)."""
    return LABELS[np.asarray(codes, dtype=np.int64)]
