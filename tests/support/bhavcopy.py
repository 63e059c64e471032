"""Generated NSE UDiFF F&O bhavcopies: one trading day's file, or a series of days.

A file has the 34 columns of the NSE UDiFF F&O bhavcopy, in the exchange's order, with a
header row: one row per option (``FinInstrmTp`` IDO for an index, STO for a stock, ``OptnTp``
CE/PE) and per future (IDF/STF, of the monthly expiries). Prices come from Black-76 on a
known forward per expiry, ``F = S exp((r - q) T)``, with a smile in the standardised
log-moneyness ``z = ln(K/F) / (v sqrt T)``: ``vol = v (1 + SKEW z + CURVATURE z^2)`` (z held
to [-4, 4]). ``T`` is ACT/365 from the session's close (15:30 Asia/Kolkata) to the expiry's;
an option expiring that day is worth its intrinsic value. Settlement prices are rounded to
the tick (0.05, never below one tick); ``tick=0`` writes them unrounded.

Units as in the exchange's files: prices and strikes in rupees; ``OpnIntrst`` and
``ChngInOpnIntrst`` in units of the underlying (multiples of ``NewBrdLotQty``);
``TtlTradgVol`` in contracts; ``TtlTrfVal`` the notional (strike + premium) x units traded.
An option nobody traded has zero open/high/low/last-trade fields, its close is the
previous close (stale) and its settlement the model price.

Expiries follow NSE's rules of the day: weekly and last-of-month expiries on Thursday before
2025-09-01 and on Tuesday from then on, quarterly (March, June, September, December) beyond
the monthlies; an expiry falling on a holiday of XBOM moves to the trading day before.

Everything is deterministic: each (seed, day, underlying) draws from its own seeded
``numpy.random.Generator``, so one underlying's rows do not depend on which others are in
the file.
"""

from __future__ import annotations

import dataclasses
import io
import math
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from deltastream.calendars.expiries import trading_days
from deltastream.catalog.contract_symbols import nse_symbol

from .closed_forms import black76

COLUMNS = ("TradDt", "BizDt", "Sgmt", "Src", "FinInstrmTp", "FinInstrmId", "ISIN", "TckrSymb",
           "SctySrs", "XpryDt", "FininstrmActlXpryDt", "StrkPric", "OptnTp", "FinInstrmNm",
           "OpnPric", "HghPric", "LwPric", "ClsPric", "LastPric", "PrvsClsgPric",
           "UndrlygPric", "SttlmPric", "OpnIntrst", "ChngInOpnIntrst", "TtlTradgVol",
           "TtlTrfVal", "TtlNbOfTxsExctd", "SsnId", "NewBrdLotQty", "Rmks", "Rsvd1", "Rsvd2",
           "Rsvd3", "Rsvd4")

RATE = 0.055                      # the catalogue's Indian rate (continuous)
TICK = 0.05
SKEW = -0.08
CURVATURE = 0.025
TZ = ZoneInfo("Asia/Kolkata")
CLOSE = time(15, 30)
CALENDAR = "XBOM"
TUESDAY_FROM = date(2025, 9, 1)   # NSE's expiries moved from Thursday to Tuesday
STOCK_COUNT = 180

