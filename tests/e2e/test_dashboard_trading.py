"""Paper trading on the dashboard in a real Chromium against a real `deltastream serve --hours
always` (issue 17, acceptance 4): register through the form, buy from the chain's ask, watch
the position's P&L move with the market, close it and see the realised P&L the API books
(the fills' difference minus charges, checked by hand here); the API's refusals shown in the
ticket (on a weekend clock: the market closed until its next open, and an after-market order
queued for it); a resting order cancelled; the access token renewed before it expires; log out;
a SPY option on the USD account; the stream's account room (an order placed by another client
reaches the page through its events).

The access tokens live 60 s (the shortest the settings allow), so a session renews itself
within the module's run. Needs Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from itertools import count

import pytest

from tests.support.browser import chromium, needs_chromium

from .conftest import Server, start_server
from .test_dashboard import Problems, artifact_dirs, open_dashboard, wait_for

pytestmark = needs_chromium

TICK = "0.5"
TOKEN_TTL = 60
# Saturday 5 December 2026, 11:30 IST: NIFTY reopens on Monday 7 December at 09:15 IST.
WEEKEND = "2026-12-05T06:00:00Z"
NIFTY_OPENS = "Mon 07 Dec 09:15 IST, 2026-12-07 03:45:00 UTC"
PASSWORD = "correct horse 42"
LOT = 65   # NIFTY's lot size in the default catalogue
_users = count(1)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("trading")
    srv = start_server(tmp, "--hours", "always", "--tick-interval", TICK, "--data-dir", str(tmp),
                       env={"DELTASTREAM_ACCESS_TOKEN_TTL": str(TOKEN_TTL)})
    yield srv
    if srv.process.poll() is None:
        srv.stop()


def call(server: Server, method: str, path: str, token: str | None = None,
         body: dict | None = None) -> tuple[int, dict]:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    req = urllib.request.Request(server.base + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def session(page) -> dict | None:
    return page.evaluate("() => JSON.parse(sessionStorage.getItem('deltastream.session'))")


def tamper(page, token: str, expires_in_ms: int) -> None:
    """Put ``token`` in the tab's stored session as the access token, expiring in
    ``expires_in_ms`` from now, reload, and wait until the page has renewed it and read the
    account."""
    page.evaluate("""([token, ms]) => {
        const s = JSON.parse(sessionStorage.getItem('deltastream.session'));
        Object.assign(s, {token, expiresAt: Date.now() + ms});
        sessionStorage.setItem('deltastream.session', JSON.stringify(s));
    }""", [token, expires_in_ms])
    page.reload()
    page.wait_for_selector("#chain tbody tr.atm", timeout=60_000)
    wait_for(lambda: session(page)["token"] != token, 15, "the renewal")
    page.wait_for_function("() => document.getElementById('pf-cash').textContent !== '—'")
    assert page.inner_text("#account-error") == ""


def sign_up(page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Name (new account)").fill("Tester")
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("#account:not([hidden])", timeout=15_000)
    assert email in page.inner_text("#account-user")
    assert page.locator("#auth-form").is_hidden()


def new_email() -> str:
    return f"trader{next(_users)}.{time.time_ns()}@example.com"


def money(text: str) -> float:
    """A figure as the page shows it (₹1,23,456.78 or −₹26.51) back to a number."""
    cleaned = text.replace("₹", "").replace("$", "").replace(",", "").replace("−", "-")
    return float(cleaned)


def test_buy_from_the_chain_see_pnl_move_close_and_see_realised_pnl(browser, live, tmp_path):
    page, problems = open_dashboard(browser, live)
    try:
        assert page.locator("#account").is_hidden()
        sign_up(page, new_email())
        token = session(page)["token"]
        # A fresh account: the starting cash, nothing used.
        page.wait_for_function("() => document.getElementById('pf-cash').textContent !== '—'")
        _, pf = call(live, "GET", "/api/trade/portfolio", token)
        assert money(page.inner_text("#pf-cash")) == pf["cash_balance"] == 1_000_000
        assert money(page.inner_text("#pf-margin-used")) == 0
        assert page.inner_text("#pf-limits") != "—"   # the risk route's limits, or "margin only"

        # The ATM call's ask opens a buy ticket of one lot at that quote.
        ask_cell = page.locator("#chain tbody tr.atm td[data-side=call][data-field=ask]")
        strike = float(page.locator("#chain tbody tr.atm").get_attribute("data-strike"))
        ask_cell.click()
        ticket = page.get_by_role("dialog", name="Order ticket")
        ticket.wait_for()
        assert ticket.get_by_label("Side").input_value() == "BUY"
        assert ticket.get_by_label("Order type").input_value() == "MARKET"
        assert ticket.get_by_label("Lots").input_value() == "1"
        contract = page.inner_text("#ticket-contract")
        assert "NIFTY" in contract and "CE" in contract and f"{strike:,.0f}" in contract
        price = float(ticket.get_by_label("Price").input_value())
        assert price > 0
        premium = float(page.locator("#ticket-premium").get_attribute("data-value"))
        assert premium == pytest.approx(price * LOT, abs=0.5 * LOT)   # the touch may tick on
        assert f"{LOT} units" in page.inner_text("#ticket")
        ticket.get_by_role("button", name="Place order").click()
        ticket.wait_for(state="hidden")
        assert "FILLED" in page.inner_text("#trade-message")

        # The position: the API's, shown with its P&L and Greeks.
        row = page.locator("#positions tbody tr")
        row.wait_for(timeout=10_000)
        _, body = call(live, "GET", "/api/trade/positions", token)
        [position] = body["positions"]
        assert position["quantity"] == LOT and position["strike"] == strike
        assert row.get_attribute("data-symbol") == position["symbol"]
        assert row.locator("td[data-field=quantity]").inner_text() == str(LOT)
        assert money(row.locator("td[data-field=avg_entry_price]").inner_text()) == \
            pytest.approx(position["avg_entry_price"], abs=0.005)
        assert money(row.locator("td[data-field=delta]").inner_text()) > 0   # a long call
        assert money(row.locator("td[data-field=vega]").inner_text()) > 0
        _, orders = call(live, "GET", "/api/trade/orders", token)
        [buy] = orders["orders"]
        assert buy["status"] == "FILLED" and buy["side"] == "BUY"
        page.wait_for_selector("#orders tbody tr[data-status=FILLED]")
        assert page.locator("#trades tbody tr").count() == 1
        assert money(page.inner_text("#pf-margin-used")) == 0   # a long option: premium only

        # The P&L moves with the market (a tick every 0.5 s; the mid moves most ticks).
        cell = row.locator("td[data-field=unrealized_pnl]")
        first = cell.get_attribute("data-value")
        wait_for(lambda: cell.get_attribute("data-value") != first, 45, "the P&L to move")

        # Close: a sell of the open quantity at the market.
        page.get_by_role("button", name=f"Close {position['symbol']}").click()
        row.wait_for(state="detached", timeout=15_000)
        page.wait_for_selector("#positions-empty:not([hidden])")
        wait_for(lambda: page.locator("#trades tbody tr").count() == 2, 10, "two trades")
        _, orders = call(live, "GET", "/api/trade/orders", token)
        sell, buy = orders["orders"]   # newest first
        assert sell["side"] == "SELL" and sell["status"] == "FILLED"
        assert sell["filled_quantity"] == LOT

        # Realised P&L: the fills' difference on 65 units minus both fills' charges, as the API
        # books it, and as the page shows it.
        _, pf = call(live, "GET", "/api/trade/portfolio", token)
        by_hand = round((sell["avg_fill_price"] - buy["avg_fill_price"]) * LOT - pf["charges"], 2)
        assert pf["realized_pnl"] == pytest.approx(by_hand, abs=0.011)
        assert pf["realized_pnl"] != 0 and pf["charges"] > 0
        wait_for(lambda: float(page.get_attribute("#pf-realized", "data-value"))
                 == pf["realized_pnl"], 10, "the realised P&L shown")
        assert money(page.inner_text("#pf-realized")) == pytest.approx(pf["realized_pnl"])
        assert float(page.get_attribute("#pf-unrealized", "data-value")) == 0
        assert money(page.inner_text("#pf-cash")) == pytest.approx(pf["cash_balance"])
        # The trades list: one row per fill, newest first, at the fills' prices and charges.
        _, fills = call(live, "GET", "/api/trade/trades", token)
        assert [t["side"] for t in fills["trades"]] == ["SELL", "BUY"]
        assert sum(t["charges"] for t in fills["trades"]) == pytest.approx(pf["charges"])
        shown = page.locator("#trades td[data-field=price]").all_inner_texts()
        assert [float(t) for t in shown] == [t["price"] for t in fills["trades"]]
        assert page.locator("#trades td[data-field=side]").all_inner_texts() == ["SELL", "BUY"]

        for d in artifact_dirs(tmp_path):
            page.screenshot(path=str(d / "dashboard-trading.png"), full_page=True)
        assert page.inner_text("#errors") == ""
        assert problems.items == []
    finally:
        page.close()


def test_the_apis_refusals_are_shown_where_the_user_acted_and_an_order_cancels(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        email = new_email()
        assert call(live, "POST", "/api/auth/register", body={
            "email": email, "password": PASSWORD})[0] == 201
        # A wrong password: the API's 401 message under the form, still signed out.
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_function("() => document.getElementById('auth-error').textContent")
        assert "password" in page.inner_text("#auth-error").lower()
        assert page.locator("#account").is_hidden()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector("#account:not([hidden])")
        assert page.inner_text("#auth-error") == ""

        # A bid opens a sell ticket; 2,000 lots naked short is more than the margin allows:
        # the ticket stays open with the API's figures.
        page.locator("#chain tbody tr.atm td[data-side=put][data-field=bid]").click()
        ticket = page.get_by_role("dialog", name="Order ticket")
        ticket.wait_for()
        assert ticket.get_by_label("Side").input_value() == "SELL"
        assert "PE" in page.inner_text("#ticket-contract")
        ticket.get_by_label("Lots").fill("2000")
        assert "to receive" in page.inner_text("#ticket-premium")
        ticket.get_by_role("button", name="Place order").click()
        page.wait_for_function("() => document.getElementById('ticket-error').textContent")
        error = page.inner_text("#ticket-error")
        assert "insufficient margin" in error and "required ₹" in error and "available ₹" in error
        assert ticket.is_visible()
        page.wait_for_selector("#orders tbody tr[data-status=REJECTED]")

        # A limit price off the tick: the API names the field and what it accepts.
        ticket.get_by_label("Order type").select_option("LIMIT")
        ticket.get_by_label("Lots").fill("1")
        ticket.get_by_label("Price").fill("10.013")
        ticket.get_by_role("button", name="Place order").click()
        page.wait_for_function(
            "() => document.getElementById('ticket-error').textContent.includes('price')")
        assert "accepted:" in page.inner_text("#ticket-error")
        # A buy limit far under the market rests (PENDING) and is cancelled from the orders
        # list.
        ticket.get_by_label("Side").select_option("BUY")
        ticket.get_by_label("Price").fill("0.05")
        assert float(page.locator("#ticket-premium").get_attribute("data-value")) == \
            pytest.approx(0.05 * LOT)
        ticket.get_by_role("button", name="Place order").click()
        ticket.wait_for(state="hidden")
        assert "PENDING" in page.inner_text("#trade-message")
        pending = page.locator("#orders tbody tr[data-status=PENDING]")
        pending.wait_for()
        order_id = pending.get_attribute("data-key")
        page.get_by_role("button", name=f"Cancel order {order_id}").click()
        page.wait_for_selector(f"#orders tbody tr[data-key='{order_id}'][data-status=CANCELLED]")
        assert page.get_by_role("button", name=f"Cancel order {order_id}").is_hidden()
        assert page.locator("#positions tbody tr").count() == 0
        assert page.locator("#trades tbody tr").count() == 0

        # Only the refusals asked for: one 401 on the login and the two refused orders.
        expected = [p for p in problems.items
                    if ("/api/auth/login" in p or "/api/trade/order" in p
                        or "Failed to load resource" in p)]
        assert len(expected) == len(problems.items), problems.items
        assert sum("HTTP 401" in p for p in problems.items) == 1
        assert sum("HTTP 409" in p for p in problems.items) == 1
        assert sum("HTTP 400" in p for p in problems.items) == 1
    finally:
        page.close()


def test_the_session_renews_before_expiry_survives_a_reload_and_logs_out(browser, live,
                                                                          tmp_path):
    page, problems = open_dashboard(browser, live)
    try:
        sign_up(page, new_email())
        first = session(page)
        # Renewed at half its 60 s life: a new access token and a new refresh token.
        wait_for(lambda: session(page)["token"] != first["token"], TOKEN_TTL, "a renewal")
        renewed = session(page)
        assert renewed["refreshToken"] != first["refreshToken"]
        status, me = call(live, "GET", "/api/auth/me", renewed["token"])
        assert status == 200 and me["user"]["email"] == first["user"]["email"]

        # A reload keeps this tab's session; the account reads go on with it.
        page.reload()
        page.wait_for_selector("#chain tbody tr.atm", timeout=60_000)
        page.wait_for_selector("#account:not([hidden])")
        page.wait_for_function("() => document.getElementById('pf-cash').textContent !== '—'")
        # Phone width: the trading panel fits the screen (its tables scroll in their own box).
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(500)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for d in artifact_dirs(tmp_path):
            page.screenshot(path=str(d / "dashboard-trading-390x844.png"), full_page=True)

        # An access token past its expiry is renewed before the account is read (no 401).
        tamper(page, "expired", expires_in_ms=-1000)
        assert problems.items == []
        # An access token the server refuses: one renewal, and the reads go on.
        tamper(page, "refused", expires_in_ms=600_000)
        refused = list(problems.items)
        assert any(p.startswith("HTTP 401") for p in refused), refused
        assert all(re.match(r"HTTP 401: \S+/api/trade/|console: Failed to load resource: the "
                            r"server responded with a status of 401", p) for p in refused), refused
        problems.items.clear()

        page.get_by_role("button", name="Log out").click()
        page.wait_for_selector("#auth-form:not([hidden])")
        assert page.locator("#account").is_hidden()
        assert session(page) is None
        # The login's refresh tokens are revoked server-side.
        spent = renewed["refreshToken"]
        wait_for(lambda: call(live, "POST", "/api/auth/refresh",
                              body={"refresh_token": spent})[0] == 401, 10, "the revocation")
        assert problems.items == []
    finally:
        page.close()


def test_a_click_on_a_quote_while_signed_out_asks_for_a_login(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        page.locator("#chain tbody tr.atm td[data-side=call][data-field=last]").click()
        ticket = page.get_by_role("dialog", name="Order ticket")
        ticket.wait_for()
        assert ticket.get_by_label("Side").input_value() == "BUY"
        assert ticket.get_by_role("button", name="Place order").is_disabled()
        assert "Log in" in page.inner_text("#ticket-signin")
        ticket.get_by_role("button", name="Dismiss").click()
        ticket.wait_for(state="hidden")
        # A click elsewhere in the chain (a Greek) opens nothing.
        page.locator("#chain tbody tr.atm td[data-side=call][data-field=delta]").click()
        page.wait_for_timeout(300)
        assert ticket.is_hidden()
        assert problems.items == []
    finally:
        page.close()



def test_a_us_option_trades_in_dollars_on_the_usd_account(browser, live):
    page, problems = open_dashboard(browser, live)
    try:
        sign_up(page, new_email())
        page.select_option("#product", "SPY")
        page.wait_for_function("() => document.getElementById('chain').dataset.product === 'SPY'")
        # The account figures follow the product's currency.
        page.wait_for_function(
            "() => document.getElementById('account').dataset.currency === 'USD'")
        page.locator("#chain tbody tr.atm td[data-side=put][data-field=ask]").click()
        ticket = page.get_by_role("dialog", name="Order ticket")
        ticket.wait_for()
        assert "SPY" in page.inner_text("#ticket-contract")
        assert "PE" in page.inner_text("#ticket-contract")
        assert "(lot size 100)" in page.inner_text("#ticket")
        assert page.inner_text("#ticket-premium").startswith("$")
        ticket.get_by_role("button", name="Place order").click()
        ticket.wait_for(state="hidden")
        row = page.locator("#positions tbody tr")
        row.wait_for(timeout=10_000)
        token = session(page)["token"]
        _, body = call(live, "GET", "/api/trade/positions", token)
        [position] = body["positions"]
        assert position["currency"] == "USD" and position["quantity"] == 100
        assert row.get_attribute("data-symbol") == position["symbol"]
        assert "$" in row.locator("td[data-field=unrealized_pnl]").inner_text()
        assert money(row.locator("td[data-field=delta]").inner_text()) < 0   # a long put
        _, pf = call(live, "GET", "/api/trade/portfolio?currency=USD", token)
        assert pf["cash_balance"] < 100_000
        wait_for(lambda: page.inner_text("#pf-cash").startswith("$")
                 and money(page.inner_text("#pf-cash")) == pytest.approx(pf["cash_balance"]),
                 10, "the USD cash")
        assert problems.items == []
    finally:
        page.close()


def test_the_stream_joins_the_account_room_and_its_events_update_the_page(browser, live):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems = Problems(page)
    frames: list[str] = []

    def watch(ws) -> None:
        ws.on("framereceived", lambda f: isinstance(f, str) and frames.append("in " + f))
        ws.on("framesent", lambda f: isinstance(f, str) and frames.append("out " + f))

    page.on("websocket", watch)

    def seen(way: str, *parts: str, timeout: float = 10.0) -> bool:
        """A frame sent (way "out") or received ("in") holding every one of ``parts``."""
        # Playwright delivers the frame events while the page is driven: wait through it.
        deadline = time.monotonic() + timeout
        while not any(f.startswith(way + " ") and all(p in f for p in parts) for f in frames):
            if time.monotonic() > deadline:
                raise AssertionError(f"no WebSocket frame with {parts}")
            page.wait_for_timeout(100)
        return True
    try:
        page.goto(live.base + "/")
        page.wait_for_selector("#chain tbody tr.atm", timeout=60_000)
        sign_up(page, new_email())
        token = session(page)["token"]
        assert seen("in", '"subscribed"', '"type":"account"')
        assert seen("out", '"subscribe"', '"type":"account"', token)

        # An order placed elsewhere (another client of the same user) reaches the page.
        _, body = live.get("/api/data/chain/NIFTY?strikes=1")
        chain = body["chains"][0]
        status, order = call(live, "POST", "/api/trade/order", token, {
            "product": "NIFTY", "expiry": chain["expiry"], "strike": chain["strikes"][0],
            "option_type": "PE", "side": "BUY", "quantity": LOT})
        assert status == 201 and order["status"] == "FILLED"
        assert seen("in", '"order_update"', f'"order_id":{order["order_id"]},')
        page.wait_for_selector(f"#orders tbody tr[data-key='{order['order_id']}']"
                               "[data-status=FILLED]", timeout=10_000)
        page.wait_for_selector(f"#positions tbody tr[data-symbol='{order['symbol']}']")

        # Logged out, the socket leaves the room.
        page.get_by_role("button", name="Log out").click()
        assert seen("out", '"unsubscribe"', '"type":"account"')
        assert problems.items == []
    finally:
        page.close()


@pytest.fixture(scope="module")
def weekend(tmp_path_factory) -> Iterator[Server]:
    """A server in exchange hours whose fixed clock stands on a Saturday."""
    tmp = tmp_path_factory.mktemp("weekend-trading")
    srv = start_server(tmp, "--tick-interval", TICK, "--clock", "fixed", "--data-dir", str(tmp),
                       env={"DELTASTREAM_CLOCK_START": WEEKEND})
    yield srv
    if srv.process.poll() is None:
        srv.stop()


def test_a_closed_market_names_its_next_open_and_an_after_market_order_waits(browser, weekend):
    page, problems = open_dashboard(browser, weekend)
    try:
        page.wait_for_function("() => document.getElementById('market').dataset.status "
                               "=== 'closed'")
        sign_up(page, new_email())
        page.locator("#chain tbody tr.atm td[data-side=call][data-field=ask]").click()
        ticket = page.get_by_role("dialog", name="Order ticket")
        ticket.wait_for()
        ticket.get_by_role("button", name="Place order").click()
        page.wait_for_function("() => document.getElementById('ticket-error').textContent")
        error = page.inner_text("#ticket-error")
        assert "closed" in error and f"next open {NIFTY_OPENS}" in error, error
        assert ticket.is_visible()

        ticket.get_by_label("After-market: if the market is closed, queue the order for the "
                            "next open").check()
        ticket.get_by_role("button", name="Place order").click()
        ticket.wait_for(state="hidden")
        assert "PENDING (after-market: waits for the next open)" in \
            page.inner_text("#trade-message")
        token = session(page)["token"]
        _, body = call(weekend, "GET", "/api/trade/orders", token)
        [queued] = body["orders"]
        assert queued["status"] == "PENDING" and queued["after_market"] is True
        page.wait_for_selector(f"#orders tbody tr[data-key='{queued['order_id']}']"
                               "[data-status=PENDING]")
        assert page.locator("#positions tbody tr").count() == 0
        # The one refusal asked for: the 409 of the closed market.
        assert all("/api/trade/order" in p or "Failed to load resource" in p
                   for p in problems.items), problems.items
        assert sum("HTTP 409" in p for p in problems.items) == 1
    finally:
        page.close()
