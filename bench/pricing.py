"""Throughput of the pricing engine: options per second, median of repeated runs.

    python bench/pricing.py [--repeat 7]

Prints European price, price + the five Greeks (delta, gamma, theta, vega, rho), price + all
eight (with vanna, volga, charm) and implied volatility at N = 1,000,000 and American
price at N = 10,000 (the American pricer is benchmarked only when it is installed), on one
thread and on all of numba's threads, on the random grid of the accuracy tests
(S 50-500, K/S 0.5-1.5, T 1 day-2 years, r 0-8 %, q 0-3 %, vol 5-150 %).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable

import numba
import numpy as np

from deltastream.pricing import black_scholes_merton as bsm
from deltastream.pricing.implied_vol import implied_vol


def random_options(n: int, seed: int = 1, t_min: float = 1 / 365) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    spot = rng.uniform(50, 500, n)
    return {
        "spot": spot,
        "strike": spot * rng.uniform(0.5, 1.5, n),
        "time": rng.uniform(t_min, 2.0, n),
        "rate": rng.uniform(0.0, 0.08, n),
        "dividend_yield": rng.uniform(0.0, 0.03, n),
        "vol": rng.uniform(0.05, 1.5, n),
        "is_call": rng.random(n) < 0.5,
    }


def median_rate(fn: Callable[[], object], n: int, repeat: int) -> float:
    fn()  # compile / load the cached kernels
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--n-american", type=int, default=10_000)
    args = parser.parse_args()

    o = random_options(args.n)
    prices = bsm.price(**o)
    iv_args = {k: v for k, v in o.items() if k != "vol"}
    cases: list[tuple[str, int, Callable[[], object]]] = [
        ("European price", args.n, lambda: bsm.price(**o)),
        ("price + 5 Greeks", args.n, lambda: bsm.greeks(**o, second_order=False)),
        ("price + 8 Greeks", args.n, lambda: bsm.greeks(**o)),
        ("implied vol", args.n, lambda: implied_vol(prices, **iv_args)),
    ]
    if importlib.util.find_spec("deltastream.pricing.american") is not None:
        from deltastream.pricing import american

        a = random_options(args.n_american, seed=2, t_min=30 / 365)
        a["vol"] = np.random.default_rng(3).uniform(0.10, 0.80, args.n_american)
        cases.append(("American price", args.n_american, lambda: american.price(**a)))

    threads = numba.get_num_threads()
    print(f"{'case':<18} {'N':>10} {'1 thread':>14} {f'{threads} threads':>14}")
    for name, n, fn in cases:
        numba.set_num_threads(1)
        one = median_rate(fn, n, args.repeat)
        numba.set_num_threads(threads)
        many = median_rate(fn, n, args.repeat)
        print(f"{name:<18} {n:>10,} {one:>12,.0f}/s {many:>12,.0f}/s")


if __name__ == "__main__":
    main()
