"""The stream's fan-out: coalescing buffers, events built from snapshots, the thread hand-off,
resume from the replay ring, the counters exported in /metrics, and the market status on
every event."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import gevent
import pytest

from deltastream.core.threads import real_thread
from deltastream.core.types import MarketStatus
from deltastream.web.state import app_state
from deltastream.web.stream import (
    CHAIN,
    KINDS,
    SUMMARY,
    UNDERLYING,
    Batch,
    CoalescingBuffer,
    StreamClient,
    StreamEvent,
    events_for,
    sse_frames,
)
from tests.web.market_sessions import session_engine


def event(kind: str, product: str, sequence: int) -> StreamEvent:
    return StreamEvent(kind, product, sequence, {"product": product, "sequence": sequence})


def settle() -> None:
    """Let the gevent hub run the hand-off watcher and the fan-out greenlet."""
    gevent.sleep(0.05)


def tick(engine, times: int = 1) -> None:
    for _ in range(times):
        engine.tick()
        engine.clock.advance(1.0)


def metric(client, name: str, transport: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        if line.startswith(f'{name}{{transport="{transport}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not exported")


# -- the buffer ------------------------------------------------------------------------------

def test_buffer_keeps_the_latest_message_per_event_and_product_in_arrival_order():
    buf = CoalescingBuffer(capacity=8)
    buf.put(event(UNDERLYING, "A", 1))
    buf.put(event(UNDERLYING, "B", 1))
    buf.put(event(SUMMARY, "A", 1))
    assert buf.coalesced == 0
    buf.put(event(UNDERLYING, "A", 2))      # replaces A's pending price, keeps its place
    buf.put(event(UNDERLYING, "A", 3))
    assert buf.coalesced == 2 and buf.dropped == 0
    drained = buf.drain()
    assert [(e.kind, e.product, e.sequence) for e in drained] == [
        (UNDERLYING, "A", 3), (UNDERLYING, "B", 1), (SUMMARY, "A", 1)]
    assert len(buf) == 0 and buf.drain() == []


def test_buffer_drops_the_oldest_message_past_its_capacity():
    buf = CoalescingBuffer(capacity=4)
    for i, product in enumerate("ABCDEF"):
        buf.put(event(UNDERLYING, product, i))
    assert buf.dropped == 2 and len(buf) == 4
    assert [e.product for e in buf.drain()] == ["C", "D", "E", "F"]


def test_filling_an_empty_buffer_at_once_coalesces_and_bounds_the_same_way():
    buf = CoalescingBuffer(capacity=3)
    buf.put_many([event(UNDERLYING, "A", 1), event(UNDERLYING, "B", 1),
                  event(UNDERLYING, "A", 2)])
    assert buf.coalesced == 1 and buf.dropped == 0
    assert [(e.product, e.sequence) for e in buf.drain()] == [("A", 2), ("B", 1)]
    buf.put_many([event(SUMMARY, p, 1) for p in "ABCDE"])
    assert buf.dropped == 2 and [e.product for e in buf.drain()] == ["C", "D", "E"]
    buf.put(event(SUMMARY, "A", 1))
    buf.put_many([event(SUMMARY, "A", 2), event(SUMMARY, "B", 2)])    # not empty: one by one
    assert buf.coalesced == 2 and [(e.product, e.sequence) for e in buf.drain()] == [
        ("A", 2), ("B", 2)]


def test_a_client_that_drains_between_messages_loses_nothing():
    buf = CoalescingBuffer(capacity=4)
    got = []
    for seq in range(100):
        buf.put(event(UNDERLYING, "A", seq))
        got += [e.sequence for e in buf.drain()]
    assert got == list(range(100)) and buf.coalesced == 0 and buf.dropped == 0


def test_sse_frames_carry_the_sequence_as_id_on_the_last_event_of_each_sequence():
    frames = b"".join(sse_frames([event(UNDERLYING, "B", 8), event(UNDERLYING, "A", 7),
                                  event(SUMMARY, "A", 7)])).decode()
    blocks = [b for b in frames.split("\n\n") if b]
    assert blocks[0].startswith("event: underlying_update\ndata: ")    # A 7, no id yet
    assert blocks[1].startswith("id: 7\nevent: chain_summary\n")
    assert blocks[2].startswith("id: 8\nevent: underlying_update\n")
    assert '"product":"B"' in blocks[2]


def test_a_batch_joins_its_general_events_once_in_order_without_chains():
    events = [event(UNDERLYING, "IDX", 7), event(CHAIN, "IDX", 7), event(SUMMARY, "IDX", 7),
              event(UNDERLYING, "SEC", 7)]
    calls = []

    def encode(e: StreamEvent) -> bytes:
        calls.append(e.key)
        return f"<{e.kind}:{e.product}>".encode()

    batch = Batch(events)
    joined = batch.general_joined("test", encode)
    assert joined == b"<underlying:IDX><summary:IDX><underlying:SEC>"
    assert batch.general_joined("test", encode) is joined
    assert len(calls) == 3                      # each event encoded once, the chain never
    assert batch.general_unique
    # Two ticks of one product in a batch: taking them all would differ from the buffer's
    # coalescing, so the batch says so.
    assert not Batch([event(UNDERLYING, "IDX", 7), event(UNDERLYING, "IDX", 8)]).general_unique


# -- the hub on a real engine ----------------------------------------------------------------

@pytest.fixture()
def hub(client):
    settle()   # the fixture's ticks
    return app_state(client.application).stream


def test_events_are_built_from_the_snapshot_and_match_the_rest_chain(client, engine, hub):
    snap = engine.latest("IDX")
    latest = {e.kind: e for e in hub.latest(["IDX"], KINDS)}
    assert set(latest) == {UNDERLYING, SUMMARY, CHAIN}
    u = latest[UNDERLYING].payload
    assert u["product"] == "IDX" and u["price"] == snap.spot
    assert u["sequence"] == snap.sequence and u["timestamp"].endswith("Z")
    nearest = snap.chains[0]
    s = latest[SUMMARY].payload
    assert set(s) >= {"product", "expiry", "spot_price", "pcr_oi", "pcr_volume",
                      "atm_straddle_price", "max_pain_strike", "timestamp"}
    assert s["expiry"] == nearest.expiry.isoformat() and s["spot_price"] == snap.spot
    assert s["pcr_oi"] == nearest.pcr_oi and s["max_pain_strike"] == nearest.max_pain_strike
    assert s["atm_straddle_price"] == nearest.atm_straddle_price
    rest = client.get("/api/data/chain/IDX").get_json()["chains"][0]
    streamed = dict(latest[CHAIN].payload)
    assert streamed.pop("published_at").endswith("Z")
    assert streamed == rest


def test_listeners_on_a_real_thread_reach_clients_through_the_hub(engine, hub):
    watcher = StreamClient(16, ["IDX", "SEC"], [UNDERLYING])
    hub.add(watcher)
    before = engine.latest("IDX").sequence
    worker = real_thread(lambda: tick(engine, 3), "test-engine")
    worker.start()
    worker.join(60)
    assert not worker.is_alive()
    got: list[StreamEvent] = []
    deadline = gevent.get_hub().loop.now() + 10
    while len({e.sequence for e in got}) < 3 and gevent.get_hub().loop.now() < deadline:
        if watcher.ready.wait(timeout=1):
            got += watcher.take()
    # Each tick's underlying price of both products, at least the last tick's; earlier ones
    # only coalesce if the three ticks landed before the fan-out ran.
    assert got and {e.product for e in got} == {"IDX", "SEC"}
    assert max(e.sequence for e in got) == before + 3


def test_a_slow_client_gets_the_latest_state_and_the_coalesced_count_is_exported(
        client, engine, hub):
    slow = StreamClient(16, ["IDX", "SEC"], [UNDERLYING, SUMMARY])
    fast = StreamClient(16, ["IDX", "SEC"], [UNDERLYING, SUMMARY])
    hub.add(slow)
    hub.add(fast)
    before = metric(client, "deltastream_stream_coalesced_total", "sse")
    seen = []
    for _ in range(4):
        tick(engine)
        settle()
        seen += [e.sequence for e in fast.take()]
    last = engine.latest("IDX").sequence
    # The one that kept up got all 4 ticks x 2 products x 2 events, in order.
    assert len(seen) == 16 and seen == sorted(seen) and len(set(seen)) == 4
    pending = slow.take()
    assert sorted((e.kind, e.product) for e in pending) == sorted(
        (k, p) for k in (UNDERLYING, SUMMARY) for p in ("IDX", "SEC"))
    assert {e.sequence for e in pending} == {last}
    assert slow.buffer.coalesced == 12 and fast.buffer.coalesced == 0
    assert metric(client, "deltastream_stream_coalesced_total", "sse") == before + 12
    assert metric(client, "deltastream_stream_dropped_total", "sse") == 0


def test_replay_from_a_sequence_and_none_when_the_ring_is_past_it(engine, hub):
    reader = StreamClient(16, ["SEC"], [UNDERLYING])
    start = engine.latest("SEC").sequence
    tick(engine, 3)
    settle()
    missed = hub.since(start, reader)
    assert [(e.product, e.sequence) for e in missed] == [
        ("SEC", start + 1), ("SEC", start + 2), ("SEC", start + 3)]
    assert hub.since(start + 3, reader) == []
    assert hub.since(start + 10, reader) is None          # from another server's run
    assert hub.since(-5, reader) is None                  # older than the ring


def test_timestamps_of_published_at_are_recent(engine, hub):
    u = hub.latest(["IDX"], [UNDERLYING])[0].payload
    published = datetime.strptime(u["published_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=UTC)
    assert abs((datetime.now(UTC) - published).total_seconds()) < 60


def test_each_event_of_a_snapshot_carries_its_market_status():
    engine = session_engine(MarketStatus.CLOSED, datetime(2026, 11, 26, 3, 45, tzinfo=UTC))
    snap = engine.tick()["IDX"]
    events = events_for(snap, 11, 0.0)
    assert [e.kind for e in events] == [UNDERLYING, SUMMARY, CHAIN]
    assert [(e.payload["market_status"], e.payload["market_status_until"]) for e in events] \
        == [("closed", "2026-11-26T03:45:00.000Z")] * 3
    # A snapshot without session state (a replayed stored one): null, never absent.
    bare = dataclasses.replace(snap, market_status=None, market_status_until=None)
    assert [(e.payload["market_status"], e.payload["market_status_until"])
            for e in events_for(bare, 11, 0.0)] == [(None, None)] * 3


class DirectClient(StreamClient):
    """A client that takes a batch's general events as they are, as a WebSocket client that
    kept up does, and reports them delivered."""

    def __init__(self, hub) -> None:
        super().__init__(16, ["IDX", "SEC"], [UNDERLYING, SUMMARY])
        self.hub = hub
        self.batches: list[list[StreamEvent]] = []

    def write_general(self, batch: Batch) -> bool:
        self.batches.append(batch.general)
        self.hub.delivered(self, len(batch.general))
        return True


def test_messages_written_during_a_fan_out_are_counted_in_metrics_when_it_ends(
        client, engine, hub):
    direct = [DirectClient(hub) for _ in range(3)]
    buffered = StreamClient(16, ["IDX", "SEC"], [UNDERLYING, SUMMARY])
    for c in [*direct, buffered]:
        hub.add(c)
    before = metric(client, "deltastream_stream_delivered_total", "sse")
    tick(engine)
    settle()
    sequence = engine.latest("IDX").sequence
    for c in direct:
        assert [(e.kind, e.product, e.sequence) for b in c.batches for e in b] == [
            (k, p, sequence) for p in ("IDX", "SEC") for k in (UNDERLYING, SUMMARY)]
        assert len(c.buffer) == 0
    # A client that does not take the batch directly still gets it through its buffer.
    assert sorted((e.kind, e.product) for e in buffered.take()) == sorted(
        (k, p) for k in (UNDERLYING, SUMMARY) for p in ("IDX", "SEC"))
    assert metric(client, "deltastream_stream_delivered_total", "sse") == before + 3 * 4


def test_after_fanout_runs_once_per_tick_after_every_client_was_handed_it(engine, hub):
    clients = [StreamClient(16, ["IDX", "SEC"], [UNDERLYING]) for _ in range(3)]
    for c in clients:
        hub.add(c)
    handed: list[list[int]] = []
    hub.after_fanout.append(lambda: handed.append([len(c.buffer) for c in clients]))
    tick(engine)
    settle()
    # Each client held its two prices when the callback ran, and it ran once.
    assert handed == [[2, 2, 2]]
    tick(engine, 2)     # both before the hub runs (this greenlet does not yield): one pass
    settle()
    assert handed == [[2, 2, 2]] * 2
