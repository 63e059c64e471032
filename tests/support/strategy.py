"""Snapshots for the strategy tests: a European index (lot 50) and an American stock (lot
100) priced by the engine on a fixed clock, and one snapshot with a flat smile."""

from __future__ import annotations

import dataclasses

import numpy as np

from deltastream.core.snapshot import ChainSnapshot, ContractArrays
from deltastream.engine.runner import Engine
from deltastream.market.clock import FixedClock
from tests.support.specs import EUROPEAN, START, spec, terms

AMERICAN = spec("STK", 180.0, 2.5, 0.01, True)


def served(american: bool = False, seed: int = 3) -> ChainSnapshot:
    """One engine tick's snapshot of the European index (or the American stock)."""
    product = AMERICAN if american else EUROPEAN
    t = terms(AMERICAN, "USD", 100) if american else terms(EUROPEAN)
    engine = Engine([product], {product.symbol: t}, seed=seed, clock=FixedClock(START),
                    tick_interval=1.0, history=10)
    engine.tick()
    snap = engine.latest(product.symbol)
    assert snap is not None
    return snap


def with_iv(snap: ChainSnapshot, iv: float) -> ChainSnapshot:
    """``snap`` with every served IV replaced by ``iv`` (a flat smile; prices unchanged)."""
    fields = list(snap.contracts.fields)
    names = [f.name for f in dataclasses.fields(type(snap.chains[0].calls))]
    flat = np.full(fields[names.index("iv")].shape, iv)
    flat.setflags(write=False)
    fields[names.index("iv")] = flat
    return dataclasses.replace(snap, contracts=ContractArrays(tuple(fields)))
