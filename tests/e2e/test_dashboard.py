"""The dashboard in a real Chromium against a real `deltastream serve` process.

Needs Debian's chromium at /usr/bin/chromium (the CI script installs it); Playwright drives it
and never downloads a browser of its own.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .conftest import Server, start_server

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="dashboard tests need Debian's chromium at /usr/bin/chromium "
           "(apt-get install -y chromium)")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
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
    """Console errors, page errors, failed requests and HTTP errors seen by a page."""

    def __init__(self, page) -> None:
        self.items: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.items.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.items.append(f"page error: {e}"))
        page.on("requestfailed",
                lambda r: self.items.append(f"request failed: {r.url} {r.failure}"))
        page.on("response",
                lambda r: r.status >= 400 and self.items.append(f"HTTP {r.status}: {r.url}"))


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("dashboard")
    srv = start_server(tmp, "--tick-interval", TICK, "--data-dir", str(tmp))
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
    server = start_server(tmp_path, "--tick-interval", TICK, "--data-dir", str(tmp_path))
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
        server = start_server(tmp_path, "--tick-interval", TICK, "--data-dir", str(tmp_path),
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
