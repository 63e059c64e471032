"""Margin: premium for long options, a SPAN-style scan (India) or strategy-based rules (US)
for shorts and spreads, exposure margin, and the check of an order against available margin.

Units: quantities signed ``int`` units of the underlying; prices, strikes and spot in the
product's currency per unit; time in years (ACT/365), rates, yields and volatilities
continuous annualised decimals (the pricing package's units). Margins are ``Decimal`` rounded
half-up to 0.01.

Cash model (why premium is never counted twice): the cash balance moves with every fill (a
buy pays its premium, a sell receives it, charges are paid). A margin requirement is what the
positions block from that cash: ``available = cash - requirement``. A long option's premium
is therefore blocked once, by the cash it took, and its requirement is zero; a position that
closes leaves no requirement, so its margin is released at once.

SPAN-style scan (NSE/BSE index options; parameters per product in :data:`SCAN_DEFAULTS`):
the underlying moves by 0, +-1/3, +-2/3 and +-1 price scan range, each with volatility up and
down by the volatility scan range (14 scenarios), plus two extreme moves of +-2 ranges at
unchanged volatility counting 35 % of their loss (16 in all, CME's standard array). Each
option is repriced with the European or American pricer at the same time to expiry. A
scenario's loss is sum of quantity x (value now - value in the scenario); the scan risk is the
largest loss (at least zero), and the requirement is ``max(scan risk - net value, 0)`` where
the net value is sum of quantity x value now over options and underlying alike (SPAN's net
option value, extended to the underlying because its trades move the cash too: longs' value
offsets risk, shorts' value is owed). So a long option or a long underlying needs nothing
beyond what it cost, a covered call nothing beyond its stock, and a short underlying its
proceeds plus its scan risk. Exposure margin (Indian index options) adds 2 % of the notional
(spot x units) of short options.

Defaults, approximate: Indian indices scan 6 % of the price (NSE sets 3.5 daily standard
deviations of the index, about 5-7 % for NIFTY in 2025) and 4 volatility points (NSE's index
option volatility scan range); US names 15 % and 6 points (the OCC/TIMS range for equities),
used only when a US scan is asked for.

US strategy-based rules (CBOE margin manual, Reg T accounts): a long option needs nothing
beyond its premium; a naked short call needs its value plus max(20 % of the underlying less
the out-of-the-money amount, 10 % of the underlying), a naked short put its value plus
max(20 % of the underlying less the out-of-the-money amount, 10 % of the strike); a short
paired with a long of the same right expiring no earlier (a vertical spread) needs its maximum
loss, (long strike - short strike) for calls and (short strike - long strike) for puts, at
least zero, per paired unit. Shorts are paired with the longs that give the smallest
maximum loss first. A long underlying is paid in full (no requirement); a short underlying
needs 150 % of its value (Reg T: the proceeds plus 50 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from ..pricing import american
from ..pricing import black_scholes_merton as bsm
from .charges import to_cents

# (price move in scan ranges, volatility move in scan ranges, weight of the loss)
SCENARIOS: tuple[tuple[float, int, float], ...] = (
    (0.0, +1, 1.0), (0.0, -1, 1.0),
    (+1 / 3, +1, 1.0), (+1 / 3, -1, 1.0), (-1 / 3, +1, 1.0), (-1 / 3, -1, 1.0),
    (+2 / 3, +1, 1.0), (+2 / 3, -1, 1.0), (-2 / 3, +1, 1.0), (-2 / 3, -1, 1.0),
    (+1.0, +1, 1.0), (+1.0, -1, 1.0), (-1.0, +1, 1.0), (-1.0, -1, 1.0),
    (+2.0, 0, 0.35), (-2.0, 0, 0.35),
)
# Volatility never scans below this (a scenario with no volatility is not a price).
MIN_SCAN_VOL = 0.01


@dataclass(frozen=True)
class ScanParameters:
    """One product's scan: ``price_range`` a fraction of the spot, ``vol_range`` absolute
    volatility (0.04 = 4 points), ``exposure_rate`` of short options' notional."""

    price_range: float
    vol_range: float
    exposure_rate: float = 0.0


