"""The dashboard in a real Chromium against a real `deltastream serve` process.

Needs Debian's chromium at /usr/bin/chromium (the CI script installs it); Playwright drives it
and never downloads a browser of its own.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from tests.support import bhavcopy
from tests.support.browser import chromium, needs_chromium

from .conftest import Server, start_server

pytestmark = needs_chromium

TICK = "0.5"
CHARTS = ["oi", "oi-change", "smile", "surface", "history", "max-pain", "ohlc", "iv-history"]
REPO = Path(__file__).resolve().parents[2]


def artifact_dirs(tmp_path: Path) -> list[Path]:
    """Where screenshots go: the test's tmp dir and $DELTASTREAM_TEST_ARTIFACTS (default
    artifacts/dashboard in the checkout, ignored by git)."""
    shared = Path(os.environ.get("DELTASTREAM_TEST_ARTIFACTS", REPO / "artifacts")) / "dashboard"
    dirs = [tmp_path, shared]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.1)


class Problems:
    """Console errors, page errors, failed requests and HTTP errors seen by a page.

    Requests cancelled by the browser itself (``net::ERR_ABORTED``: the page navigated away
    while they were in flight) are not failures a user sees, and are not counted."""

    def __init__(self, page) -> None:
        self.items: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.items.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.items.append(f"page error: {e}"))
        page.on("requestfailed",
                lambda r: "ERR_ABORTED" not in (r.failure or "")
                and self.items.append(f"request failed: {r.url} {r.failure}"))
        page.on("response",
                lambda r: r.status >= 400 and self.items.append(f"HTTP {r.status}: {r.url}"))


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("dashboard")
    srv = start_server(tmp, "--hours", "always", "--tick-interval", TICK, "--data-dir", str(tmp))
    yield srv
    if srv.process.poll() is None:
        srv.stop()


def open_dashboard(browser, server: Server, width: int = 1440, height: int = 900):
    # The page runs under its Content-Security-Policy (no eval): waits are given as
    # functions, which the browser does not evaluate from text, and any violation the page
    # itself commits is a console error that fails the test.
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = Problems(page)
    page.goto(server.base + "/")
    page.wait_for_selector("#chain tbody tr.atm", timeout=60_000)
    return page, problems


def table_state(page) -> dict:
    return page.evaluate("""() => {
        const t = document.getElementById('chain');
        const rows = [...t.tBodies[0].rows];
        return {product: t.dataset.product, expiry: t.dataset.expiry,
                sequence: Number(t.dataset.sequence),
                strikes: rows.map(r => Number(r.dataset.strike)),
                atm: rows.filter(r => r.classList.contains('atm'))
                  .map(r => Number(r.dataset.strike)),
                atmCallLast: rows.filter(r => r.classList.contains('atm'))
                  .map(r => r.querySelector('td[data-side=call][data-field=last]').textContent)};
    }""")


def chart_option(page, name: str) -> dict:
    return page.evaluate(
        """(name) => {
            const el = document.querySelector(`[data-chart="${name}"]`);
            const chart = echarts.getInstanceByDom(el);
            return JSON.parse(JSON.stringify(chart.getOption(), (k, v) =>
                typeof v === 'function' ? undefined : v));
        }""", name)


def drawn_pixels(page, name: str) -> int:
    """Non-transparent pixels on the chart's canvas (an empty chart draws none)."""
    return page.evaluate(
        """(name) => {
            const canvas = document.querySelector(`[data-chart="${name}"] canvas`);
            if (!canvas || !canvas.width || !canvas.height) return 0;
            const data = canvas.getContext('2d')
                .getImageData(0, 0, canvas.width, canvas.height).data;
            let n = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
            return n;
        }""", name)


def at_same_tick(page, server: Server, product: str, expiry: str | None = None,
                 attempts: int = 40) -> tuple[dict, dict]:
    """The page's table state and the API's chain of the same snapshot sequence (the page
    follows every tick, so a few tries catch both at one sequence)."""
    for _ in range(attempts):
        state = table_state(page)
        query = f"?strikes={len(state['strikes'])}" + (f"&expiry={expiry}" if expiry else "")
        status, body = server.get(f"/api/data/chain/{product}{query}")
        assert status == 200
        chain = body["chains"][0]
        if chain["sequence"] == table_state(page)["sequence"] == state["sequence"]:
            return state, chain
        time.sleep(0.15)
    raise AssertionError("page and API never showed the same tick")


