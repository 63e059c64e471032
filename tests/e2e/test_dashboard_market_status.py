"""The dashboard's market-status badge in a real Chromium against real `deltastream serve`
processes in exchange hours (the default) on pinned clocks: a weekend (closed, naming the next
open in the exchange's time, hidden for a stored source) and the last minutes of a session
(open with its close, then closed without a reload as the stream's ticks say so).

Times: NSE trades 09:15-15:30 IST (UTC+5:30), NYSE 09:30-16:00 ET (EST, UTC-5, in December).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support.browser import chromium, needs_chromium

from .conftest import Server, start_server
from .test_dashboard import FIXTURES, TICK, Problems, shown

pytestmark = needs_chromium

# Saturday 5 December 2026, 11:30 IST: NIFTY reopens on Monday 7 December at 09:15 IST
# (03:45 UTC), SPY at 09:30 EST (14:30 UTC).
WEEKEND = "2026-12-05T06:00:00Z"
NIFTY_OPENS = "2026-12-07T03:45:00.000Z"
SPY_OPENS = "2026-12-07T14:30:00.000Z"
# Friday 4 December 2026, 14:20 IST: NIFTY closes at 15:30 IST (10:00 UTC), 70 market minutes
# later; at 60 market seconds per wall second that is 70 wall seconds, room for a server that
# starts slowly on a loaded machine (the clock runs from the engine's start).
BEFORE_CLOSE = "2026-12-04T08:50:00Z"
NIFTY_CLOSES = "2026-12-04T10:00:00.000Z"
CLOCK_SPEED = "60"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


def badge(page) -> tuple[str, str, bool]:
    """The badge's text, its data-status and whether it is shown."""
    return tuple(page.evaluate("""() => {
        const el = document.getElementById('market');
        return [document.getElementById('market-text').textContent, el.dataset.status,
                !el.hidden && el.offsetParent !== null];
    }"""))


def wait_badge(page, text: str, timeout: float = 30_000) -> None:
    page.wait_for_function(
        """(text) => {
            const el = document.getElementById('market');
            return !el.hidden && document.getElementById('market-text').textContent === text;
        }""", arg=text, timeout=timeout)


@pytest.fixture(scope="module")
def weekend(tmp_path_factory) -> Iterator[Server]:
    """A server whose fixed clock stands on Saturday, with an NSE option chain imported as
    the stored source 'nse'."""
    tmp = tmp_path_factory.mktemp("weekend")
    done = subprocess.run([sys.executable, "-m", "deltastream", "import",
                           str(FIXTURES / "option-chain-v3_NIFTY_08-Dec-2026.json"),
                           "--data-dir", str(tmp)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    srv = start_server(tmp, "--tick-interval", TICK, "--clock", "fixed", "--data-dir", str(tmp),
                       env={"DELTASTREAM_CLOCK_START": WEEKEND})
    yield srv
    if srv.process.poll() is None:
        srv.stop()


def test_on_a_weekend_the_badge_says_closed_until_the_next_open_in_exchange_time(
        browser, weekend):
    status, body = weekend.get("/api/data/chain/NIFTY")
    assert status == 200
    assert (body["market_status"], body["market_status_until"], body["timezone"]) == (
        "closed", NIFTY_OPENS, "Asia/Kolkata")
    markets = weekend.get("/api/health")[1]["markets"]
    assert (markets["SPY"]["market_status"], markets["SPY"]["market_status_until"]) == (
        "closed", SPY_OPENS)
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems = Problems(page)
    try:
        page.goto(weekend.base + "/")
        wait_badge(page, "Market closed · opens Mon 07 Dec 09:15 IST", 60_000)
        assert badge(page) == ("Market closed · opens Mon 07 Dec 09:15 IST", "closed", True)
        # The engine only re-announces the standing quotes while closed: the stream is live
        # all the same.
        page.wait_for_function(
            "() => document.getElementById('status').dataset.state === 'live'", timeout=30_000)
        page.select_option("#product", "SPY")
        wait_badge(page, "Market closed · opens Mon 07 Dec 09:30 EST")
        # A stored source has no session: no badge; back on the live source it returns.
        page.select_option("#source", "nse")
        page.wait_for_function("() => document.getElementById('chain').dataset.source === 'nse'")
        assert shown(page, "#stored") and not shown(page, "#market")
        page.select_option("#source", "simulator")
        page.wait_for_function(
            "() => document.getElementById('chain').dataset.source === 'simulator'")
        # The stored source had NIFTY only: the live source comes back on NIFTY.
        assert page.input_value("#product") == "NIFTY"
        wait_badge(page, "Market closed · opens Mon 07 Dec 09:15 IST")
        page.wait_for_timeout(2000)
        assert page.inner_text("#errors") == ""
        assert problems.items == []
    finally:
        page.close()


def test_in_session_the_badge_says_open_until_the_close_then_closed_from_the_stream(
        browser, tmp_path):
    srv = start_server(tmp_path, "--tick-interval", TICK, "--clock", "accelerated",
                       "--clock-speed", CLOCK_SPEED, "--data-dir", str(tmp_path),
                       env={"DELTASTREAM_CLOCK_START": BEFORE_CLOSE})
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    problems = Problems(page)
    try:
        body = srv.get("/api/data/chain/NIFTY")[1]
        assert (body["market_status"], body["market_status_until"]) == ("open", NIFTY_CLOSES)
        page.goto(srv.base + "/")
        wait_badge(page, "Market open · closes 15:30 IST", 60_000)
        assert badge(page)[1:] == ("open", True)
        # Past 15:30 IST the stream's ticks turn it, without a reload or a product change.
        page.evaluate("window.notReloaded = true")
        wait_badge(page, "Market closed · opens Mon 07 Dec 09:15 IST", 150_000)
        assert page.evaluate("window.notReloaded === true")
        assert badge(page)[1] == "closed"
        body = srv.get("/api/data/chain/NIFTY")[1]
        assert (body["market_status"], body["market_status_until"]) == ("closed", NIFTY_OPENS)
        assert page.inner_text("#errors") == ""
        assert problems.items == []
    finally:
        page.close()
        if srv.process.poll() is None:
            srv.stop()
