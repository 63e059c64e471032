"""Shared exercise boundaries: one solve per (maturity, rate, yield, volatility node), reused by
every strike of an expiry and by every later tick.

The unit-strike put boundary ``B(tau)/K`` depends on sigma, r, q and tau only. For a group of
options sharing T, r and q (one side of one expiry's chain) the boundary is solved on a fixed
geometric grid of volatilities (``SIG_MIN * SIG_RATIO**k``) and interpolated in ``ln sigma``
by six-point Lagrange interpolation of its Chebyshev coefficients over sigma^2 (``ln(B/X)^2``
grows like sigma^2; see :mod:`deltastream.pricing.american`). The grid's ratio 1.04 keeps the
interpolated boundary within ~1e-9 of its solve where the put's yield exceeds its rate (the
boundary bends fastest in sigma there), which vega and theta within 1e-4 of the boundary
need. The grid does not depend on the data, so the solves made
for the simulator's prices serve the engine's implied volatilities and Greeks of the same tick.

A boundary solved for the horizon ``T_h`` represents the same function ``B(tau)`` on
``[0, T_h]`` and serves every maturity ``T`` with ``T_h / (1 + HORIZON_SLACK) <= T <= T_h``:
time only moves forward, so a table made at one tick serves the following ticks until the
expiry has aged by that fraction. Nodes are solved lazily, when an option first needs them.

Units: T in years, rates and volatilities as decimals (see :mod:`deltastream.pricing`). The
tables are process-wide and guarded by ``lock``; hold it from slot assignment to the last
kernel that reads them.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.threads import real_lock

N_COEF = 9                 # Chebyshev coefficients of one boundary (american.N_NODES + 1)
SIG_MIN = 0.01
SIG_RATIO = 1.04
N_SIG = 180                # up to 0.01 * 1.04**179 ~ 11: beyond IV_MAX_VOL
LAGRANGE = 6               # interpolation points in ln(sigma)
HORIZON_SLACK = 0.02
MIN_GROUP = 8              # smaller groups are solved option by option
MAX_SLOTS = 8_192          # ~200 MB at most; the pool is emptied when full

LOG_SIG_MIN = math.log(SIG_MIN)
LOG_SIG_STEP = math.log(SIG_RATIO)
SIG_NODES = np.exp(LOG_SIG_MIN + LOG_SIG_STEP * np.arange(N_SIG))


class BoundaryTables:
    """The pool of boundary tables: ``coef[slot, k]`` (Chebyshev coefficients of the unit put
    boundary at ``SIG_NODES[k]``), ``solved[slot, k]``, and per slot the horizon, rate and yield
    it was solved for."""

    def __init__(self, capacity: int = 256) -> None:
        self.lock = real_lock()
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        self.coef = np.zeros((capacity, N_SIG, N_COEF))
        self.solved = np.zeros((capacity, N_SIG), dtype=np.bool_)
        self.horizon = np.zeros(capacity)
        self.rate = np.zeros(capacity)
        self.dividend_yield = np.zeros(capacity)
        self.used = 0
        # (rate, yield) -> [(horizon, slot), ...]
        self._index: dict[tuple[float, float], list[tuple[float, int]]] = {}

    def _reserve(self, n: int) -> bool:
        """Room for ``n`` new slots: the pool doubles, or is emptied at ``MAX_SLOTS`` (the
        tables are re-solved on demand; returns True), never while a batch holds slots."""
        capacity = self.coef.shape[0]
        if self.used + n <= capacity:
            return False
        if self.used + n > MAX_SLOTS:
            self._allocate(max(capacity, n))
            return True
        while self.used + n > capacity:
            capacity *= 2
        old = (self.coef, self.solved, self.horizon, self.rate, self.dividend_yield)
        used, index = self.used, self._index
        self._allocate(capacity)
        for new, prev in zip((self.coef, self.solved, self.horizon, self.rate,
                              self.dividend_yield), old, strict=True):
            new[:prev.shape[0]] = prev
        self.used, self._index = used, index
        return False

    def _existing(self, T: float, r: float, q: float) -> int:
        for horizon, slot in self._index.get((r, q), []):
            if T <= horizon <= T * (1.0 + HORIZON_SLACK):
                return slot
        return -1

    def _slot(self, T: float, r: float, q: float) -> int:
        found = self._existing(T, r, q)
        if found >= 0:
            return found
        entries = self._index.setdefault((r, q), [])
        slot = self.used
        self.used += 1
        self.horizon[slot], self.rate[slot], self.dividend_yield[slot] = T, r, q
        self.solved[slot] = False
        # Drop the horizons this one supersedes (older, longer ones of an expiry now shorter).
        entries[:] = [(h, s) for h, s in entries if h < T or h > T * (1.0 + 4 * HORIZON_SLACK)]
        entries.append((T, slot))
        return slot

    def slots(self, T: np.ndarray, r: np.ndarray, q: np.ndarray, eligible: np.ndarray
              ) -> np.ndarray:
        """Slot per option of the unit put with maturity ``T``, rate ``r`` and yield ``q``
        (a call's already swapped), -1 where not ``eligible`` or its group has fewer than
        ``MIN_GROUP`` options."""
        out = np.full(T.shape[0], -1, dtype=np.int64)
        idx = np.flatnonzero(eligible)
        if idx.size < MIN_GROUP:
            return out
        # Group by the three keys through integer codes (np.unique on rows sorts slowly).
        code = np.zeros(idx.size, dtype=np.int64)
        columns = []
        for column in (T[idx], r[idx], q[idx]):
            values, inverse = np.unique(column, return_inverse=True)
            code = code * values.size + inverse.reshape(-1)
            columns.append((values, inverse.reshape(-1)))
        first_of, inverse, counts = np.unique(code, return_index=True, return_inverse=True,
                                              return_counts=True)[1:]
        keys = np.stack([values[inv[first_of]] for values, inv in columns], axis=1)
        group_slot = np.full(keys.shape[0], -1, dtype=np.int64)
        groups = [(g, float(keys[g, 0]), float(keys[g, 1]), float(keys[g, 2]))
                  for g in np.flatnonzero(counts >= MIN_GROUP).tolist()]
        # Room for the groups without a table yet (all of them if that empties the pool):
        # reserving for every group emptied a full pool whose tables served them all.
        if self._reserve(sum(self._existing(T_, r_, q_) < 0 for _, T_, r_, q_ in groups)):
            self._reserve(len(groups))
        for g, T_, r_, q_ in groups:
            group_slot[g] = self._slot(T_, r_, q_)
        out[idx] = group_slot[inverse.reshape(-1)]
        return out

    def missing_nodes(self, slots: np.ndarray, first: np.ndarray) -> tuple[np.ndarray,
                                                                           np.ndarray]:
        """The unsolved (slot, node) pairs of the stencils ``first .. first + LAGRANGE - 1``."""
        nodes = (first[:, None] + np.arange(LAGRANGE)).reshape(-1)
        flat = np.unique(np.repeat(slots, LAGRANGE) * N_SIG + nodes)
        s, k = np.divmod(flat, N_SIG)
        todo = ~self.solved[s, k]
        return s[todo], k[todo]


TABLES = BoundaryTables()