# (symbol, spot, strike step, lot size, ATM vol, dividend yield, strikes per expiry,
#  weeklies, monthlies, quarterlies)
_INDICES = (
    ("NIFTY", 24000.0, 50.0, 75, 0.13, 0.012, 200, 4, 3, 3),
    ("BANKNIFTY", 51500.0, 100.0, 30, 0.15, 0.010, 150, 0, 3, 2),
    ("FINNIFTY", 23500.0, 50.0, 65, 0.14, 0.011, 100, 0, 3, 0),
    ("MIDCPNIFTY", 12400.0, 25.0, 120, 0.17, 0.008, 100, 0, 3, 0),
    ("NIFTYNXT50", 66000.0, 100.0, 25, 0.15, 0.010, 100, 0, 3, 0),
)
# Well-known stocks first (RELIANCE at its usual terms), then synthetic names up to
# STOCK_COUNT.
_STOCKS = (
    ("RELIANCE", 1250.0, 10.0, 500, 0.22, 0.004),
    ("HDFCBANK", 1700.0, 20.0, 550, 0.19, 0.011),
    ("ICICIBANK", 1250.0, 10.0, 700, 0.20, 0.008),
    ("INFY", 1800.0, 20.0, 400, 0.24, 0.025),
    ("TCS", 4000.0, 50.0, 175, 0.21, 0.015),
    ("SBIN", 800.0, 10.0, 750, 0.25, 0.017),
    ("BHARTIARTL", 1600.0, 20.0, 475, 0.22, 0.005),
    ("ITC", 460.0, 5.0, 1600, 0.20, 0.030),
    ("LT", 3500.0, 50.0, 150, 0.22, 0.008),
    ("AXISBANK", 1100.0, 10.0, 625, 0.24, 0.001),
    ("KOTAKBANK", 1800.0, 20.0, 400, 0.22, 0.001),
    ("TATAMOTORS", 750.0, 10.0, 800, 0.32, 0.008),
    ("MARUTI", 11500.0, 100.0, 50, 0.24, 0.011),
    ("SUNPHARMA", 1800.0, 20.0, 350, 0.22, 0.008),
    ("TITAN", 3300.0, 50.0, 175, 0.25, 0.003),
    ("WIPRO", 300.0, 2.5, 3000, 0.25, 0.002),
    ("ADANIENT", 2400.0, 20.0, 300, 0.40, 0.001),
    ("BAJFINANCE", 7000.0, 100.0, 125, 0.28, 0.005),
    ("HINDUNILVR", 2400.0, 20.0, 300, 0.18, 0.017),
    ("ONGC", 250.0, 2.5, 2250, 0.27, 0.050),
)
_SYLLABLES = ("AR", "BE", "CO", "DA", "EL", "FI", "GA", "HO", "IN", "JU", "KA", "LO", "MA",
              "NE", "OR", "PA", "RU", "SI", "TA", "VE")
_SUFFIXES = ("IND", "LTD", "FIN", "POWER", "CHEM", "TECH", "STEEL", "PHARMA", "AUTO")


@dataclass(frozen=True)
class Underlying:
    """One underlying of the file and the contracts it lists."""

    symbol: str
    index: bool
    spot: float               # starting price (a series moves it)
    strike_step: float
    lot_size: int
    vol: float                # starting ATM volatility (decimal; a series moves it)
    dividend_yield: float
    strikes: int              # listed strikes of the nearest expiry; later ones list fewer
    weeklies: int = 0
    monthlies: int = 3
    quarterlies: int = 0


def _stock_step(spot: float) -> float:
    for limit, step in ((100, 1.0), (250, 2.5), (500, 5.0), (1000, 10.0), (2500, 20.0),
                        (5000, 50.0)):
        if spot < limit:
            return step
    return 100.0


def _synthetic_stocks(count: int) -> list[Underlying]:
    # Names and terms from a fixed Generator: the same list every time.
    rng = np.random.default_rng(14)
    names: list[str] = []
    taken = {s[0] for s in _STOCKS}
    while len(names) < count:
        a, b = rng.choice(len(_SYLLABLES), 2, replace=False)
        name = _SYLLABLES[a] + _SYLLABLES[b] + _SUFFIXES[rng.integers(len(_SUFFIXES))]
        if name not in taken:
            taken.add(name)
            names.append(name)
    out = []
    for name in names:
        spot = float(np.round(math.exp(rng.uniform(math.log(60), math.log(9000))), 1))
        # Lots worth about 5-8 lakh rupees, in multiples of 25 (NSE's contract sizing).
        lot = max(25, round(rng.uniform(5e5, 8e5) / spot / 25.0) * 25)
        out.append(Underlying(name, False, spot, _stock_step(spot), lot,
                              float(rng.uniform(0.2, 0.45)), float(rng.uniform(0, 0.02)),
                              int(rng.integers(50, 71))))
    return out


