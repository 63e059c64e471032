"""Comparing snapshots: field by field, and as the bytes of their served JSON."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from deltastream.core.snapshot import ChainSnapshot
from deltastream.web.json import dumps
from deltastream.web.serialize import chain_dict


def assert_same(a, b, path: str = "snapshot") -> None:
    """Field-by-field equality: arrays by dtype, shape and bits (NaN equal to NaN)."""
    assert type(a) is type(b), path
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, path
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), path
        assert not b.flags.writeable, f"{path} is writeable"
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, path


def assert_same_chains(a: ChainSnapshot, b: ChainSnapshot) -> None:
    assert len(a.chains) == len(b.chains)
    for x, y in zip(a.chains, b.chains, strict=True):
        assert_same(x, y, f"chain {x.expiry}")
        assert_same(x.calls, y.calls, f"calls {x.expiry}")
        assert_same(x.puts, y.puts, f"puts {x.expiry}")


def serialized(snaps, strikes: int) -> bytes:
    """Every chain of one tick's snapshots as served JSON with ``strikes`` strikes."""
    return b"".join(dumps(chain_dict(c, strikes)) for s in snaps.values() for c in s.chains)