INDIA_INDEX_SCAN = ScanParameters(price_range=0.06, vol_range=0.04, exposure_rate=0.02)
US_SCAN = ScanParameters(price_range=0.15, vol_range=0.06)
SCAN_DEFAULTS: dict[str, ScanParameters] = {
    "NIFTY": INDIA_INDEX_SCAN, "BANKNIFTY": INDIA_INDEX_SCAN, "FINNIFTY": INDIA_INDEX_SCAN,
    "SENSEX": INDIA_INDEX_SCAN, "AAPL": US_SCAN, "TSLA": US_SCAN, "SPY": US_SCAN,
    "QQQ": US_SCAN,
}


def scan_parameters(product: str, exchange: str) -> ScanParameters:
    """A product's scan parameters: its entry in :data:`SCAN_DEFAULTS`, else by exchange."""
    found = SCAN_DEFAULTS.get(product)
    if found is not None:
        return found
    return INDIA_INDEX_SCAN if exchange in ("NSE", "BSE") else US_SCAN


@dataclass(frozen=True)
class RiskPosition:
    """A position as margin sees it: ``right`` "call" | "put", or None for the underlying."""

    quantity: int
    right: str | None = None
    strike: float = 0.0
    time: float = 0.0          # years to expiry
    vol: float = 0.0           # the option's implied volatility
    american: bool = False


@dataclass(frozen=True)
class Market:
    spot: float
    rate: float
    dividend_yield: float


def _values(positions: Sequence[RiskPosition], market: Market, spot: np.ndarray,
            vol_shift: np.ndarray) -> np.ndarray:
    """Unit values, shape (len(spot), len(positions)), at each (spot, volatility shift)."""
    out = np.empty((spot.shape[0], len(positions)))
    for j, p in enumerate(positions):
        if p.right is None:
            out[:, j] = spot
            continue
        vol = np.maximum(p.vol + vol_shift, MIN_SCAN_VOL)
        pricer = american.price if p.american else bsm.price
        out[:, j] = pricer(spot, p.strike, p.time, market.rate, market.dividend_yield, vol,
                           p.right == "call")
    return out


@dataclass(frozen=True)
class ScanResult:
    """The 16 scenario losses (weighted, in :data:`SCENARIOS` order), the scan risk, the net
    value of the positions and the requirement ``max(scan risk - net value, 0)``."""

    losses: tuple[float, ...]
    scan_risk: float
    net_value: float

    @property
    def requirement(self) -> float:
        return max(self.scan_risk - self.net_value, 0.0)


def span_scan(positions: Sequence[RiskPosition], market: Market, params: ScanParameters
              ) -> ScanResult:
    """The SPAN-style scan of one underlying's positions (module docstring)."""
    if not positions:
        return ScanResult(tuple(0.0 for _ in SCENARIOS), 0.0, 0.0)
    moves = np.array([m for m, _, _ in SCENARIOS])
    shifts = np.array([v for _, v, _ in SCENARIOS], dtype=float) * params.vol_range
    weights = np.array([w for _, _, w in SCENARIOS])
    quantity = np.array([p.quantity for p in positions], dtype=float)
    now = _values(positions, market, np.array([market.spot]), np.zeros(1))[0]
    scenario = _values(positions, market, market.spot * (1 + moves * params.price_range),
                       shifts)
    losses = weights * ((now - scenario) @ quantity)
    return ScanResult(tuple(float(x) for x in losses), max(float(losses.max()), 0.0),
                      float(quantity @ now))


def exposure_margin(positions: Sequence[RiskPosition], spot: float,
                    params: ScanParameters) -> float:
    """``exposure_rate`` x spot x units of the short options."""
    short_units = sum(-p.quantity for p in positions if p.right is not None and p.quantity < 0)
    return params.exposure_rate * spot * short_units


