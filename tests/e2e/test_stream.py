"""The live stream of a real `deltastream serve` process, with real clients: python-socketio
over the WebSocket transport, a raw WebSocket that stops reading (a slow client), a streaming
HTTP client for Server-Sent Events, and two servers sharing the real Redis."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import websocket

from tests.support.products import PRODUCTS
from tests.support.stream_clients import Recorder

from .conftest import Server, start_server

SUMMARY_FIELDS = {"product", "expiry", "spot_price", "pcr_oi", "pcr_volume",
                  "atm_straddle_price", "max_pain_strike", "timestamp"}
CHAIN_FIELDS = {"product", "expiry", "spot_price", "strikes", "calls", "puts", "pcr_oi",
                "pcr_volume", "atm_strike", "atm_straddle_price", "max_pain_strike",
                "timestamp"}
OPTION_FIELDS = {"strike", "last", "bid", "ask", "iv", "delta", "gamma", "theta", "vega",
                 "open_interest", "volume", "oi_change"}
REDIS_URL = "redis://127.0.0.1:6379/0"


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("stream")
    # Whole chains (every listed strike) make a client that stops reading fall behind fast.
    srv = start_server(tmp, "--hours", "always", "--tick-interval", "0.2", "--data-dir", str(tmp),
                       env={"DELTASTREAM_STREAM_STRIKES": "201"})
    yield srv
    stop(srv)


@pytest.fixture()
def recorder(live: Server) -> Iterator[Recorder]:
    rec = Recorder(live.base)
    yield rec
    rec.close()


def every_product_ticked(times: int) -> Callable[[list], bool]:
    def check(got: list) -> bool:
        for p in PRODUCTS:
            if sum(1 for _, e, d in got if e == "underlying_update"
                   and d["product"] == p) < times:
                return False
            if not any(e == "chain_summary" and d["product"] == p for _, e, d in got):
                return False
        return True
    return check


def test_general_room_gets_every_tick_of_every_product_in_order(live, recorder):
    recorder.wait_for(every_product_ticked(4))
    for p in PRODUCTS:
        ticks = recorder.of("underlying_update", p)
        seqs = [t["sequence"] for t in ticks]
        # A client that keeps up loses nothing: consecutive sequences.
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (p, seqs)
        t = ticks[-1]
        assert set(t) >= {"product", "price", "timestamp"} and t["price"] > 0
        assert t["timestamp"].endswith("Z")
        s = recorder.of("chain_summary", p)[-1]
        assert set(s) >= SUMMARY_FIELDS and s["expiry"] < "9999"
    assert recorder.of("chain_update") == []       # only for subscribers of a chain


def test_chain_subscription_gets_the_latest_chain_at_once_and_unsubscribe_stops_it(
        live, recorder):
    recorder.wait_for(every_product_ticked(1))
    seen_before = max(d["sequence"] for d in recorder.of("underlying_update", "NIFTY"))
    recorder.client.emit("subscribe", {"type": "chain", "symbol": "NIFTY"})
    got = recorder.wait_for(lambda g: any(e == "chain_update" for _, e, _ in g), 10)
    acks = [(t, d) for t, e, d in got if e == "subscribed"]
    assert acks and acks[0][1]["room"] == "chain:NIFTY"
    first_chain = next((t, d) for t, e, d in got if e == "chain_update")
    # The latest state at once: right behind the answer, not a later tick.
    assert first_chain[0] >= acks[0][0]
    assert first_chain[1]["sequence"] <= seen_before + 1
    chain = first_chain[1]
    assert set(chain) >= CHAIN_FIELDS and chain["product"] == "NIFTY"
    assert len(chain["calls"]) == len(chain["strikes"]) == len(chain["puts"]) > 21
    assert set(chain["calls"][0]) >= OPTION_FIELDS
    assert [o["strike"] for o in chain["puts"]] == chain["strikes"]
    recorder.wait_for(lambda g: len([1 for _, e, _ in g if e == "chain_update"]) >= 3)
    recorder.client.emit("unsubscribe", {"type": "chain", "symbol": "NIFTY"})
    got = recorder.wait_for(lambda g: any(e == "unsubscribed" for _, e, _ in g), 10)
    after = next(i for i, (_, e, _) in enumerate(got) if e == "unsubscribed")
    assert got[after][2]["room"] == "chain:NIFTY"
    count = len(recorder.snapshot())
    recorder.wait_for(lambda g: len([1 for _, e, _ in g[count:]
                                     if e == "underlying_update"]) >= 24)
    assert [e for _, e, _ in recorder.snapshot()[after:]].count("chain_update") == 0


def test_product_subscription_sends_the_latest_price_and_summary_at_once(live, recorder):
    recorder.wait_for(every_product_ticked(1))
    recorder.client.emit("subscribe", {"type": "product", "symbol": "SPY"})
    got = recorder.wait_for(lambda g: any(e == "subscribed" for _, e, _ in g), 10)
    ack = next(i for i, (_, e, _) in enumerate(got) if e == "subscribed")
    assert got[ack][2]["room"] == "product:SPY"
    got = recorder.wait_for(lambda g: len(g) >= ack + 3, 10)
    assert [(e, d["product"]) for _, e, d in got[ack + 1:ack + 3]] == [
        ("underlying_update", "SPY"), ("chain_summary", "SPY")]


@pytest.mark.parametrize(("payload", "reason"), [
    ({"type": "chain", "symbol": "DOGE"}, "unknown product 'DOGE'"),
    ({"type": "bananas", "symbol": "NIFTY"}, "invalid type 'bananas'"),
    ("NIFTY", "payload must be an object"),
    ([1, 2], "payload must be an object"),
])
def test_bad_input_gets_an_error_event_and_the_connection_stays_up(live, recorder, payload,
                                                                  reason):
    recorder.client.emit("subscribe", payload)
    got = recorder.wait_for(lambda g: any(e == "error" for _, e, _ in g), 10)
    err = next(d for _, e, d in got if e == "error")
    assert reason in err["error"] and err["detail"]["event"] == "subscribe"
    count = len(recorder.snapshot())
    recorder.wait_for(lambda g: any(e == "underlying_update" for _, e, _ in g[count:]))
    assert recorder.client.connected


def metric(server: Server, name: str, transport: str = "socketio") -> float:
    with urllib.request.urlopen(server.base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    prefix = f'{name}{{transport="{transport}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not exported")


def test_a_client_that_stops_reading_is_coalesced_and_holds_back_no_one(live, recorder):
    before = metric(live, "deltastream_stream_coalesced_total")
    host, port = urlsplit(live.base).netloc.split(":")
    # A tiny receive buffer and no reads: the server's writes to it stall at once.
    slow = websocket.create_connection(
        f"ws://{host}:{port}/socket.io/?EIO=4&transport=websocket",
        sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),), timeout=10)
    try:
        assert slow.recv().startswith("0{")            # Engine.IO open
        slow.send("40")                                 # Socket.IO connect
        for p in PRODUCTS:
            slow.send(json.dumps(["subscribe", {"type": "chain", "symbol": p}]).join(
                ["42", ""]))
        start = len(recorder.of("underlying_update", "NIFTY"))
        deadline = time.monotonic() + 120
        while metric(live, "deltastream_stream_coalesced_total") <= before:
            assert time.monotonic() < deadline, "the stalled client was never coalesced"
            time.sleep(0.5)
        # Meanwhile the client that reads got every tick, consecutively.
        recorder.wait_for(lambda g: len([1 for _, e, d in g if e == "underlying_update"
                                         and d["product"] == "NIFTY"]) >= start + 3)
        seqs = [d["sequence"] for d in recorder.of("underlying_update", "NIFTY")]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert metric(live, "deltastream_stream_dropped_total") == 0
        # When it reads again, every frame is whole (writes that blocked half-way were never
        # interleaved) and it catches up: each (event, product) only moves forward.
        slow.settimeout(5)
        last: dict[tuple[str, str], int] = {}
        chains = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = slow.recv()
            if message == "2":
                slow.send("3")                          # Engine.IO pong
                continue
            if message.startswith("40"):                # Socket.IO connected
                continue
            assert message.startswith("42"), message[:80]
            event, data = json.loads(message[2:])
            if event == "subscribed":
                continue
            key = (event, data["product"])
            assert data["sequence"] > last.get(key, -1), key
            last[key] = data["sequence"]
            if event == "chain_update":
                assert len(data["calls"]) == len(data["strikes"]) > 21
                chains += 1
        assert chains >= len(PRODUCTS)
    finally:
        slow.close()


def sse_frames(resp: http.client.HTTPResponse, count: int) -> list[dict]:
    frames: list[dict] = []
    frame: dict = {}
    while len(frames) < count:
        line = resp.fp.readline().decode()
        assert line, "stream ended"
        line = line.rstrip("\n")
        if not line:
            if frame:
                frames.append(frame)
            frame = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            frame[name] = json.loads(value) if name == "data" else value
    return frames


def open_sse(server: Server, query: str, last_id: str | None = None
             ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    host, port = urlsplit(server.base).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", "/api/stream" + query,
                 headers={"Last-Event-ID": last_id} if last_id else {})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type").startswith("text/event-stream")
    return conn, resp


def test_server_sent_events_stream_and_resume_from_last_event_id(live):
    conn, resp = open_sse(live, "?products=NIFTY,SPY&events=underlying,summary")
    frames = [f for f in sse_frames(resp, 12) if "event" in f]
    conn.close()
    ids = [int(f["id"]) for f in frames if "id" in f]
    assert ids == sorted(ids) and len(ids) >= 2
    assert {f["data"]["product"] for f in frames} == {"NIFTY", "SPY"}
    assert {f["event"] for f in frames} == {"underlying_update", "chain_summary"}
    resume_from = ids[-1]
    time.sleep(1.0)                                     # ticks happen while disconnected
    conn, resp = open_sse(live, "?products=NIFTY,SPY&events=underlying,summary",
                          str(resume_from))
    replay = [f for f in sse_frames(resp, 9) if "event" in f]
    conn.close()
    # Resumed right after the last id seen: four messages per tick, nothing skipped.
    seqs = [f["data"]["sequence"] for f in replay]
    assert seqs[0] == resume_from + 1 and seqs == sorted(seqs)
    first_tick = [(f["event"], f["data"]["product"]) for f in replay[:4]]
    assert sorted(first_tick) == sorted((e, p) for e in ("underlying_update", "chain_summary")
                                        for p in ("NIFTY", "SPY"))


def test_server_sent_events_reject_unknown_parameters(live):
    status, body = live.get("/api/stream?products=NIFTY,BTC")
    assert status == 400 and body["detail"]["parameter"] == "products"
    assert "NIFTY" in body["detail"]["accepted"]
    status, body = live.get("/api/stream?events=ticks")
    assert status == 400 and body["detail"]["parameter"] == "events"


def test_two_servers_on_redis_deliver_each_message_once_to_their_own_clients(tmp_path: Path):
    # Redis carries the engine's ticks (one engine writes, the other waits as standby) and
    # Socket.IO's message queue; market data must still reach each client exactly once.
    env = {"DELTASTREAM_REDIS_URL": REDIS_URL,
           "DELTASTREAM_REDIS_PREFIX": f"test-stream-{uuid.uuid4().hex[:8]}"}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    first = start_server(tmp_path / "a", "--hours", "always",
                         "--tick-interval", "0.3", "--data-dir",
                         str(tmp_path / "a"), env=env)
    try:
        second = start_server(tmp_path / "b", "--hours", "always",
                              "--tick-interval", "0.3", "--data-dir",
                              str(tmp_path / "b"), env=env)
        try:
            clients = [Recorder(first.base), Recorder(second.base)]
            try:
                clients[0].client.emit("subscribe", {"type": "chain", "symbol": "TSLA"})
                for rec in clients:
                    rec.wait_for(every_product_ticked(3), 120)
                assert clients[0].of("subscribed")[0]["room"] == "chain:TSLA"
                seen = []
                for rec in clients:
                    keys = [(e, d["product"], d["sequence"]) for _, e, d in rec.snapshot()
                            if e in ("underlying_update", "chain_summary", "chain_update")]
                    assert len(keys) == len(set(keys)), "a message was delivered twice"
                    seen.append({k for k in keys if k[0] == "underlying_update"})
                assert seen[0] & seen[1], "the two servers streamed different ticks"
                assert clients[1].of("chain_update") == []
                assert len(clients[0].of("chain_update")) >= 2
            finally:
                for rec in clients:
                    rec.close()
        finally:
            stop(second)
    finally:
        stop(first)
