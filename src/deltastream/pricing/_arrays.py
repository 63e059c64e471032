"""Broadcasting of pricing inputs to flat arrays for the compiled kernels."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def broadcast_flat(
    *args: ArrayLike, bool_last: bool = True
) -> tuple[tuple[int, ...], list[np.ndarray]]:
    """Broadcast the inputs together and return (shape, flat 1-D views).

    Floating inputs become float64; when ``bool_last`` the last input (the call/put flag) becomes
    bool. Scalars broadcast as zero-stride views, so nothing is copied for them.
    """
    floats = args[:-1] if bool_last else args
    converted = [np.asarray(a, dtype=np.float64) for a in floats]
    if bool_last:
        converted.append(np.asarray(args[-1], dtype=np.bool_))
    shape = np.broadcast_shapes(*(a.shape for a in converted))
    # Read-only broadcast views: scalars are not copied, and nothing can write through them.
    return shape, [np.broadcast_to(a, shape).reshape(-1) for a in converted]


def shaped(out: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Give a flat kernel output the broadcast shape (a 0-d input gives a NumPy scalar)."""
    res = out.reshape(shape)
    return res[()] if shape == () else res
