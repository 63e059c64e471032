"""Matching of resting limit orders against one tick: milliseconds per tick, median of runs.

    python bench/trading.py [--orders 10000] [--contracts 400] [--repeat 51]

Builds ``--orders`` resting limit orders (random sides, whole lots of 65, limits within 6
ticks of the mid) spread over ``--contracts`` books of 5 levels, then times
``match_resting_limits`` on fresh quotes (each run a new random tick). The issue's target is
10,000 resting orders in at most 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from deltastream.trading.matching import match_resting_limits

LEVELS = 5
LOT = 65


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--contracts", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=51)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    mid = rng.integers(100, 4000, args.contracts)
    contract = rng.integers(0, args.contracts, args.orders)
    is_buy = rng.random(args.orders) < 0.5
    limit = mid[contract] + rng.integers(-6, 7, args.orders)
    remaining = rng.integers(1, 10, args.orders) * LOT
    depth = np.arange(LEVELS)
    timings = []
    filled_units = 0
    for _ in range(args.repeat + 1):
        moved = mid + rng.integers(-3, 4, args.contracts)
        bid_ticks = moved[:, None] - 1 - depth
        ask_ticks = moved[:, None] + 1 + depth
        bid_sizes = rng.integers(1, 8, (args.contracts, LEVELS)) * LOT
        ask_sizes = rng.integers(1, 8, (args.contracts, LEVELS)) * LOT
        start = time.perf_counter()
        filled = match_resting_limits(contract, is_buy, limit, remaining, bid_ticks, bid_sizes,
                                      ask_ticks, ask_sizes)
        timings.append(time.perf_counter() - start)
        filled_units += int(filled.sum())
    timings = timings[1:]     # the first run warms NumPy's code paths
    print(f"match_resting_limits: {args.orders} resting orders on {args.contracts} contracts, "
          f"{LEVELS} levels: median {statistics.median(timings) * 1e3:.2f} ms, "
          f"max {max(timings) * 1e3:.2f} ms over {args.repeat} ticks "
          f"({filled_units / (args.repeat + 1):.0f} units filled per tick)")


if __name__ == "__main__":
    main()
