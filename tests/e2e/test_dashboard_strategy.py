"""The dashboard's Strategy tab and exposure charts in a real Chromium against a real
`deltastream serve --hours always` (issue 18, acceptance 5): an iron condor built from the
chain with four clicks shows the breakevens, probabilities of profit and extremes that
POST /api/strategy/analyze gives for the same legs at the same snapshot; the same condor from
the template; a signed-in user's paper positions analysed at their entry prices; the API's
refusal shown naming its parameter; the GEX and term-structure/skew charts draw the API's
figures.

The legs carry the prices clicked, so the payoff at expiry does not move with the market; the
probabilities do (spot and IVs), so they are compared at one snapshot `sequence`, which the page
shows beside its answer. Needs Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.browser import needs_chromium

from .conftest import Server, start_server
from .test_dashboard import artifact_dirs, browser, drawn_pixels, open_dashboard, wait_for
from .test_dashboard_trading import call, new_email, session, sign_up

pytestmark = needs_chromium
__all__ = ["browser"]       # the module-scoped Chromium fixture, shared with test_dashboard

# One tick a second: a page's answer and the test's request meet at one snapshot often.
TICK = "1"
LOT = 65   # NIFTY's lot size in the default catalogue
ATTEMPTS = 40


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("strategy")
    srv = start_server(tmp, "--hours", "always", "--tick-interval", TICK, "--data-dir", str(tmp))
    yield srv
    if srv.process.poll() is None:
        srv.stop()


def post(server: Server, path: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(server.base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Accept": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def shown(page) -> dict:
    """The page's answer as it stands: its snapshot sequence, the figures' values and texts."""
    return page.evaluate("""() => {
        const el = (id) => document.getElementById(id);
        const value = (id) => el(id).dataset.value;
        return {sequence: Number(el('strategy-result').dataset.sequence),
                analyses: Number(el('strategy-result').dataset.analyses || 0),
                breakevens: JSON.parse(value('st-breakevens') || 'null'),
                breakevensText: el('st-breakevens').textContent,
                popLognormal: Number(value('st-pop-lognormal')),
                popLognormalText: el('st-pop-lognormal').textContent,
                popSmile: Number(value('st-pop-smile')),
                popSmileText: el('st-pop-smile').textContent,
                maxProfit: Number(value('st-max-profit')),
                maxLoss: Number(value('st-max-loss')),
                margin: Number(value('st-margin')),
                payoff: (() => {
                    const o = echarts.getInstanceByDom(el('chart-payoff')).getOption();
                    return {expiry: o.series[0].data,
                            marks: o.series[0].markLine.data.map(d => d.xAxis ?? null)};
                })()};
    }""")


def legs_on_page(page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll('#legs tbody tr')].map(tr => ({
        expiry: tr.dataset.expiry, strike: Number(tr.dataset.strike), type: tr.dataset.type,
        side: tr.dataset.side,
        lots: Number(tr.querySelector('td[data-field=lots] input').value),
        price: Number(tr.dataset.price)}))""")


def at_same_snapshot(page, server: Server, body: dict) -> tuple[dict, dict]:
    """The page's answer and the API's for ``body``, of one snapshot: the page is asked to
    analyse again until both are of the same sequence."""
    for _ in range(ATTEMPTS):
        before = shown(page)["analyses"]
        page.get_by_role("button", name="Analyse", exact=True).click()
        wait_for(lambda b=before: shown(page)["analyses"] > b, 15, "the page's analysis")
        mine = shown(page)
        status, api = post(server, "/api/strategy/analyze", body)
        assert status == 200, api
        if api["sequence"] == mine["sequence"]:
            return mine, api
        time.sleep(0.1)
    raise AssertionError("the page and the API never analysed the same snapshot")


def percent(fraction: float) -> str:
    return f"{fraction * 100:,.2f}%"