def underlyings(symbols: Sequence[str] | None = None, strikes: int | None = None
                ) -> list[Underlying]:
    """The file's underlyings: all of them (5 indices and :data:`STOCK_COUNT` stocks, about
    60,000 option rows a day) or the named ones; ``strikes`` lists that many strikes per
    nearest expiry instead of the realistic counts (smaller files)."""
    everything = [Underlying(s, True, spot, step, lot, vol, q, n, w, m, qq)
                  for s, spot, step, lot, vol, q, n, w, m, qq in _INDICES]
    everything += [Underlying(s, False, spot, step, lot, vol, q, 60)
                   for s, spot, step, lot, vol, q in _STOCKS]
    everything += _synthetic_stocks(STOCK_COUNT - len(_STOCKS))
    if symbols is not None:
        by_symbol = {u.symbol: u for u in everything}
        unknown = [s for s in symbols if s not in by_symbol]
        if unknown:
            raise ValueError(f"symbols: unknown {unknown}; known: {sorted(by_symbol)}")
        everything = [by_symbol[s] for s in symbols]
    if strikes is not None:
        everything = [dataclasses.replace(u, strikes=strikes) for u in everything]
    return everything


def session_close(day: date) -> datetime:
    """The quote time of a day's bhavcopy: the close, 15:30 in Kolkata (aware)."""
    return datetime.combine(day, CLOSE, TZ)


def _weekday(day: date) -> int:
    return 1 if day >= TUESDAY_FROM else 3      # Tuesday / Thursday


