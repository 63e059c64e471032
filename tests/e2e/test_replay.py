"""`deltastream serve --replay` of an imported day at 600x, in both engine modes: a Socket.IO
client receives every snapshot's tick once and in order (and each nearest chain), the REST
chain at each tick equals the imported snapshot as served, the replay is not stored again,
and once it is over the market stands still with the server healthy."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from deltastream.core.snapshot import ChainSnapshot
from deltastream.store import schema
from deltastream.store.database import open_database, sqlite_url
from deltastream.web.json import dumps
from deltastream.web.serialize import chain_dict, iso
from tests.support.ports import free_port
from tests.support.specs import START
from tests.support.store import count, tape_day
from tests.support.stream_clients import Recorder
from tests.support.waiting import wait_until

from .conftest import Server

PRODUCTS = ("IDX", "SEC")
STEPS = 12
SPEED = 600
# Market time before the first snapshot: 12 s at 600x, for the server to come up and the
# client to connect before the first tick.
LEAD = timedelta(hours=2)
STREAM_STRIKES = 21


def stored_rows(data_dir: Path) -> dict[str, int]:
    db = open_database(sqlite_url(data_dir))
    try:
        return {name: count(db, table) for name, table in schema.TABLES.items()}
    finally:
        db.dispose()


def launch(tmp_path: Path, *args: str) -> Server:
    """A server whose web side answers (its health waits for the first replayed tick)."""
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    proc = subprocess.Popen([sys.executable, "-m", "deltastream", "serve", "--port", str(port),
                             *args], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ,
                                 "DELTASTREAM_STREAM_STRIKES": str(STREAM_STRIKES)})
    server = Server(proc, f"http://127.0.0.1:{port}", log)

    def up() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return server.get("/api/data/products")[0] == 200
        except OSError:
            return False

    wait_until(up, 120, "the web side of the server")
    return server


def served(chain: dict) -> dict:
    return {k: v for k, v in chain.items() if k not in ("sequence", "published_at")}


def expected(snap: ChainSnapshot, strikes: int) -> list[dict]:
    """``snap``'s chains as the server serves them (less their sequence)."""
    return [served(orjson.loads(dumps(chain_dict(c, strikes)))) for c in snap.chains]


@pytest.fixture(params=["process", "thread"])
def replay(request, tmp_path) -> Iterator[tuple[Server, list[dict[str, ChainSnapshot]], str]]:
    day = tape_day(STEPS, seed=21, data_dir=tmp_path)
    start = (START - LEAD).isoformat().replace("+00:00", "Z")
    server = launch(tmp_path, "--replay", "tape", "--speed", str(SPEED), "--from", start,
                    "--data-dir", str(tmp_path), "--engine-mode", request.param)
    yield server, day, request.param
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()


def test_a_replayed_day_streams_every_tick_in_order_and_serves_the_imported_chains(
        replay, tmp_path):
    server, day, mode = replay
    before = stored_rows(tmp_path)
    stamps = [iso(step["IDX"].timestamp) for step in day]
    by_stamp = {p: {iso(step[p].timestamp): step[p] for step in day} for p in PRODUCTS}
    client = Recorder(server.base)
    try:
        for product in PRODUCTS:
            client.client.emit("subscribe", {"type": "chain", "symbol": product})
        client.wait_for(lambda got: sum(e == "subscribed" for _, e, _ in got) == 2, 20)
        assert client.of("underlying_update") == [], "connected after the replay began"
        # At each tick, the REST chain (every expiry, every strike).
        checked = own = 0
        seen = 0
        deadline = time.monotonic() + 60
        while checked < STEPS * len(PRODUCTS):
            assert time.monotonic() < deadline, f"{checked} ticks checked"
            ticks = client.of("underlying_update")
            if len(ticks) == seen:
                time.sleep(0.02)
                continue
            for tick in ticks[seen:]:
                status, body = server.get(f"/api/data/chain/{tick['product']}"
                                          "?limit=10&strikes=201")
                assert status == 200, body
                chains = body["chains"]
                # The chain served now: this tick's, or a later one if it came meanwhile.
                assert chains[0]["sequence"] >= tick["sequence"]
                assert chains[0]["timestamp"] >= tick["timestamp"]
                snap = by_stamp[tick["product"]][chains[0]["timestamp"]]
                assert [served(c) for c in chains] == expected(snap, 201)
                assert {c["source"] for c in chains} == {"tape"}
                own += chains[0]["timestamp"] == tick["timestamp"]
                checked += 1
            seen = len(ticks)
        # Every snapshot's tick, once, in order; one tick per market time, both products.
        for product in PRODUCTS:
            ticks = client.of("underlying_update", product)[:STEPS]
            assert [t["timestamp"] for t in ticks] == stamps
            assert [t["price"] for t in ticks] == [step[product].spot for step in day]
            sequences = [t["sequence"] for t in ticks]
            assert sequences == list(range(sequences[0], sequences[0] + STEPS))
            chains = client.of("chain_update", product)[:STEPS]
            assert [c["timestamp"] for c in chains] == stamps
            for chain, step in zip(chains, day, strict=True):
                assert served(chain) == expected(step[product], STREAM_STRIKES)[0]
        arrivals = [t for t, e, d in client.snapshot()
                    if e == "underlying_update" and d["product"] == "IDX"][:STEPS]
        # 600x: five market minutes are half a wall second apart, each tick when its time
        # comes (neither held back to the 1 s tick interval nor bunched in pairs).
        gaps = sorted(b - a for a, b in itertools.pairwise(arrivals))
        assert 0.35 < gaps[len(gaps) // 2] < 0.75 and sum(g > 0.25 for g in gaps) >= 8, gaps
        # Nearly always the tick's own chain (a later one only if it came before the GET).
        assert own >= 20, own
    finally:
        client.close()
    status, sources = server.get("/api/data/sources")
    assert status == 200 and sources["sources"][0]["name"] == "tape"
    assert sources["sources"][0]["live"] is True
    if mode == "process":
        # Past the end the market stands still: the last snapshots served, health fine.
        time.sleep(12)
        assert server.get("/api/health")[0] == 200
        for product in PRODUCTS:
            last = server.get(f"/api/data/chain/{product}?limit=10&strikes=201")[1]
            assert [served(c) for c in last["chains"]] == expected(day[-1][product], 201)
    assert server.stop() == 0
    log = server.log.read_text()
    assert log.count("the replay of 'tape' reached its end at 2026-11-25T10:55:00Z "
                     "(24 snapshots); the market stands still") == 1
    assert "replaying 'tape' (IDX, SEC) from 2026-11-25T08:00:00Z to 2026-11-25T10:55:00Z " \
           "at 600x" in log
    assert "Traceback" not in log
    # Nothing replayed was stored again.
    assert stored_rows(tmp_path) == before


def test_an_unknown_source_is_one_line_listing_the_stored_ones(tmp_path):
    tape_day(STEPS, seed=21, data_dir=tmp_path)
    result = subprocess.run([sys.executable, "-m", "deltastream", "serve", "--port",
                             str(free_port()), "--data-dir", str(tmp_path), "--replay", "nse"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: --replay: no stored snapshots of source 'nse'; stored sources: tape")
