"""Strategy and exposure analytics timings: median milliseconds of repeated runs.

    python bench/strategy.py [--repeat 51] [--section gex ...]

Sections (all by default):

- ``gex``: dealer gamma exposure with the zero-gamma search
  (:func:`deltastream.strategy.exposure.exposure`) of a simulated NIFTY chain of 201 strikes
  (one expiry, the nearest), as served and with the open interest moved to the
  out-of-the-money side (calls above the spot, puts below), where the total changes sign
  near the spot so the brentq refinement always runs; then every listed expiry summed per
  strike; then an American chain (AAPL, 201 strikes, nearest expiry), whose root is refined
  with the American pricer. Target (issue 18): <= 20 ms for the 201-strike chain.
- ``analyze``: :func:`deltastream.strategy.analysis.analyse` of a 4-leg iron condor (strikes
  by delta 0.2) on the same NIFTY snapshot, 500 grid points, both probability methods (the
  lognormal and the smile's Breeden-Litzenberger density), margin included; the legs
  resolved against the snapshot inside the timing. Then its parts: the smile density alone,
  and a calendar (numeric breakevens), and an AAPL (American) iron condor. Wall and CPU
  medians. Target (issue 18): <= 5 ms for the NIFTY iron condor.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from deltastream.catalog import load_catalog
from deltastream.core.snapshot import ChainSnapshot, ContractArrays, OptionSide
from deltastream.engine.runner import Engine
from deltastream.engine.setup import contract_terms, product_spec
from deltastream.market.clock import FixedClock
from deltastream.strategy.analysis import Request, analyse
from deltastream.strategy.density import served_smile, smile_density
from deltastream.strategy.exposure import exposure
from deltastream.strategy.legs import resolve
from deltastream.strategy.templates import Template, template_legs

START = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
STRIKES_EACH_SIDE = 100          # 201 strikes per expiry


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()   # compile / warm the caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def snapshot(symbol: str) -> ChainSnapshot:
    """A simulated snapshot of ``symbol`` with 201 strikes per expiry, after two ticks."""
    product = load_catalog()[symbol]
    engine = Engine([product_spec(product, STRIKES_EACH_SIDE)],
                    {symbol: contract_terms(product)}, seed=1, clock=FixedClock(START),
                    tick_interval=1.0, history=10)
    engine.tick()
    engine.clock.advance(1.0)
    return engine.tick()[symbol]


def out_of_the_money_interest(snap: ChainSnapshot) -> ChainSnapshot:
    fields = list(snap.contracts.fields)
    at = tuple(OptionSide.__dataclass_fields__).index("open_interest")
    oi = fields[at].copy()
    oi[0, snap.strikes < snap.spot] = 0.0
    oi[1, snap.strikes > snap.spot] = 0.0
    fields[at] = oi
    return replace(snap, contracts=ContractArrays(tuple(fields)))


def gex_section(repeat: int) -> None:
    nifty = snapshot("NIFTY")
    front = nifty.expiry_dates[0]
    cases = [("NIFTY 201 strikes, nearest expiry, served OI", nifty, front),
             ("NIFTY 201 strikes, nearest expiry, OTM OI", out_of_the_money_interest(nifty),
              front),
             (f"NIFTY all {len(nifty.expiry_dates)} expiries summed "
              f"({nifty.strikes.size} options per side)", nifty, None)]
    aapl = snapshot("AAPL")
    cases += [("AAPL (American) 201 strikes, nearest expiry, OTM OI",
               out_of_the_money_interest(aapl), aapl.expiry_dates[0])]
    for label, snap, expiry in cases:
        ms = median_ms(lambda s=snap, e=expiry: exposure(s, e), repeat)
        e = exposure(snap, expiry)
        level = "none" if e.zero_gamma is None else f"{e.zero_gamma:.2f}"
        print(f"gex  {label}: {ms:.2f} ms median (spot {snap.spot:.2f}, zero gamma {level})")


def analyze_section(repeat: int) -> None:
    nifty, aapl = snapshot("NIFTY"), snapshot("AAPL")

    def analysis(snap: ChainSnapshot, template: Template) -> Callable[[], object]:
        return lambda: analyse(snap, Request(resolve(snap, template_legs(snap, template)),
                                             points=500))

    condor = Template("iron_condor", strikes_by="delta", delta=0.2)
    smile = served_smile(nifty.chains[0])
    assert smile is not None
    cases = [("NIFTY iron condor, 500 points, both methods", analysis(nifty, condor)),
             ("NIFTY smile density alone (nearest expiry)", lambda: smile_density(smile)),
             ("NIFTY calendar (numeric breakevens), 500 points",
              analysis(nifty, Template("calendar"))),
             ("AAPL (American) iron condor, 500 points", analysis(aapl, condor))]
    for label, fn in cases:
        print(f"analyze  {label}: {median_ms(fn, repeat):.2f} ms median "
              f"({median_cpu_ms(fn, repeat):.2f} ms of CPU)")


def median_cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    """The median CPU time of this process per call: steadier than wall time on a loaded
    machine (the analysis runs on one thread)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1e3


SECTIONS: dict[str, Callable[[int], None]] = {"gex": gex_section,
                                              "analyze": analyze_section}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=51)
    parser.add_argument("--section", action="append", choices=sorted(SECTIONS),
                        help="run only these sections (repeatable; default all)")
    args = parser.parse_args()
    for name in args.section or list(SECTIONS):
        SECTIONS[name](args.repeat)


if __name__ == "__main__":
    main()