def test_an_iron_condor_from_four_chain_clicks_shows_the_apis_figures(browser, live, tmp_path):
    page, problems = open_dashboard(browser, live)
    try:
        page.get_by_role("tab", name="Strategy").click()
        assert page.locator("#strategy").is_visible() and page.locator("#trading").is_hidden()
        rows = page.locator("#chain tbody tr")
        strikes = [float(s) for s in page.eval_on_selector_all(
            "#chain tbody tr", "rs => rs.map(r => r.dataset.strike)")]
        atm = strikes.index(float(page.locator("#chain tbody tr.atm").get_attribute(
            "data-strike")))
        expiry = page.locator("#chain").get_attribute("data-expiry")
        # Buy the 4-away put (its ask), sell the 2-away put (its bid), sell the 2-away call,
        # buy the 4-away call.
        clicks = [(atm - 4, "put", "ask", "buy"), (atm - 2, "put", "bid", "sell"),
                  (atm + 2, "call", "bid", "sell"), (atm + 4, "call", "ask", "buy")]
        for i, right, field, _ in clicks:
            rows.nth(i).locator(f"td[data-side={right}][data-field={field}]").click()
        page.wait_for_selector("#strategy-result:not([hidden])", timeout=15_000)
        assert not page.evaluate("document.getElementById('ticket').open")
        legs = legs_on_page(page)
        assert [(leg["strike"], leg["type"], leg["side"]) for leg in legs] == [
            (strikes[i], right, side) for i, right, _, side in clicks]
        assert all(leg["expiry"] == expiry and leg["lots"] == 1 and leg["price"] > 0
                   for leg in legs)

        body = {"product": "NIFTY", "legs": legs, "smile": "sticky_strike", "points": 500}
        mine, api = at_same_snapshot(page, live, body)
        assert mine["breakevens"] == api["breakevens"]
        assert mine["breakevensText"] == " · ".join(f"{b:,.2f}" for b in api["breakevens"])
        assert mine["popLognormal"] == api["probability"]["lognormal"]["profit"]
        assert mine["popSmile"] == api["probability"]["smile"]["profit"]
        assert mine["popLognormalText"] == percent(api["probability"]["lognormal"]["profit"])
        assert mine["popSmileText"] == percent(api["probability"]["smile"]["profit"])
        assert mine["maxProfit"] == api["max_profit"]["value"]
        assert mine["maxLoss"] == api["max_loss"]["value"]
        assert mine["margin"] == api["margin"]["required"]
        # The chart: the API's expiry curve, the spot and each breakeven marked.
        assert mine["payoff"]["expiry"] == [list(p) for p in zip(api["grid"]["spot"],
                                                                 api["grid"]["expiry"],
                                                                 strict=True)]
        assert mine["payoff"]["marks"][0] == api["spot"]
        assert mine["payoff"]["marks"][1:-1] == api["breakevens"]

        # The textbook iron condor, from the clicked prices alone: the credit is the most it
        # makes, the wing width less the credit the most it loses, and the breakevens are the
        # short strikes moved out by the credit per unit.
        price = {(leg["strike"], leg["type"]): leg["price"] for leg in legs}
        long_put, short_put, short_call, long_call = (strikes[i] for i, *_ in clicks)
        credit = (price[short_put, "put"] + price[short_call, "call"]
                  - price[long_put, "put"] - price[long_call, "call"])
        assert credit > 0
        assert api["breakevens"] == pytest.approx([short_put - credit, short_call + credit],
                                                  abs=1e-6)
        assert api["max_profit"]["value"] == pytest.approx(credit * LOT, abs=1e-6)
        wing = short_put - long_put
        assert api["max_loss"]["value"] == pytest.approx(-(wing - credit) * LOT, abs=1e-6)
        assert 0 < api["probability"]["lognormal"]["profit"] < 1

        # A leg removed: three legs, analysed again.
        page.get_by_role("button", name="Remove leg 4").click()
        wait_for(lambda: len(legs_on_page(page)) == 3, 5, "three legs")
        # Back on the trading tab a quote opens the order ticket again.
        page.get_by_role("tab", name="Paper trading").click()
        rows.nth(atm).locator("td[data-side=call][data-field=ask]").click()
        ticket = page.get_by_role("dialog", name="Order ticket")
        ticket.wait_for()
        ticket.get_by_role("button", name="Dismiss").click()
        assert len(legs_on_page(page)) == 3

        page.get_by_role("tab", name="Strategy").click()
        for d in artifact_dirs(tmp_path):
            page.screenshot(path=str(d / "strategy-1440x900.png"), full_page=True)
        assert problems.items == []
    finally:
        page.close()


