"""Broadcasting of pricing inputs to flat arrays for the compiled kernels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numpy.typing import ArrayLike

from ..core.threads import real_lock

# Below this many options a thread pool costs more than it saves.
PARALLEL_MIN_SIZE = 20_000


# Numba's portable thread pool must not be entered by two threads at once (real OS threads,
# also where gevent has patched ``_thread``).
_POOL_LOCK = real_lock()


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
    # Arrays of the full shape are used as they are; the others become read-only broadcast
    # views (scalars are not copied, and nothing can write through them).
    return shape, [a.reshape(-1) if a.shape == shape else np.broadcast_to(a, shape).reshape(-1)
                   for a in converted]


def shaped(out: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Give a flat kernel output the broadcast shape (a 0-d input gives a NumPy scalar)."""
    res = out.reshape(shape)
    return res[()] if shape == () else res


def run_kernel(serial: Callable[..., Any], parallel: Callable[..., Any], n: int,
               *args: Any, min_size: int = PARALLEL_MIN_SIZE) -> None:
    """Run a loop kernel, on all of numba's threads when the batch is at least ``min_size``
    (lower for kernels that do more work per element)."""
    if n >= min_size and numba.get_num_threads() > 1:
        with _POOL_LOCK:
            parallel(*args)
    else:
        serial(*args)
