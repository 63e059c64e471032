"""Time of one market tick: quotes, implied volatility and Greeks for every listed contract.

    python bench/market.py [--ticks 20]

Prints the median time of one full tick of the default catalogue (all products, all listed
expiries; 101 strikes per Indian and 61 per US expiry), of a generated universe of 200
NSE-style (European) index underlyings (5 expiries x 51 strikes: ~100,000 options) and of one
of 200 US single names (American, 5 expiries x 51 strikes: ~100,000 options, spots from 20 to
420 and dividend yields from 0 to 3 %, each name its own), on one thread: wall-clock time and
the process's CPU time (the steadier figure on a busy machine). The first tick (compilation,
and the American exercise boundaries the following ticks reuse) is not counted.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from datetime import UTC, datetime

import numba

from deltastream.catalog import load_catalog
from deltastream.catalog.expiry_rules import ExpiryRule, ExpirySeries
from deltastream.catalog.loader import Catalog
from deltastream.engine.setup import build_engine
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings

START = datetime(2026, 11, 25, 5, 0, tzinfo=UTC)


def nse_universe(n: int) -> Catalog:
    """``n`` NIFTY-like underlyings: 2 weeklies and 3 monthlies each (5 expiries)."""
    nifty = load_catalog()["NIFTY"]
    weekly = ExpirySeries("weekly", 2, (ExpiryRule("weekly", 1),))
    monthly = ExpirySeries("monthly", 3, (ExpiryRule("monthly_last", 1),))
    return Catalog([dataclasses.replace(nifty, symbol=f"U{i:03d}", spot=1000.0 + 37.0 * i,
                                        strike_step=10.0, expiries=(weekly, monthly))
                    for i in range(n)])


def us_universe(n: int) -> Catalog:
    """``n`` AAPL-like American single names: 2 weeklies and 3 monthlies each (5 expiries),
    each with its own spot and dividend yield (so no two share an exercise boundary)."""
    aapl = load_catalog()["AAPL"]
    weekly = ExpirySeries("weekly", 2, (ExpiryRule("weekly", 4),))
    monthly = ExpirySeries("monthly", 3, (ExpiryRule("monthly_third", 4),))
    return Catalog([dataclasses.replace(aapl, symbol=f"A{i:03d}", spot=20.0 + 2.0 * i,
                                        strike_step=0.5 if i < 15 else 2.5,
                                        dividend_yield=0.03 * ((7 * i) % n) / n,
                                        expiries=(weekly, monthly))
                    for i in range(n)])


def time_ticks(catalog: Catalog, strikes_each_side: int, ticks: int
               ) -> tuple[float, float, int]:
    """Median wall and CPU seconds of one tick, and the number of options quoted."""
    clock = FixedClock(START)
    # Around the clock: the NSE and US sessions never overlap, and a tick quotes everything.
    engine = build_engine(catalog, Settings(strikes_each_side=strikes_each_side,
                                            hours="always"), clock)
    snaps = engine.tick()  # compile / warm up, and list the books
    wall, cpu = [], []
    for _ in range(ticks):
        clock.advance(1.0)
        w0, c0 = time.perf_counter(), time.process_time()
        snaps = engine.tick()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    options = sum(2 * len(c.strikes) for s in snaps.values() for c in s.chains)
    return statistics.median(wall), statistics.median(cpu), options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=20)
    args = parser.parse_args()
    numba.set_num_threads(1)
    print(f"{'market':<34} {'options':>9} {'median wall':>12} {'median CPU':>12}")
    default = load_catalog()
    for name, cat, each_side in [
        ("default catalogue", default, 50),
        ("200 NSE-style underlyings", nse_universe(200), 25),
        ("200 US single names (American)", us_universe(200), 25),
    ]:
        wall, cpu, options = time_ticks(cat, each_side, args.ticks)
        print(f"{name:<34} {options:>9,} {wall * 1e3:>9.1f} ms {cpu * 1e3:>9.1f} ms")


if __name__ == "__main__":
    main()