def _last_weekday(year: int, month: int) -> date:
    nxt = date(year + month // 12, month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    for _ in range(7):
        if last.weekday() == _weekday(last):
            return last
        last -= timedelta(days=1)
    raise AssertionError("a month has every weekday")


def listed_expiries(day: date, u: Underlying) -> list[tuple[date, bool]]:
    """(expiry, monthly) of ``u``'s options listed on ``day``, ascending; an expiry on
    ``day`` itself is still listed (it trades until the close)."""
    days = trading_days(CALENDAR)
    monthly: list[date] = []
    y, m = day.year, day.month
    while len(monthly) < u.monthlies + 12:
        expiry = days.previous_or_same(_last_weekday(y, m))
        if expiry >= day:
            monthly.append(expiry)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    listed = {e: True for e in monthly[:u.monthlies]}
    quarterly = [e for e in monthly[u.monthlies:] if e.month % 3 == 0][:u.quarterlies]
    listed.update(dict.fromkeys(quarterly, True))
    nominal = day
    weeklies: list[date] = []
    while len(weeklies) < u.weeklies:
        if nominal.weekday() == _weekday(nominal):
            expiry = days.previous_or_same(nominal)
            if expiry >= day and expiry not in weeklies:
                weeklies.append(expiry)
        nominal += timedelta(days=1)
    for e in weeklies:
        listed.setdefault(e, False)
    return sorted(listed.items())


def years_to(day: date, expiry: date) -> float:
    """ACT/365 years from ``day``'s close to ``expiry``'s close."""
    return (session_close(expiry) - session_close(day)).total_seconds() / (365.0 * 86400.0)


def forward(spot: float, u: Underlying, t: float) -> float:
    """The generating forward of an expiry ``t`` years away."""
    return spot * math.exp((RATE - u.dividend_yield) * t)


def smile(strike: np.ndarray, fwd: float, t: float, atm_vol: float) -> np.ndarray:
    """The generating volatility of each strike."""
    z = np.clip(np.log(strike / fwd) / (atm_vol * math.sqrt(t)), -4.0, 4.0)
    return atm_vol * (1.0 + SKEW * z + CURVATURE * z * z)


def _round_tick(price: np.ndarray, tick: float) -> np.ndarray:
    if tick <= 0:
        return price
    return np.maximum(np.round(price / tick) * tick, tick)


@dataclass(frozen=True)
class GeneratedDay:
    """A day's file and what generated it."""

    day: date
    csv: bytes
    option_rows: int
    spots: dict[str, float]
    atm_vols: dict[str, float]
    forwards: dict[tuple[str, date], float]       # (symbol, expiry) -> generating forward

    @property
    def file_name(self) -> str:
        return f"BhavCopy_NSE_FO_0_0_0_{self.day:%Y%m%d}_F_0000.csv"


def _instrument_id(name: str) -> int:
    # Stable per contract across days, as the exchange's are.
    return zlib.crc32(name.encode()) % 900_000 + 100_000


def _money(x: float) -> str:
    return f"{x:.2f}"


def _underlying_rows(day: date, u: Underlying, spot: float, atm_vol: float,
                     rng: np.random.Generator, tick: float,
                     forwards: dict[tuple[str, date], float]) -> tuple[list[str], int]:
    kind = ("IDO", "IDF") if u.index else ("STO", "STF")
    traded = f"{day:%Y-%m-%d}"
    spot_text = _money(spot)
    lines: list[str] = []
    options = 0
    atm = round(spot / u.strike_step) * u.strike_step
    lot = u.lot_size
    # Prices at the tick's two decimals; unrounded (tick 0) as exact as a float prints.
    price = _money if tick > 0 else repr
    for rank, (expiry, monthly) in enumerate(listed_expiries(day, u)):
        t = years_to(day, expiry)
        fwd = forward(spot, u, t)
        forwards[(u.symbol, expiry)] = fwd
        xp = f"{expiry:%Y-%m-%d}"
        if monthly:
            fut = float(_round_tick(np.array([fwd]), tick)[0])
            name = f"{u.symbol}{expiry:%y}{expiry.strftime('%b').upper()}FUT"
            oi_lots = int(rng.integers(2_000, 40_000)) // (rank + 1)
            vol_lots = int(rng.integers(500, 20_000)) // (rank + 1)
            lines.append(",".join((
                traded, traded, "FO", "NSE", kind[1], str(_instrument_id(name)), "", u.symbol,
                "", xp, xp, "", "", name, _money(fut * 0.995), _money(fut * 1.006),
                _money(fut * 0.99), price(fut), price(fut), _money(fut * 0.998), spot_text,
                price(fut), str(oi_lots * lot), str(int(oi_lots * 0.03) * lot),
                str(vol_lots), _money(fut * vol_lots * lot), str(max(1, vol_lots // 3)),
                "F1", str(lot), "", "", "", "", "")))
        # Later expiries list fewer strikes (about 5/6 and 4/6 of the nearest's).
        count = max(5, round(u.strikes * (1.0 - 0.5 * min(rank, 2) / 3.0)))
        strikes = atm + u.strike_step * (np.arange(count) - count // 2)
        strikes = strikes[strikes > 0]
        n = strikes.size
        tt = max(t, 1.0 / 365.0)
        z = np.log(strikes / fwd) / (atm_vol * math.sqrt(tt))
        vols = smile(strikes, fwd, tt, atm_vol)
        # Open interest and volume peak at the money and fall away from it; far strikes and
        # far expiries often do not trade at all.
        weight = np.exp(-0.5 * z * z) / (1.0 + rank)
        for right, call in (("CE", True), ("PE", False)):
            model = black76(fwd, strikes, t, RATE, vols, call)
            settle = _round_tick(model, tick)
            oi_lots = np.floor(weight * rng.lognormal(math.log(8_000), 0.6, n)).astype(np.int64)
            prev_lots = np.floor(oi_lots * rng.uniform(0.75, 1.25, n)).astype(np.int64)
            volume = rng.poisson(weight * 6_000.0)
            trades = np.where(volume > 0, np.maximum(1, volume // 3), 0)
            prev_close = _round_tick(model * np.exp(rng.normal(0.0, 0.15, n)), tick)
            last_trade = _round_tick(settle * (1.0 + rng.normal(0.0, 0.01, n)), tick)
            for i in range(n):
                k = float(strikes[i])
                name = nse_symbol(u.symbol, expiry, k, "call" if call else "put", monthly)
                vol_i = int(volume[i])
                s = float(settle[i])
                if vol_i > 0:
                    last = float(last_trade[i])
                    ohl = (_money(s * 1.02), _money(max(s, last) * 1.05),
                           _money(min(s, last) * 0.95))
                    close, turnover = s, (k + s) * vol_i * lot
                else:
                    close = last = float(prev_close[i])
                    turnover = 0.0
                    ohl = ("0.00", "0.00", "0.00")
                lines.append(",".join((
                    traded, traded, "FO", "NSE", kind[0], str(_instrument_id(name)), "",
                    u.symbol, "", xp, xp, _money(k), right, name, *ohl, price(close),
                    price(last), price(float(prev_close[i])), spot_text, price(s),
                    str(int(oi_lots[i]) * lot), str(int(oi_lots[i] - prev_lots[i]) * lot),
                    str(vol_i), _money(turnover), str(int(trades[i])), "F1", str(lot), "", "",
                    "", "", "")))
                options += 1
    return lines, options


def bhavcopy(day: date, spots: dict[str, float] | None = None,
             atm_vols: dict[str, float] | None = None, *,
             underlying: Sequence[Underlying] | None = None, seed: int = 0,
             tick: float = TICK) -> GeneratedDay:
    """The bhavcopy of ``day`` (a trading day of XBOM) for ``underlying`` (default: all of
    :func:`underlyings`), at the given spots and ATM vols (default: each underlying's own)."""
    if not trading_days(CALENDAR).is_trading_day(day):
        raise ValueError(f"day: {day} is not a trading day of {CALENDAR}")
    chosen = list(underlying) if underlying is not None else underlyings()
    spots = {u.symbol: u.spot for u in chosen} | (spots or {})
    atm_vols = {u.symbol: u.vol for u in chosen} | (atm_vols or {})
    forwards: dict[tuple[str, date], float] = {}
    out = io.StringIO()
    out.write(",".join(COLUMNS) + "\n")
    options = 0
    for u in chosen:
        rng = np.random.default_rng([seed, day.toordinal(), zlib.crc32(u.symbol.encode())])
        lines, n = _underlying_rows(day, u, spots[u.symbol], atm_vols[u.symbol], rng, tick,
                                    forwards)
        out.write("\n".join(lines) + "\n")
        options += n
    return GeneratedDay(day, out.getvalue().encode(), options,
                        {u.symbol: spots[u.symbol] for u in chosen},
                        {u.symbol: atm_vols[u.symbol] for u in chosen}, forwards)


def trading_days_from(start: date, count: int) -> list[date]:
    """The first ``count`` trading days of XBOM on or after ``start``."""
    days = trading_days(CALENDAR)
    out: list[date] = []
    day = start
    while len(out) < count:
        if days.is_trading_day(day):
            out.append(day)
        day += timedelta(days=1)
    return out


def series(start: date, count: int, underlying: Sequence[Underlying], *, seed: int = 0,
           tick: float = TICK) -> Iterator[GeneratedDay]:
    """``count`` consecutive trading days from ``start``: each spot a random walk at its own
    volatility, each ATM vol a mean-reverting log process (vol of vol 0.9 a year, half-life
    about a month) falling as the spot rises."""
    rng = np.random.default_rng([seed, 250])
    spots = {u.symbol: u.spot for u in underlying}
    vols = {u.symbol: u.vol for u in underlying}
    dt = 1.0 / 250.0
    for day in trading_days_from(start, count):
        yield bhavcopy(day, spots, vols, underlying=underlying, seed=seed, tick=tick)
        for u in underlying:
            shock = rng.standard_normal(2)
            spots[u.symbol] *= math.exp(vols[u.symbol] * math.sqrt(dt) * shock[0]
                                        - 0.5 * vols[u.symbol] ** 2 * dt)
            log_v = math.log(vols[u.symbol])
            log_v += 8.0 * (math.log(u.vol) - log_v) * dt + 0.9 * math.sqrt(dt) * (
                -0.7 * shock[0] + math.sqrt(1 - 0.49) * shock[1])
            vols[u.symbol] = math.exp(log_v)


def write_series(directory: Path, start: date, count: int, underlying: Sequence[Underlying],
                 *, seed: int = 0, zipped: bool = False) -> list[GeneratedDay]:
    """:func:`series` written to ``directory`` under the exchange's file names (zipped as
    ``<name>.zip`` holding the CSV when ``zipped``)."""
    directory.mkdir(parents=True, exist_ok=True)
    days = []
    for generated in series(start, count, underlying, seed=seed):
        write_day(directory, generated, zipped=zipped)
        days.append(generated)
    return days


def write_day(directory: Path, generated: GeneratedDay, zipped: bool = False) -> Path:
    """Write one generated day under its exchange file name; the path written."""
    if not zipped:
        path = directory / generated.file_name
        path.write_bytes(generated.csv)
        return path
    path = directory / f"{generated.file_name}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(generated.file_name, generated.csv)
    return path