def test_the_iron_condor_template_gives_the_apis_legs(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        page.get_by_role("tab", name="Strategy").click()
        expiry = page.locator("#chain").get_attribute("data-expiry")
        page.get_by_label("Template", exact=True).select_option("iron_condor")
        template = {"name": "iron_condor", "expiry": expiry, "strikes_by": "delta",
                    "delta": 0.25, "width": 2, "lots": 1}
        # Strikes by delta follow the market: compared at one snapshot.
        for _ in range(ATTEMPTS):
            before = int(page.locator("#strategy-result").get_attribute("data-analyses") or 0)
            page.get_by_role("button", name="Use template").click()
            wait_for(lambda b=before: int(page.locator("#strategy-result").get_attribute(
                "data-analyses") or 0) > b, 15, "the template's analysis")
            sequence = int(page.locator("#strategy-result").get_attribute("data-sequence"))
            legs = legs_on_page(page)
            status, api = post(live, "/api/strategy/analyze",
                               {"product": "NIFTY", "template": template,
                                "smile": "sticky_strike", "points": 500})
            assert status == 200, api
            if api["sequence"] == sequence:
                break
        else:
            raise AssertionError("the page and the API never analysed the same snapshot")
        assert [(leg["strike"], leg["type"], leg["side"], leg["lots"], leg["price"])
                for leg in legs] == [(leg["strike"], leg["type"], leg["side"], leg["lots"],
                                      leg["price"]) for leg in api["legs"]]
        assert sorted((leg["type"], leg["side"]) for leg in legs) == [
            ("call", "buy"), ("call", "sell"), ("put", "buy"), ("put", "sell")]
        assert json.loads(page.get_attribute("#st-breakevens", "data-value")) == \
            api["breakevens"]
        assert problems.items == []
    finally:
        page.close()


def test_the_signed_in_users_positions_are_analysed_at_their_entry_prices(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        page.get_by_role("tab", name="Strategy").click()
        assert page.get_by_role("button", name="Analyse my positions").is_hidden()
        page.get_by_role("tab", name="Paper trading").click()
        sign_up(page, new_email())
        token = session(page)["token"]
        _, body = live.get("/api/data/chain/NIFTY?strikes=5")
        chain = body["chains"][0]
        fills = {}
        for strike, right, side in ((chain["strikes"][3], "CE", "SELL"),
                                    (chain["strikes"][1], "PE", "BUY")):
            status, order = call(live, "POST", "/api/trade/order", token, {
                "product": "NIFTY", "expiry": chain["expiry"], "strike": strike,
                "option_type": right, "side": side, "quantity": LOT})
            assert status == 201 and order["status"] == "FILLED", order
            fills[strike] = order["avg_fill_price"]

        page.get_by_role("tab", name="Strategy").click()
        page.get_by_role("button", name="Analyse my positions").click()
        page.wait_for_selector("#strategy-result:not([hidden])", timeout=15_000)
        status, api = call(live, "POST", "/api/strategy/analyze", token,
                           {"product": "NIFTY", "positions": True})
        assert status == 200, api
        legs = legs_on_page(page)
        assert sorted((leg["strike"], leg["type"], leg["side"], leg["lots"], leg["price"])
                      for leg in legs) == sorted(
            (leg["strike"], leg["type"], leg["side"], leg["lots"], leg["price"])
            for leg in api["legs"])
        # At the fills' prices: a short call and a long put of one lot each.
        assert sorted((leg["strike"], leg["price"]) for leg in legs) == sorted(fills.items())
        # The payoff at expiry is of the entry prices, not of the moving market.
        assert json.loads(page.get_attribute("#st-breakevens", "data-value")) == \
            api["breakevens"]
        assert page.get_attribute("#st-max-loss", "data-unbounded") == "true"
        assert page.inner_text("#st-max-loss") == "unbounded"
        assert api["max_loss"]["unbounded"] is True
        assert problems.items == []
    finally:
        page.close()


def test_the_apis_refusal_is_shown_naming_its_parameter(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        page.get_by_role("tab", name="Strategy").click()
        page.locator("#chain tbody tr.atm td[data-side=call][data-field=ask]").click()
        page.wait_for_selector("#strategy-result:not([hidden])", timeout=15_000)
        legs = legs_on_page(page)
        # A valuation date years after the last listed expiry.
        page.get_by_label("Valuation date").fill("2035-01-01")
        status, api = post(live, "/api/strategy/analyze",
                           {"product": "NIFTY", "legs": legs, "dates": ["2035-01-01"]})
        assert status == 400
        wait_for(lambda: api["error"] in page.inner_text("#strategy-error"), 10,
                 "the API's error on the page")
        assert "dates" in page.inner_text("#strategy-error")
        # The refusal (its response, and the console line it makes) is the only problem.
        assert [p for p in problems.items
                if "/api/strategy/analyze" not in p and "status of 400" not in p] == []
    finally:
        page.close()


def chart(page, element: str) -> dict:
    return page.evaluate(
        """(id) => {
            const el = document.getElementById(id);
            const o = echarts.getInstanceByDom(el).getOption();
            return {sequence: Number(el.dataset.sequence),
                    option: JSON.parse(JSON.stringify(o, (k, v) =>
                        typeof v === 'function' ? undefined : v))};
        }""", element)


def test_the_gex_and_skew_charts_draw_the_apis_figures(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        for name in ("gex", "skew"):
            wait_for(lambda n=name: drawn_pixels(page, n) > 500, 30, f"chart {name} to draw")

        answers: dict[str, dict[int, dict]] = {}

        def same(element: str, path: str) -> tuple[dict, dict] | None:
            status, body = live.get(path)
            assert status == 200, body
            seen = answers.setdefault(path, {})
            seen[body["sequence"]] = body
            drawn = chart(page, element)
            body = seen.get(drawn["sequence"])
            return None if body is None else (drawn["option"], body)

        # The page reads these every 4 s and a tick comes every second, so the chart is
        # usually of an earlier tick than the API is at: the API's answer of every tick is
        # kept, and the chart is compared with the one of its own tick.
        option, gex = wait_for(lambda: same("chart-gex", "/api/analytics/gex/NIFTY"), 40,
                               "the GEX chart at the API's snapshot")
        bars = option["series"][0]["data"]
        assert [b["value"] for b in bars] == [[r["strike"], r["net_gex"]] for r in gex["strikes"]]
        assert any(r["net_gex"] for r in gex["strikes"])
        marks = [m["xAxis"] for m in option["series"][0]["markLine"]["data"]]
        assert marks == [v for v in (gex["spot"], gex["zero_gamma"], gex["call_wall"],
                                     gex["put_wall"]) if v is not None]
        assert option["yAxis"][0]["name"] == gex["unit"]

        option, skew = wait_for(lambda: same("chart-skew", "/api/analytics/skew/NIFTY"), 40,
                                "the skew chart at the API's snapshot")
        assert option["xAxis"][0]["data"] == [f"{e['expiry']} ({e['days']}d)"
                                              for e in skew["expiries"]]
        by_name = {s["name"]: s["data"] for s in option["series"]}
        for name, key in (("ATM IV", "atm_iv"), ("RR 25Δ", "rr25"), ("BF 25Δ", "bf25")):
            assert by_name[name] == pytest.approx(
                [None if e[key] is None else e[key] * 100 for e in skew["expiries"]]), name
        assert problems.items == []
    finally:
        page.close()