@dataclass(frozen=True)
class MarginBreakdown:
    """A requirement by part (Decimal, 0.01): ``span`` (or ``strategy`` for US rules),
    ``exposure``, and ``total`` = their sum."""

    span: Decimal
    exposure: Decimal
    strategy: Decimal

    @property
    def total(self) -> Decimal:
        return self.span + self.exposure + self.strategy


def india_margin(positions: Sequence[RiskPosition], market: Market,
                 params: ScanParameters = INDIA_INDEX_SCAN) -> MarginBreakdown:
    """SPAN-style requirement plus exposure margin of one Indian underlying's positions."""
    scan = span_scan(positions, market, params)
    return MarginBreakdown(to_cents(Decimal(repr(scan.requirement))),
                           to_cents(Decimal(repr(exposure_margin(positions, market.spot,
                                                                 params)))),
                           Decimal("0.00"))


def _unit_value(p: RiskPosition, market: Market) -> float:
    return float(_values([p], market, np.array([market.spot]), np.zeros(1))[0, 0])


def naked_short_per_unit(right: str, strike: float, spot: float, premium: float) -> float:
    """US rule for one unit of a naked short option (module docstring)."""
    if right == "call":
        out_of_money = max(strike - spot, 0.0)
        floor = 0.10 * spot
    else:
        out_of_money = max(spot - strike, 0.0)
        floor = 0.10 * strike
    return premium + max(0.20 * spot - out_of_money, floor)


def spread_max_loss_per_unit(right: str, short_strike: float, long_strike: float) -> float:
    """The most a vertical spread (short one strike, long another) can lose per unit."""
    width = long_strike - short_strike if right == "call" else short_strike - long_strike
    return max(width, 0.0)


def us_margin(positions: Sequence[RiskPosition], market: Market) -> MarginBreakdown:
    """Strategy-based requirement of one US underlying's positions (module docstring)."""
    need = 0.0
    # Units of each long option (by index) not yet paired with a short.
    unpaired = {i: p.quantity for i, p in enumerate(positions)
                if p.right is not None and p.quantity > 0}
    for short in positions:
        if short.right is None or short.quantity >= 0:
            continue
        right, left = short.right, -short.quantity
        covers = sorted((i for i in unpaired
                         if positions[i].right == right and positions[i].time >= short.time),
                        key=lambda i: spread_max_loss_per_unit(right, short.strike,
                                                               positions[i].strike))
        for i in covers:
            pair = min(left, unpaired[i])
            need += pair * spread_max_loss_per_unit(right, short.strike, positions[i].strike)
            unpaired[i] -= pair
            left -= pair
        if left:
            need += left * naked_short_per_unit(right, short.strike, market.spot,
                                                _unit_value(short, market))
    for p in positions:
        if p.right is None and p.quantity < 0:
            need += 1.5 * -p.quantity * market.spot
    return MarginBreakdown(Decimal("0.00"), Decimal("0.00"), to_cents(Decimal(repr(need))))


class MarginError(ValueError):
    """An order would leave less than zero available margin; the figures are attributes."""

    def __init__(self, required: Decimal, available: Decimal) -> None:
        super().__init__(f"margin: the order needs {required} and {available} is available")
        self.required = required
        self.available = available


@dataclass(frozen=True)
class MarginCheck:
    """An order's effect: the funds it needs (requirement change less the cash it brings)
    and what stays available after it."""

    required: Decimal
    available_before: Decimal
    available_after: Decimal


def check_order_margin(cash: Decimal, requirement_before: Decimal, requirement_after: Decimal,
                       cash_change: Decimal) -> MarginCheck:
    """Whether an order fits: ``cash_change`` is what its fill moves the cash by (minus the
    premium and charges of a buy, plus the premium less charges of a sell). Raises
    :class:`MarginError` with the figures when available margin would go below zero."""
    before = cash - requirement_before
    after = cash + cash_change - requirement_after
    check = MarginCheck(before - after, before, after)
    if after < 0:
        raise MarginError(check.required, before)
    return check