def test_loads_cleanly_with_the_nifty_chain_and_atm_marked(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        state, chain = at_same_tick(page, live, "NIFTY")
        assert state["product"] == "NIFTY"
        assert len(state["strikes"]) == 21
        assert state["strikes"] == chain["strikes"]
        assert state["atm"] == [chain["atm_strike"]]
        # ITM shading: calls below spot, puts above it, on the table's own rows.
        shading = page.evaluate("""() =>
          [...document.querySelectorAll('#chain tbody tr')].map(r => [
            Number(r.dataset.strike),
            r.querySelector('td[data-side=call]').classList.contains('itm'),
            r.querySelector('td[data-side=put]').classList.contains('itm')])""")
        spot = chain["spot_price"]
        assert any(c for _, c, _ in shading) and any(p for _, _, p in shading)
        for k, call_itm, put_itm in shading:
            if abs(k - spot) > 0.01 * spot:   # far from a spot that may move between reads
                assert call_itm == (k < spot) and put_itm == (k > spot), k
        # Numbers read as numbers: thousands separators on strikes and OI.
        assert re.fullmatch(r"\d{1,2},\d{3}", page.inner_text("#chain tbody tr.atm td.strike"))
        page.wait_for_function(
            "() => document.getElementById('status').dataset.state === 'live'", timeout=30_000)
        # Ticks update the cells in place: the rows on screen stay the same elements.
        page.evaluate("document.querySelectorAll('#chain tbody tr').forEach(r => r.kept = 1)")
        seq = table_state(page)["sequence"]
        wait_for(lambda: table_state(page)["sequence"] >= seq + 2, 20, "two more ticks")
        assert page.evaluate(
            "[...document.querySelectorAll('#chain tbody tr')].every(r => r.kept === 1)")
        page.wait_for_timeout(3000)   # a few ticks and one round of chart refreshes
        assert page.inner_text("#errors") == ""
        assert problems.items == []
    finally:
        page.close()


def test_switching_product_and_expiry_changes_the_rows(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        page.select_option("#product", "SPY")
        page.wait_for_function("() => document.getElementById('chain').dataset.product === 'SPY'")
        state, chain = at_same_tick(page, live, "SPY")
        assert state["strikes"] == chain["strikes"] and state["atm"] == [chain["atm_strike"]]
        assert page.inner_text("#ticker-product") == "SPY"
        assert page.inner_text("#card-spot").startswith("$")

        _, body = live.get("/api/data/expiries/SPY")
        later = body["expiries"][5]
        nearest_atm_last = float(state["atmCallLast"][0].replace(",", ""))
        page.select_option("#expiry", later)
        page.wait_for_function(
            f"() => document.getElementById('chain').dataset.expiry === '{later}'")
        state, chain = at_same_tick(page, live, "SPY", later)
        assert chain["expiry"] == later
        assert state["strikes"] == chain["strikes"]
        # A week more to expiry: the at-the-money call is worth more.
        assert float(state["atmCallLast"][0].replace(",", "")) > nearest_atm_last
        atm_row = chain["strikes"].index(chain["atm_strike"])
        assert state["atmCallLast"][0] == f"{chain['calls'][atm_row]['last']:,.2f}"
        assert problems.items == []
    finally:
        page.close()


def test_every_chart_draws_and_agrees_with_the_api(browser, live, tmp_path):
    page, problems = open_dashboard(browser, live)
    try:
        for name in CHARTS:
            wait_for(lambda n=name: drawn_pixels(page, n) > 500, 30, f"chart {name} to draw")

        # Chain charts: the ATM strike's numbers at the page's tick equal the API's.
        for _ in range(40):
            drawn = page.evaluate("""() => {
                const option = (n) => echarts.getInstanceByDom(
                    document.querySelector(`[data-chart="${n}"]`)).getOption();
                const pick = (o) => o.series.map(s => s.data);
                return {sequence: Number(document.getElementById('chain').dataset.sequence),
                        oi: pick(option('oi')), oiChange: pick(option('oi-change')),
                        smile: pick(option('smile'))};
            }""")
            _, body = live.get("/api/data/chain/NIFTY")
            chain = body["chains"][0]
            if chain["sequence"] == drawn["sequence"]:
                break
            time.sleep(0.15)
        else:
            raise AssertionError("charts and API never showed the same tick")
        oi, oi_change, smile = drawn["oi"], drawn["oiChange"], drawn["smile"]
        i = chain["strikes"].index(chain["atm_strike"])
        assert oi[0][i] == chain["calls"][i]["open_interest"]
        assert oi[1][i] == chain["puts"][i]["open_interest"]
        assert oi_change[1][i] == chain["puts"][i]["oi_change"]
        assert smile[0][i][0] == chain["strikes"][i]
        assert smile[0][i][1] == pytest.approx(chain["calls"][i]["iv"] * 100)

        # Max pain: the marked strike is the API's, and the curve's lowest total is there.
        def marked_equals_api() -> bool:
            opt = chart_option(page, "max-pain")
            _, body = live.get("/api/analytics/max-pain/NIFTY")
            marked = opt["series"][2]["markLine"]["data"][0]["xAxis"]
            return float(marked.replace(",", "")) == body["max_pain_strike"]
        wait_for(marked_equals_api, 20, "max-pain mark to equal the API's strike")
        opt = chart_option(page, "max-pain")
        totals = opt["series"][2]["data"]
        strikes = [float(s.replace(",", "")) for s in opt["xAxis"][0]["data"]]
        assert strikes[totals.index(min(totals))] == float(
            opt["series"][2]["markLine"]["data"][0]["xAxis"].replace(",", ""))

        # Surface: one row per listed expiry with its days to expiry, the API's strikes.
        _, surface = live.get("/api/analytics/volatility-surface/NIFTY")
        opt = chart_option(page, "surface")
        assert opt["yAxis"][0]["data"] == [f"{e['expiry']} ({e['days_to_expiry']}d)"
                                           for e in surface["expiries"]]
        assert set(opt["xAxis"][0]["data"]) >= {f"{k:,.0f}" for k in
                                                surface["expiries"][0]["strikes"]}

        # History: past ticks and stored PCR points never change, so any drawn point must be
        # in the API's series.
        wait_for(lambda: len(chart_option(page, "history")["series"][0]["data"]) > 2, 20,
                 "a few spot points")
        opt = chart_option(page, "history")
        _, ticks = live.get("/api/data/underlying/NIFTY?limit=1000")
        by_time = {t["timestamp"]: t["price"] for t in ticks["ticks"]}
        drawn = opt["series"][0]["data"]
        assert by_time[drawn[-2][0]] == drawn[-2][1]
        _, pcr = live.get("/api/analytics/pcr/NIFTY?history=true")
        pcr_by_time = {p["timestamp"]: p["pcr_oi"] for p in pcr["history"]}
        latest = opt["series"][1]["data"][-1]
        assert pcr_by_time[latest[0]] == latest[1]

        # OHLC: a candle's open never changes once the candle has started.
        opt = chart_option(page, "ohlc")
        _, ohlc = live.get("/api/analytics/ohlc/NIFTY?window=1")
        assert opt["series"][0]["data"][0][0] == ohlc["candles"][0]["open"]
        assert opt["xAxis"][0]["data"][0] == ohlc["candles"][0]["timestamp"][11:16]

        # ATM IV history: stored points never change; IV rank and percentile as the API
        # states them (a number, or why there is none yet).
        status, iv = live.get("/api/analytics/iv-history/NIFTY")
        assert status == 200
        stored = {p["timestamp"]: p["atm_iv"] for p in iv["series"]}
        drawn = chart_option(page, "iv-history")["series"][0]["data"]
        assert drawn, "ATM IV history chart drew no points"
        assert drawn[0][1] == pytest.approx(stored[drawn[0][0]] * 100)
        stats = page.inner_text("#iv-stats")
        for name, label in (("iv_rank", "IV rank"), ("iv_percentile", "IV percentile")):
            stat = iv[name]
            if stat["value"] is None:
                assert f"{label} —" in stats and stat["reason"] in stats
            else:
                assert f"{label} {stat['value']:.1f}%" in stats

        for width, height in ((1440, 900), (390, 844)):
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(800)
            for d in artifact_dirs(tmp_path):
                page.screenshot(path=str(d / f"dashboard-{width}x{height}.png"), full_page=True)
            # Phone width: nothing wider than the screen except the table's own scroller.
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, (width, overflow)
        assert problems.items == []
    finally:
        page.close()


def test_status_turns_stale_when_updates_stop_on_a_live_connection(browser, live):
    # The WebSocket is routed through the test: Engine.IO pings still pass, so the connection
    # stays up, but while muted no Socket.IO event ("42[...]") reaches the page.
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    muted = {"on": False}

    def relay(ws) -> None:
        server = ws.connect_to_server()

        def to_page(message) -> None:
            if not (muted["on"] and isinstance(message, str) and message.startswith("42")):
                ws.send(message)

        server.on_message(to_page)
        ws.on_message(lambda message: server.send(message))

    try:
        page.route_web_socket(re.compile(r".*/socket\.io/.*"), relay)
        page.goto(live.base + "/")
        state = "() => document.getElementById('status').dataset.state === '{}'"
        page.wait_for_function(state.format("live"), timeout=60_000)
        muted["on"] = True
        page.wait_for_function(state.format("stale"), timeout=15_000)
        assert page.get_attribute("#status", "data-state") == "stale"
        muted["on"] = False
        page.wait_for_function(state.format("live"), timeout=15_000)
    finally:
        page.close()


def test_spot_moves_and_the_page_reconnects_after_a_restart(browser, tmp_path):
    server = start_server(tmp_path, "--hours", "always",
                          "--tick-interval", TICK, "--data-dir", str(tmp_path))
    port = int(server.base.rsplit(":", 1)[1])
    page = None
    try:
        page, _ = open_dashboard(browser, server)
        page.wait_for_function(
            "() => document.getElementById('status').dataset.state === 'live'", timeout=30_000)

        def spot_stamp() -> str:
            return page.get_attribute("#spot", "data-timestamp") or ""

        first = spot_stamp()
        wait_for(lambda: spot_stamp() > first, 10, "the spot to update within a few ticks")

        assert server.stop() == 0
        page.wait_for_function(
            "() => document.getElementById('status').dataset.state === 'reconnecting'",
            timeout=15_000)
        before = spot_stamp()
        server = start_server(tmp_path, "--hours", "always",
                              "--tick-interval", TICK, "--data-dir", str(tmp_path),
                              port=port)
        page.wait_for_function(
            "() => document.getElementById('status').dataset.state === 'live'", timeout=60_000)
        wait_for(lambda: spot_stamp() > before, 20, "the spot to update after the restart")
        seq = table_state(page)["sequence"]
        wait_for(lambda: table_state(page)["sequence"] != seq, 20, "the table to update")
    finally:
        if page is not None:
            page.close()
        if server.process.poll() is None:
            server.stop()


# ---- a stored source (imported files) beside the live one --------------------------------

FIXTURES = REPO / "tests" / "fixtures" / "feeds" / "nse"
# NIFTY and RELIANCE: two generated daily bhavcopies (settlement prices only), then the
# NSE option-chain JSON of 2026-12-04 (quotes with crossed, locked and zero bids, vendor IVs).
STORED_DAYS = 2
STORED_START = "2026-12-01"
NEWEST = "2026-12-04T10:00:00.000Z"


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("stored")
    days = tmp / "bhavcopies"
    # RELIANCE with four monthlies in the bhavcopies, against the three of the newer NSE JSON
    # fixture: the expiries listed at a past time differ from the newest snapshot's.
    listed = [dataclasses.replace(u, monthlies=4) if u.symbol == "RELIANCE" else u
              for u in bhavcopy.underlyings(["NIFTY", "RELIANCE"], strikes=21)]
    bhavcopy.write_series(days, date.fromisoformat(STORED_START), STORED_DAYS, listed, seed=3)
    files = [str(days), str(FIXTURES / "option-chain-v3_NIFTY_08-Dec-2026.json"),
             str(FIXTURES / "option-chain-equities_RELIANCE.json")]
    done = subprocess.run([sys.executable, "-m", "deltastream", "import", *files,
                           "--data-dir", str(tmp)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    srv = start_server(tmp, "--hours", "always", "--tick-interval", TICK, "--data-dir", str(tmp))
    yield srv
    if srv.process.poll() is None:
        srv.stop()


def number(text: str) -> float | None:
    """A cell's number as the page writes it (Indian or Western grouping, a dash for none)."""
    return None if text == "—" else float(text.replace(",", "").replace("−", "-"))


def cells(page) -> dict:
    """The table's source, sequence, strikes and per side the cells of the fields below, with
    each side's tooltip and the IV cell's quality mark."""
    return page.evaluate("""() => {
        const t = document.getElementById('chain');
        const side = (r, s) => {
          const td = (f) => r.querySelector(`td[data-side=${s}][data-field=${f}]`);
          const out = {title: td('bid').title, quality: td('iv').dataset.quality ?? ''};
          for (const f of ['last', 'bid', 'ask', 'iv', 'open_interest']) out[f] = td(f).textContent;
          return out;
        };
        const rows = [...t.tBodies[0].rows];
        return {source: t.dataset.source, product: t.dataset.product, expiry: t.dataset.expiry,
                sequence: Number(t.dataset.sequence),
                strikes: rows.map(r => Number(r.dataset.strike)),
                strikeTitles: rows.map(r => r.querySelector('td.strike').title),
                calls: rows.map(r => side(r, 'call')), puts: rows.map(r => side(r, 'put'))};
    }""")


def assert_table_is(page_cells: dict, chain: dict) -> None:
    """Every row of the table shows the REST chain's numbers, symbols and quality."""
    assert page_cells["strikes"] == chain["strikes"]
    assert page_cells["sequence"] == chain["sequence"]
    for i, strike in enumerate(chain["strikes"]):
        for name in ("calls", "puts"):
            shown, option = page_cells[name][i], chain[name][i]
            for field in ("last", "bid", "ask", "open_interest"):
                assert number(shown[field]) == pytest.approx(option[field], abs=0.005), (
                    strike, name, field)
            iv = option["iv"]
            assert number(shown["iv"]) == (None if iv is None else pytest.approx(
                iv * 100, abs=0.005)), (strike, name)
            assert option["contract_symbol"] in shown["title"]
            expected = ("flag" if option["quality_flags"] else
                        "source" if option["price_source"] != "mid" else "")
            assert shown["quality"] == expected, (strike, name, option["quality_flags"],
                                                  option["price_source"])
        assert page_cells["strikeTitles"][i] == (f"{chain['calls'][i]['contract_symbol']} · "
                                                 f"{chain['puts'][i]['contract_symbol']}")


def socket_ios(page) -> list:
    """The page's Socket.IO WebSockets, as they are opened."""
    sockets: list = []

    def opened(ws) -> None:
        if "/socket.io/" in ws.url:
            sockets.append(ws)

    page.on("websocket", opened)
    return sockets


def draws(page, name: str) -> Callable[[], bool]:
    """Whether the chart has drawn something (an empty chart draws no pixel)."""
    return lambda: drawn_pixels(page, name) > 500


def wait_closed(page, sockets: list, timeout: float = 10.0) -> None:
    """Wait until every one of ``sockets`` is closed (Playwright delivers the close while
    the page is waited on, not while the test sleeps)."""
    deadline = time.monotonic() + timeout
    while not all(ws.is_closed() for ws in sockets):
        if time.monotonic() > deadline:
            raise AssertionError("the Socket.IO connection stayed open")
        page.wait_for_timeout(100)


def shown(page, selector: str) -> bool:
    return page.evaluate("(s) => !document.querySelector(s).closest('[hidden]')", selector)


# The API's build-up types as the OI-change tooltip names them.
BUILDUP_WORDS = {"long_buildup": "long build-up", "short_buildup": "short build-up",
                 "short_covering": "short covering", "long_unwinding": "long unwinding",
                 None: "—"}


def oi_change_tooltip(page, index: int, strike: float) -> str:
    """The OI-change chart's tooltip over the ``index``-th strike (``strike``). The tip is
    asked for again at each look: the dashboard's periodic refresh redraws the chart, which
    hides a tip shown before it."""
    heading = f"strike {strike:,.0f}"

    def tooltip() -> str:
        page.evaluate("""(i) => echarts.getInstanceByDom(document.querySelector(
            '[data-chart="oi-change"]')).dispatchAction({type: 'showTip', seriesIndex: 0,
                                                         dataIndex: i})""", index)
        text = page.inner_text("[data-chart=oi-change]")
        return text if heading in text else ""

    return str(wait_for(tooltip, 10, f"the OI-change tooltip over {heading}"))


def assert_snapshot_views_are(page, server: Server, product: str, query: str, expiry: str,
                              strikes: int, timestamp: str) -> None:
    """Max pain, the surface and the OI build-up on the page are the API's answers for the
    snapshot ``query`` names (its source and at=), of ``timestamp``, each saying its time."""
    as_of = f"as of {timestamp[:19].replace('T', ' ')} UTC"
    for caption in ("max-pain-caption", "surface-caption"):
        page.wait_for_function("([id, text]) => document.getElementById(id).textContent === "
                               "text", arg=[caption, as_of])
    _, mp = server.get(f"/api/analytics/max-pain/{product}?{query}&expiry={expiry}")
    assert mp["timestamp"] == timestamp
    opt = chart_option(page, "max-pain")
    assert number(opt["series"][2]["markLine"]["data"][0]["xAxis"]) == mp["max_pain_strike"]
    assert [number(k) for k in opt["xAxis"][0]["data"]] == [p["strike"] for p in mp["payouts"]]
    assert opt["series"][2]["data"] == [p["total"] for p in mp["payouts"]]

    _, surface = server.get(f"/api/analytics/volatility-surface/{product}?{query}"
                            f"&strikes={strikes}")
    assert surface["timestamp"] == timestamp
    opt = chart_option(page, "surface")
    assert opt["yAxis"][0]["data"] == [f"{e['expiry']} ({e['days_to_expiry']}d)"
                                       for e in surface["expiries"]]
    # The heat map's cells: (strike, expiry row) -> call IV in percent, as served.
    columns = sorted({k for e in surface["expiries"] for k in e["strikes"]})
    drawn = {(columns[c], r): v for c, r, v in opt["series"][0]["data"]}
    served = {(k, r): iv * 100 for r, e in enumerate(surface["expiries"])
              for k, iv in zip(e["strikes"], e["call_ivs"], strict=True) if iv is not None}
    assert drawn.keys() == served.keys()
    assert [drawn[k] for k in served] == pytest.approx(list(served.values()))

    _, buildup = server.get(f"/api/analytics/oi-buildup/{product}?{query}&expiry={expiry}"
                            f"&strikes={strikes}")
    assert buildup["timestamp"] == timestamp
    page.wait_for_function("(t) => document.getElementById('chart-oi-change').dataset"
                           ".buildupTimestamp === t", arg=timestamp)
    rows = buildup["buildup"]
    typed = [i for i, b in enumerate(rows) if b["call_buildup_type"] and b["put_buildup_type"]]
    assert typed, "no strike with a build-up on both sides"
    for i in (typed[0], typed[-1]):
        tip = oi_change_tooltip(page, i, rows[i]["strike"])
        assert (f"build-up: calls {BUILDUP_WORDS[rows[i]['call_buildup_type']]} · puts "
                f"{BUILDUP_WORDS[rows[i]['put_buildup_type']]}") in tip
        assert as_of in tip


def test_the_source_selector_is_hidden_with_only_the_live_source(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        _, body = live.get("/api/data/sources")
        assert [s["name"] for s in body["sources"]] == ["simulator"]
        assert not shown(page, "#source") and not shown(page, "#at")
        assert not shown(page, "#stored") and shown(page, "#status")
        assert "source=" not in page.evaluate("location.search")
        assert problems.items == []
    finally:
        page.close()


def test_a_stored_source_shows_its_chain_and_charts_without_the_live_stream(browser, stored,
                                                                           tmp_path):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems = Problems(page)
    sockets = socket_ios(page)
    try:
        page.goto(stored.base + "/")
        page.wait_for_function(
            "() => document.getElementById('status').dataset.state === 'live'", timeout=60_000)
        assert sockets and not sockets[0].is_closed()
        assert shown(page, "#source")
        assert page.eval_on_selector_all("#source option", "os => os.map(o => o.textContent)") \
            == ["simulator (live)", "nse"]

        page.select_option("#source", "nse")
        page.wait_for_function("() => document.getElementById('chain').dataset.source === 'nse'")
        # The stream carries the live source only: its connection is closed, and a badge
        # names the stored time in place of the live status.
        wait_closed(page, sockets)
        assert not shown(page, "#status") and shown(page, "#stored")
        _, products = stored.get("/api/data/products?source=nse")
        assert page.eval_on_selector_all("#product option", "os => os.map(o => o.value)") \
            == products["products"] == ["NIFTY", "RELIANCE"]
        assert "source=nse" in page.evaluate("location.search")

        page.select_option("#product", "NIFTY")
        page.wait_for_function(
            "() => document.getElementById('chain').dataset.product === 'NIFTY'")
        shown_cells = cells(page)
        status, body = stored.get(f"/api/data/chain/NIFTY?source=nse"
                                  f"&strikes={len(shown_cells['strikes'])}")
        assert status == 200
        chain = body["chains"][0]
        assert chain["source"] == "nse" and chain["timestamp"] == NEWEST
        assert shown_cells["source"] == "nse" and shown_cells["expiry"] == chain["expiry"]
        assert_table_is(shown_cells, chain)
        assert page.inner_text("#stored") == "stored data as of 2026-12-04 10:00:00 UTC"
        # The fixture's quirks are marked: a crossed, a locked quote and zero bids.
        flags = {f for o in chain["calls"] + chain["puts"] for f in o["quality_flags"]}
        assert {"crossed", "locked", "zero_bid"} <= flags
        crossed = next(i for i, o in enumerate(chain["calls"]) if "crossed" in o["quality_flags"])
        assert "crossed quote (bid above ask)" in shown_cells["calls"][crossed]["title"]
        vendor = chain["calls"][crossed]["vendor_iv"]
        assert f"vendor IV {vendor * 100:.2f}%" in shown_cells["calls"][crossed]["title"]
        assert shown(page, "#legend-quality")
        residual = f"parity residual {chain['forward_residual'] * 100:.4f}%"
        assert residual in page.inner_text("#chain-caption")

        # Every chart draws the stored source's numbers.
        for name in CHARTS:
            wait_for(draws(page, name), 30, f"chart {name} to draw")
        i = chain["strikes"].index(chain["atm_strike"])
        oi = [s["data"] for s in chart_option(page, "oi")["series"]]
        assert oi[0][i] == chain["calls"][i]["open_interest"]
        assert oi[1][i] == chain["puts"][i]["open_interest"]
        _, mp = stored.get(f"/api/analytics/max-pain/NIFTY?source=nse&expiry={chain['expiry']}")
        marked = chart_option(page, "max-pain")["series"][2]["markLine"]["data"][0]["xAxis"]
        assert number(marked) == mp["max_pain_strike"]
        assert_snapshot_views_are(page, stored, "NIFTY", "source=nse", chain["expiry"],
                                  len(shown_cells["strikes"]), NEWEST)
        _, iv = stored.get("/api/analytics/iv-history/NIFTY?source=nse")
        assert [p["timestamp"] for p in iv["series"]][-1] == NEWEST
        drawn = chart_option(page, "iv-history")["series"][0]["data"]
        assert [p[0] for p in drawn] == [p["timestamp"] for p in iv["series"]]
        assert [p[1] for p in drawn] == pytest.approx([p["atm_iv"] * 100 for p in iv["series"]])
        _, ticks = stored.get("/api/data/underlying/NIFTY?source=nse&limit=1000")
        history = chart_option(page, "history")["series"][0]["data"]
        assert history == [[t["timestamp"], t["price"]] for t in ticks["ticks"]]
        assert len(history) == STORED_DAYS + 1

        # Stored data stands still: no tick moves the table, no stream is opened again.
        page.wait_for_timeout(2000)
        assert cells(page)["sequence"] == chain["sequence"]
        assert all(ws.is_closed() for ws in sockets) and len(sockets) == 1
        for d in artifact_dirs(tmp_path):
            page.screenshot(path=str(d / "dashboard-stored-1440x900.png"), full_page=True)
        assert page.inner_text("#errors") == ""
        assert problems.items == []
    finally:
        page.close()


def test_the_time_picker_loads_the_stored_chain_at_or_before_that_time(browser, stored,
                                                                        tmp_path):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems = Problems(page)
    sockets = socket_ios(page)
    try:
        # A link names the source: the page opens on it without ever joining the stream.
        page.goto(stored.base + "/?source=nse&product=RELIANCE")
        page.wait_for_function("() => document.getElementById('chain').dataset.source === 'nse'"
                               " && document.getElementById('chain').dataset.product === "
                               "'RELIANCE'", timeout=60_000)
        _, listing = stored.get("/api/data/sources")
        nse = next(s for s in listing["sources"] if s["name"] == "nse")
        span = next(p for p in nse["products"] if p["product"] == "RELIANCE")
        assert (span["from"], span["to"]) == (f"{STORED_START}T10:00:00.000Z", NEWEST)
        # The picker is bounded by the stored range and opens on the newest snapshot.
        assert page.get_attribute("#at", "min") == span["from"][:19]
        assert page.get_attribute("#at", "max") == span["to"][:19]
        assert page.input_value("#at") == "2026-12-04T10:00"
        assert page.inner_text("#stored") == "stored data as of 2026-12-04 10:00:00 UTC"

        # A time between two stored days: the chain of the day before it.
        page.fill("#at", "2026-12-03T12:30:00")
        page.wait_for_function("() => document.getElementById('stored').dataset.timestamp === "
                               "'2026-12-02T10:00:00.000Z'")
        at = "2026-12-03T12:30:00.999Z"
        shown_cells = cells(page)
        status, body = stored.get(f"/api/data/chain/RELIANCE?source=nse&at={at}"
                                  f"&expiry={shown_cells['expiry']}"
                                  f"&strikes={len(shown_cells['strikes'])}")
        assert status == 200
        chain = body["chains"][0]
        assert chain["timestamp"] == "2026-12-02T10:00:00.000Z"
        assert_table_is(shown_cells, chain)
        # The expiries are the ones listed at that time (not the newest snapshot's).
        _, listed = stored.get(f"/api/data/expiries/RELIANCE?source=nse&at={at}")
        _, newest = stored.get("/api/data/expiries/RELIANCE?source=nse")
        assert listed["expiries"] != newest["expiries"]
        assert page.eval_on_selector_all("#expiry option", "os => os.map(o => o.value)") == \
            listed["expiries"]
        # Max pain, the surface and the OI build-up are that day's, not the newest's.
        past = "2026-12-02T10:00:00.000Z"
        assert_snapshot_views_are(page, stored, "RELIANCE", f"source=nse&at={at}",
                                  chain["expiry"], len(shown_cells["strikes"]), past)
        _, mp_newest = stored.get(f"/api/analytics/max-pain/RELIANCE?source=nse"
                                  f"&expiry={chain['expiry']}")
        assert mp_newest["max_pain_strike"] != number(chart_option(page, "max-pain")[
            "series"][2]["markLine"]["data"][0]["xAxis"])
        # Histories end at the time viewed: the PCR's at that day's snapshot.
        page.wait_for_function("() => echarts.getInstanceByDom(document.querySelector("
                               "'[data-chart=history]')).getOption().series[0].data.length"
                               " === 2")
        _, pcr = stored.get(f"/api/analytics/pcr/RELIANCE?source=nse&at={at}&history=true"
                            f"&expiry={chain['expiry']}")
        drawn = chart_option(page, "history")["series"][1]["data"]
        assert drawn == [[p["timestamp"], p["pcr_oi"]] for p in pcr["history"]]
        assert drawn[-1][0] == past
        assert f"at={at.replace(':', '%3A')}" in page.evaluate("location.search")
        for d in artifact_dirs(tmp_path):
            page.screenshot(path=str(d / "dashboard-stored-past-1440x900.png"), full_page=True)

        # The address reopens that view.
        page.reload()
        page.wait_for_function("() => document.getElementById('stored').dataset.timestamp === "
                               "'2026-12-02T10:00:00.000Z'", timeout=60_000)
        assert page.input_value("#at") == "2026-12-03T12:30"
        assert cells(page)["sequence"] == chain["sequence"]

        # Before the range: its first snapshot; "newest" goes back to the newest.
        page.fill("#at", "2026-11-01T00:00:00")
        page.wait_for_function("() => document.getElementById('stored').dataset.timestamp === "
                               "'2026-12-01T10:00:00.000Z'")
        page.click("#at-newest")
        page.wait_for_function("() => document.getElementById('stored').dataset.timestamp === "
                               f"'{NEWEST}'")
        shown_cells = cells(page)
        assert_snapshot_views_are(page, stored, "RELIANCE", "source=nse", shown_cells["expiry"],
                                  len(shown_cells["strikes"]), NEWEST)
        assert "at=" not in page.evaluate("location.search")
        assert sockets == []
        assert page.inner_text("#errors") == ""
        assert problems.items == []
    finally:
        page.close()


def test_back_to_the_live_source_the_stream_and_ticks_return(browser, stored):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems = Problems(page)
    sockets = socket_ios(page)
    try:
        page.goto(stored.base + "/?source=nse&product=NIFTY")
        page.wait_for_function("() => document.getElementById('chain').dataset.source === 'nse'",
                               timeout=60_000)
        assert sockets == []
        page.select_option("#source", "simulator")
        page.wait_for_function(
            "() => document.getElementById('status').dataset.state === 'live'", timeout=30_000)
        assert len(sockets) == 1 and not sockets[0].is_closed()
        assert shown(page, "#status") and not shown(page, "#stored")
        assert not shown(page, "#at")
        assert "source=" not in page.evaluate("location.search")
        state, chain = at_same_tick(page, stored, "NIFTY")
        assert chain["source"] == "simulator" and state["strikes"] == chain["strikes"]
        seq = state["sequence"]
        wait_for(lambda: table_state(page)["sequence"] >= seq + 2, 20, "two more live ticks")

        # And away again: the connection closes; a link to a source the server does not
        # hold opens the live source and says so.
        page.select_option("#source", "nse")
        wait_closed(page, sockets)
        page.goto(stored.base + "/?source=nowhere")
        page.wait_for_function(
            "() => document.getElementById('status').dataset.state === 'live'", timeout=30_000)
        assert "source 'nowhere' is not on this server" in page.inner_text("#errors")
        assert problems.items == []
    finally:
        page.close()
