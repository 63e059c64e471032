"""Questions answered from the analytics and the docs, and the optional language model.

Twenty fixture questions on a seeded market: market questions must quote the figure the
analytics route serves at the same snapshot and cite that route; docs questions must quote
the right section and cite its file. A stub server on loopback speaks the OpenAI
chat-completions protocol: the request carries the facts, a slow answer falls back to the
offline one, and a reply quoting a wrong figure is flagged.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from deltastream.core import snapshot
from deltastream.engine.runner import Engine
from deltastream.insights.chat import PASSAGE_CHARS, Chat, check_figures, quoted_passage, route
from deltastream.insights.pulse import PulseInputs, build_pulse, expiry_figures, wall_role
from deltastream.market.clock import FixedClock
from deltastream.settings import Settings
from deltastream.web import create_app
from tests.support.specs import EUROPEAN, START, spec, terms

SECOND = spec("SEC", 595.0, 1.0, 0.01, False, strikes_each_side=60)


@pytest.fixture(scope="module")
def engine():
    engine = Engine([EUROPEAN, SECOND], {"IDX": terms(EUROPEAN),
                                         "SEC": terms(SECOND, "USD", 100)},
                    seed=5, clock=FixedClock(START), tick_interval=1.0, history=500)
    for _ in range(12):
        engine.tick()
        engine.clock.advance(1.0)
    return engine


@pytest.fixture(scope="module")
def client(engine):
    return create_app(Settings(), feed=engine, start_feed=False).test_client()


def ask(client, query: str) -> dict:
    response = client.post("/api/ai/chat", json={"query": query})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def get(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def strike(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def routes_of(body: dict) -> list[str]:
    return [s["route"] for s in body["sources"] if s["type"] == "analytics"]


def expiries(client, product: str) -> list[str]:
    return get(client, f"/api/data/expiries/{product}")["expiries"]


# --- market questions: (question, check(client, body)) ------------------------------------

def chain_of(client, product: str, expiry: str) -> dict:
    return get(client, f"/api/data/chain/{product}?expiry={expiry}&strikes=201")["chains"][0]


def check_max_pain(product: str, which: int):
    def check(client, body):
        expiry = expiries(client, product)[which]
        pain = get(client, f"/api/analytics/max-pain/{product}?expiry={expiry}")
        assert body["facts"]["max_pain_strike"] == pain["max_pain_strike"]
        assert body["facts"]["max_pain_distance_pct"] == pain["distance_from_spot"]
        assert strike(pain["max_pain_strike"]) in body["answer"]
        assert expiry in body["answer"]
        assert routes_of(body) == [f"/api/analytics/max-pain/{product}?expiry={expiry}"]
    return check


def check_pcr(product: str):
    def check(client, body):
        latest = get(client, f"/api/analytics/pcr/{product}")["latest"]
        assert body["facts"]["pcr_oi"] == latest["pcr_oi"]
        assert body["facts"]["pcr_volume"] == latest["pcr_volume"]
        assert f"{latest['pcr_oi']:.2f}" in body["answer"]
        assert routes_of(body)[0].startswith(f"/api/analytics/pcr/{product}")
    return check


def atm_iv_of(chain: dict) -> float:
    i = chain["strikes"].index(chain["atm_strike"])
    return (chain["calls"][i]["iv"] + chain["puts"][i]["iv"]) / 2


def check_iv(product: str, figure: str):
    def check(client, body):
        chain = chain_of(client, product, expiries(client, product)[0])
        assert body["intent"]["figure"] == figure
        assert body["facts"]["atm_iv"] == pytest.approx(atm_iv_of(chain), rel=1e-5)
        assert f"{body['facts']['atm_iv'] * 100:.1f}%" in body["answer"]
        if figure == "iv_rank":
            assert "IV rank is not available: no history store" in body["answer"]
            assert routes_of(body)[0] == f"/api/analytics/iv-history/{product}"
        else:
            assert routes_of(body) == [f"/api/data/chain/{product}?expiry={chain['expiry']}"]
    return check


def check_straddle(product: str, which: int):
    def check(client, body):
        expiry = expiries(client, product)[which]
        chain = chain_of(client, product, expiry)
        skew = next(e for e in get(client, f"/api/analytics/skew/{product}")["expiries"]
                    if e["expiry"] == expiry)
        assert body["facts"]["atm_straddle_price"] == chain["atm_straddle_price"]
        assert body["facts"]["expected_move"] == skew["expected_move"]["straddle"]
        assert f"{chain['atm_straddle_price']:,.2f}" in body["answer"]
        assert f"±{skew['expected_move']['straddle']:,.2f}" in body["answer"]
        assert routes_of(body) == [f"/api/data/chain/{product}?expiry={expiry}",
                                   f"/api/analytics/skew/{product}"]
    return check


def check_walls(product: str):
    def check(client, body):
        chain = chain_of(client, product, expiries(client, product)[0])
        call_oi = [c["open_interest"] for c in chain["calls"]]
        put_oi = [p["open_interest"] for p in chain["puts"]]
        call_wall = chain["strikes"][call_oi.index(max(call_oi))]
        put_wall = chain["strikes"][put_oi.index(max(put_oi))]
        assert body["facts"]["call_wall_strike"] == call_wall
        assert body["facts"]["put_wall_strike"] == put_wall
        assert strike(call_wall) in body["answer"] and strike(put_wall) in body["answer"]
        assert f"{max(call_oi):,.0f} contracts" in body["answer"]
        q = f"?expiry={chain['expiry']}"
        assert routes_of(body) == [f"/api/data/chain/{product}{q}",
                                   f"/api/analytics/oi-buildup/{product}{q}"]
    return check


def check_spot(product: str):
    def check(client, body):
        ticks = get(client, f"/api/data/underlying/{product}?limit=1")["ticks"]
        assert body["facts"]["spot"] == ticks[-1]["price"]
        assert f"{ticks[-1]['price']:,.2f}" in body["answer"]
        assert routes_of(body) == [f"/api/data/underlying/{product}"]
    return check


def check_skew(product: str):
    def check(client, body):
        front = get(client, f"/api/analytics/skew/{product}")["expiries"][0]
        assert body["facts"]["rr25"] == front["rr25"]
        assert f"{front['rr25'] * 100:+.2f} vol points" in body["answer"]
        assert routes_of(body) == [f"/api/analytics/skew/{product}"]
    return check


def check_pulse(product: str, topic: str | None):
    def check(client, body):
        pulse = get(client, f"/api/ai/pulse?product={product}")
        wanted = [s for s in pulse["sentences"] if topic is None or s["topic"] == topic]
        assert body["answer"].endswith(" ".join(s["text"] for s in wanted))
        assert routes_of(body) == [f"/api/ai/pulse?product={product}"]
    return check


def check_unlisted(client, body):
    assert body["answer"].startswith("2030-01-01 is not a listed expiry of IDX")
    assert all(e in body["answer"] for e in expiries(client, "IDX"))
    assert routes_of(body) == ["/api/data/expiries/IDX"]


MARKET = [
    ("What is IDX's max pain for the next expiry?", check_max_pain("IDX", 0)),
    ("SEC max pain for {SEC:1}?", check_max_pain("SEC", 1)),
    ("IDX pcr", check_pcr("IDX")),
    ("What's the put-call ratio of SEC?", check_pcr("SEC")),
    ("Is IDX IV high?", check_iv("IDX", "iv_rank")),
    ("What is the implied volatility of SEC?", check_iv("SEC", "atm_iv")),
    ("How much is the IDX straddle?", check_straddle("IDX", 0)),
    ("Expected move of SEC to {SEC:2}", check_straddle("SEC", 2)),
    ("Where are the IDX OI walls?", check_walls("IDX")),
    ("SEC support and resistance", check_walls("SEC")),
    ("What is IDX trading at?", check_spot("IDX")),
    ("IDX skew", check_skew("IDX")),
    ("IDX term structure", check_pulse("IDX", "term_structure")),
    ("Give me a summary of SEC", check_pulse("SEC", None)),
    ("IDX max pain for 2030-01-01", check_unlisted),
]

# --- docs questions: (question, file, section ends with, words in the answer) ------------

DOCS = [
    ("How do I put nginx in front of DeltaStream?", "docs/deployment.md", "nginx in front",
     "proxy_pass http://deltastream;"),
    ("How much cash does a paper trading account start with?", "docs/deployment.md",
     "Paper trading", "Starting cash, position and loss limits and the charges are settings"),
    ("How do I import a bhavcopy file?", "README.md", "Importing files", "bhavcopy CSV"),
    ("How do I connect my own language model to the chat?", "docs/deployment.md",
     "Market pulse and chat", "phrased by a language model of your own"),
    ("How do I run several hosts with Redis?", "docs/deployment.md",
     "web processes over Redis", "DELTASTREAM_REDIS_URL=redis://"),
]


def test_there_are_twenty_fixture_questions():
    assert len(MARKET) + len(DOCS) == 20


@pytest.mark.parametrize(("question", "check"), MARKET, ids=[q for q, _ in MARKET])
def test_market_questions_quote_the_routes_figures(client, question, check):
    listed = {"SEC": expiries(client, "SEC")}
    for i, e in enumerate(listed["SEC"]):
        question = question.replace(f"{{SEC:{i}}}", e)
    body = ask(client, question)
    assert body["intent"]["kind"] == "market"
    assert body["llm"] is None
    check(client, body)


@pytest.mark.parametrize(("question", "source", "section", "words"), DOCS,
                         ids=[d[0] for d in DOCS])
def test_docs_questions_cite_the_section(client, question, source, section, words):
    body = ask(client, question)
    assert body["intent"]["kind"] == "docs"
    first = body["sources"][0]
    assert (first["type"], first["source"]) == ("docs", source)
    assert first["section"].endswith(section)
    assert body["answer"].startswith(f"From {source} ({first['section']}):")
    # The passage's own words, below the section's heading (which repeats the question's).
    heading, _, passage = body["answer"].split("\n", 1)[1].partition("\n\n")
    assert heading.startswith("#") and words in passage


def test_routing_reads_product_expiry_and_figure():
    intent = route("banknifty max pain 2026-12-08", ["NIFTY", "BANKNIFTY"], "NIFTY")
    assert (intent.kind, intent.figure, intent.product, str(intent.expiry)) == (
        "market", "max_pain", "BANKNIFTY", "2026-12-08")
    assert route("what is max pain?", ["NIFTY"], "NIFTY").product == "NIFTY"
    assert route("how is max pain computed?", ["NIFTY"], "NIFTY").kind == "docs"
    assert route("NIFTY max pain 2026-13-45", ["NIFTY"], "NIFTY").expiry_text == "2026-13-45"
    assert route("NIFTY monthly max pain", ["NIFTY"], "NIFTY").monthly
    assert not route("NIFTY monthly max pain 2026-12-08", ["NIFTY"], "NIFTY").monthly


def test_monthly_picks_the_nearest_monthly_expiry():
    # Three days on, the November monthly has expired: the nearest expiry is a December weekly.
    engine = Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=5,
                    clock=FixedClock(START + timedelta(days=3)), tick_interval=1.0, history=10)
    engine.tick()
    snap = engine.latest("IDX")
    listed = [c.expiry for c in snap.chains]
    # The last listed expiry of its month, a week after which is the next month.
    monthly = next(e for i, e in enumerate(listed)
                   if all(o.month != e.month for o in listed[i + 1:])
                   and (e + timedelta(days=7)).month != e.month)
    assert monthly != listed[0]
    empty = np.empty(0)
    chat = Chat(["IDX"], lambda p: (snap, build_pulse(snap, PulseInputs(empty, empty))), None)
    body = chat.answer("IDX monthly max pain").as_dict()
    assert body["facts"]["expiry"] == monthly.isoformat()
    chain = snap.chain_for(monthly)
    assert body["facts"]["max_pain_strike"] == chain.max_pain_strike
    assert chat.answer("IDX max pain").facts["expiry"] == listed[0].isoformat()


def test_monthly_without_a_monthly_contract_says_the_nearest_is_used(monkeypatch):
    monkeypatch.setattr(snapshot, "monthly_flags", lambda expiries: [False] * len(expiries))
    engine = Engine([EUROPEAN], {"IDX": terms(EUROPEAN)}, seed=5, clock=FixedClock(START),
                    tick_interval=1.0, history=10)
    engine.tick()
    snap = engine.latest("IDX")
    assert not any(c.monthly for c in snap.chains)
    empty = np.empty(0)
    chat = Chat(["IDX"], lambda p: (snap, build_pulse(snap, PulseInputs(empty, empty))), None)
    answer = chat.answer("IDX monthly max pain")
    assert answer.answer.startswith("No listed expiry of IDX is a monthly contract: the "
                                    "nearest is used. IDX max pain for "
                                    f"{snap.chains[0].expiry.isoformat()} is")


def test_walls_are_support_or_resistance_only_on_their_side_of_spot(engine):
    snap = engine.latest("IDX")
    fig = expiry_figures(snap, snap.chains[0])
    above, below = fig.spot + 100, fig.spot - 100
    assert wall_role(replace(fig, call_wall_strike=above), "call") == ", resistance"
    assert wall_role(replace(fig, call_wall_strike=below), "call") == ""
    assert wall_role(replace(fig, put_wall_strike=below), "put") == ", support"
    assert wall_role(replace(fig, put_wall_strike=above), "put") == ""


# --- the optional language model ---------------------------------------------------------

class Stub:
    """A chat-completions server on loopback: records each request and answers ``reply``
    after ``delay`` seconds (``status`` other than 200: an error body)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.reply = "ok"
        self.delay = 0.0
        self.status = 200
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, "body": body,
                                      "authorization": self.headers.get("Authorization")})
                time.sleep(stub.delay)
                payload = ({"id": "x", "object": "chat.completion", "model": body["model"],
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant",
                                                     "content": stub.reply}}]}
                           if stub.status == 200 else {"error": {"message": "boom"}})
                data = json.dumps(payload).encode()
                try:
                    self.send_response(stub.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass            # the client gave up (the timeout test)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def stub():
    server = Stub()
    yield server
    server.close()


@pytest.fixture()
def llm_client(engine, stub, monkeypatch):
    monkeypatch.setenv("DELTASTREAM_LLM_KEY", "sk-test")
    settings = Settings(llm_url=stub.url, llm_model="tiny", llm_timeout=0.5)
    return create_app(settings, feed=engine, start_feed=False).test_client()


def test_the_request_carries_the_facts_and_a_right_figure_passes(llm_client, stub, client):
    pain = get(client, "/api/analytics/max-pain/IDX")
    stub.reply = f"Max pain for IDX is {strike(pain['max_pain_strike'])}."
    body = ask(llm_client, "What is IDX max pain?")
    assert body["answer"] == stub.reply
    assert body["llm"]["used"] is True and body["llm"]["flagged_figures"] == []
    assert body["sources"] == ask(client, "What is IDX max pain?")["sources"]
    [request] = stub.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == "Bearer sk-test"
    assert request["body"]["model"] == "tiny"
    system, user = request["body"]["messages"]
    assert user == {"role": "user", "content": "What is IDX max pain?"}
    context = json.loads(system["content"].split("Context (JSON):\n", 1)[1])
    assert context["facts"]["max_pain_strike"] == pain["max_pain_strike"]
    assert context["facts"]["max_pain_distance_pct"] == pain["distance_from_spot"]


def test_a_wrong_figure_is_flagged(llm_client, stub, client):
    pain = get(client, "/api/analytics/max-pain/IDX")["max_pain_strike"]
    wrong = strike(pain + 100)
    stub.reply = f"IDX max pain is {wrong}, about {strike(pain)} last week."
    body = ask(llm_client, "What is IDX max pain?")
    assert body["llm"]["flagged_figures"] == [wrong]
    assert body["llm"]["offline_answer"] == ask(client, "What is IDX max pain?")["answer"]


def test_docs_passages_are_sent_and_their_numbers_pass(llm_client, stub):
    stub.reply = "DeltaStream listens on port 8001 by default."
    body = ask(llm_client, "Which port does the server listen on by default?")
    context = json.loads(stub.requests[0]["body"]["messages"][0]["content"]
                         .split("Context (JSON):\n", 1)[1])
    assert [p["source"] for p in context["passages"]] == [s["source"] for s in body["sources"]]
    assert any("8001" in p["text"] for p in context["passages"])
    assert body["llm"]["flagged_figures"] == []


def test_a_slow_endpoint_falls_back_to_the_offline_answer(llm_client, stub, client):
    stub.delay = 2.0
    started = time.monotonic()
    body = ask(llm_client, "IDX pcr")
    assert time.monotonic() - started < 1.8
    assert body["answer"] == ask(client, "IDX pcr")["answer"]
    assert body["llm"] == {"model": "tiny", "used": False,
                           "fallback": "no answer within 0.5 s"}


def test_a_failing_endpoint_falls_back(llm_client, stub, client):
    stub.status = 500
    body = ask(llm_client, "IDX pcr")
    assert body["answer"] == ask(client, "IDX pcr")["answer"]
    assert body["llm"]["used"] is False and "request failed" in body["llm"]["fallback"]


def test_check_figures_reads_precision_and_percent():
    facts = {"atm_iv": 0.2169, "max_pain_strike": 24450.0}
    assert check_figures("IV 21.7% and max pain 24,450", facts, "") == []
    assert check_figures("IV 21.9% and max pain 24,500", facts, "") == ["21.9", "24,500"]
    assert check_figures("the 25-delta put on 2026-11-27, port 8001", facts, "8001") == []


def test_a_long_section_is_quoted_from_the_paragraph_sharing_most_words():
    filler = "word " * 150
    text = "\n\n".join(["## Setup", f"Install first. {filler}", f"Connect a model. {filler}",
                        "The model's URL is a setting."])
    assert quoted_passage("## Setup\n\nShort.", "model") == "## Setup\n\nShort."
    quoted = quoted_passage(text, "How do I connect a model?")
    assert quoted.startswith("## Setup\n\n…\n\nConnect a model. word")
    assert len(quoted) <= PASSAGE_CHARS + 2 and quoted.endswith("word …")
    # A tie (no shared word) keeps the section's beginning.
    assert quoted_passage(text, "nginx").startswith("## Setup\n\nInstall first.")
