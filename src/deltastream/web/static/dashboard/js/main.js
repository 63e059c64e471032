// The dashboard: selectors, live ticker and status, chain table, metric cards and charts.
// Every number shown comes from the API or the stream; this file only moves and formats them.

import { api } from "./api.js";
import { ChainTable } from "./chain_table.js";
import { Charts } from "./charts.js";
import * as fmt from "./format.js";
import { Stream } from "./stream.js";

const $ = (id) => document.getElementById(id);

const ANALYTICS_EVERY_MS = 4000;
const IV_HISTORY_EVERY_MS = 15000;
const CHAIN_MIN_GAP_MS = 700;
const STALE_AFTER_MIN_MS = 5000;
const SPOT_HISTORY = 1000;
const HISTORY_REDRAW_MS = 1000;

const state = {
  product: null,
  expiry: null,
  expiries: [],
  strikes: 21,
  chain: null,
  currency: null,
  maxPain: null,
  surface: null,
  ticks: [],          // underlying ticks, oldest first (REST backfill, then the stream)
  pcrPoints: [],
  lastTickAt: 0,      // performance.now() of the last underlying update of the product
  tickGapMs: 1000,    // smoothed gap between updates, for the stale threshold
  generation: 0,      // bumped on every selection change; late answers of old ones are dropped
  chainInFlight: false,
  chainQueued: false,
  chainFetchedAt: 0,
  streamChainFresh: false,
  historyDrawnAt: 0,  // the stream's chain of the last tick was the one on screen
};

const table = new ChainTable($("chain"));
const charts = new Charts(document);
const errors = new Map();

function report(where, error) {
  if (error) errors.set(where, error.message || String(error));
  else errors.delete(where);
  $("errors").textContent = [...errors.values()].join(" · ");
}

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

function setSign(id, value) {
  const el = $(id);
  el.classList.remove("up", "down");
  const cls = fmt.signClass(value);
  if (cls) el.classList.add(cls);
}

// ---- status -----------------------------------------------------------------------------

function setStatus(status) {
  const el = $("status");
  if (el.dataset.state !== status) {
    el.dataset.state = status;
    $("status-text").textContent = status;
  }
}

function updateStatus() {
  if (!stream.connected) {
    setStatus(stream.everConnected ? "reconnecting" : "connecting");
    return;
  }
  const staleAfter = Math.max(STALE_AFTER_MIN_MS, 5 * state.tickGapMs);
  setStatus(state.lastTickAt && performance.now() - state.lastTickAt <= staleAfter
    ? "live" : "stale");
}

// ---- spot ticker --------------------------------------------------------------------------

function showSpot() {
  const last = state.ticks.at(-1);
  const first = state.ticks[0];
  setText("ticker-product", state.product ?? "—");
  if (!last) return;
  setText("spot", fmt.num(last.price, 2));
  // The last tick's direction colours the price.
  const prev = state.ticks.at(-2);
  setSign("spot", prev ? last.price - prev.price : 0);
  setText("card-spot", fmt.money(last.price, state.currency));
  if (first && state.ticks.length > 1) {
    const change = last.price - first.price;
    const text = `${fmt.signed(change, 2)} (${fmt.signedPercent(change / first.price * 100, 3)})`;
    setText("spot-change", text);
    setSign("spot-change", change);
    $("spot-change").title = `since ${fmt.time(first.timestamp)}`;
    setText("card-spot-note", `${text} since ${fmt.time(first.timestamp)}`);
    setSign("card-spot-note", change);
  }
  $("spot").dataset.timestamp = last.timestamp;
}

function addTick(tick) {
  const prev = state.ticks.at(-1);
  if (prev && prev.timestamp >= tick.timestamp) return;
  state.ticks.push(tick);
  if (state.ticks.length > SPOT_HISTORY) state.ticks.splice(0, state.ticks.length - SPOT_HISTORY);
}

// ---- chain, cards and the charts drawn from the chain --------------------------------------

function showChain(chain) {
  state.chain = chain;
  if (chain.currency && chain.currency !== state.currency) {
    state.currency = chain.currency;
    fmt.setCurrency(chain.currency);
    showSpot();
  }
  const fresh = table.rows.length !== chain.strikes.length;
  table.render(chain);
  // On a narrow screen the table scrolls sideways: bring the strike column to the middle
  // whenever the rows are made anew.
  if (fresh) centreStrikeColumn();
  setText("chain-caption", `${chain.product} · ${chain.expiry} · ${chain.strikes.length} strikes`
    + ` · lot ${fmt.int(chain.lot_size)} · ${chain.currency} · ${chain.model}`);
  setText("smile-caption", chain.expiry);
  showCards();
  charts.openInterest(chain);
  charts.openInterestChange(chain);
  charts.smile(chain);
}

function centreStrikeColumn() {
  const scroller = $("chain").parentElement;
  const cell = $("chain").tHead.querySelector("th.strike");
  if (!cell || scroller.scrollWidth <= scroller.clientWidth) return;
  scroller.scrollLeft = cell.offsetLeft - (scroller.clientWidth - cell.offsetWidth) / 2;
}

function showCards() {
  const c = state.chain;
  if (!c) return;
  if (!state.ticks.length) setText("card-spot", fmt.money(c.spot_price, c.currency));
  setText("card-pcr-oi", fmt.num(c.pcr_oi, 2));
  setText("card-pcr-volume", fmt.num(c.pcr_volume, 2));
  setText("card-max-pain", c.max_pain_strike === null ? "—" : fmt.strikeText(c.max_pain_strike));
  const mp = state.maxPain;
  if (mp && mp.expiry === c.expiry && mp.max_pain_strike === c.max_pain_strike) {
    setText("card-max-pain-note", `${fmt.signedPercent(mp.distance_from_spot, 3)} from spot`);
  }
  // The ATM straddle's price is the market's expected move to expiry (about one standard
  // deviation); shown as points and as a share of spot.
  setText("card-straddle", fmt.money(c.atm_straddle_price, c.currency));
  setText("card-straddle-note", `expected move ±${fmt.num(c.atm_straddle_price, 2)}`
    + ` (±${fmt.num(c.atm_straddle_price / c.spot_price * 100, 2)}%)`);
  $("card-straddle").title = `ATM strike ${fmt.strikeText(c.atm_strike)}: call + put mid`;
  const row = state.surface?.expiries.find((e) => e.expiry === c.expiry);
  setText("card-dte", row ? `${row.days_to_expiry} d` : `${fmt.num(c.time_to_expiry * 365, 1)} d`);
  setText("card-dte-note", `T = ${fmt.num(c.time_to_expiry * 365, 2)} d (ACT/365)`);
}

async function refreshChain() {
  if (state.chainInFlight) {
    state.chainQueued = true;
    return;
  }
  const gen = state.generation;
  state.chainInFlight = true;
  try {
    const body = await api.chain(state.product, state.expiry, state.strikes);
    if (gen === state.generation) {
      state.chainFetchedAt = performance.now();
      showChain(body.chains[0]);
    }
    report("chain", null);
  } catch (e) {
    report("chain", e);
  } finally {
    state.chainInFlight = false;
    if (state.chainQueued) {
      state.chainQueued = false;
      scheduleChain();
    }
  }
}

let chainTimer = null;
function scheduleChain() {
  if (chainTimer) return;
  const wait = Math.max(0, CHAIN_MIN_GAP_MS - (performance.now() - state.chainFetchedAt));
  chainTimer = setTimeout(() => {
    chainTimer = null;
    refreshChain();
  }, wait);
}

// The stream's chain is of the nearest expiry; take the table's window from it the way the
// API does (the requested number of strikes centred on the ATM strike), or ask the API when
// the stream's chain is not the one on screen.
function windowOf(chain, count) {
  const n = chain.strikes.length;
  if (n < count) return null;
  const atm = chain.strikes.indexOf(chain.atm_strike);
  if (atm < 0) return null;
  const lo = Math.max(0, Math.min(atm - Math.floor(count / 2), n - count));
  const hi = lo + count;
  return { ...chain, strikes: chain.strikes.slice(lo, hi), calls: chain.calls.slice(lo, hi),
           puts: chain.puts.slice(lo, hi) };
}

// ---- analytics ----------------------------------------------------------------------------

async function refreshSpotHistory() {
  const gen = state.generation;
  try {
    const body = await api.underlying(state.product, SPOT_HISTORY);
    if (gen !== state.generation) return;
    const live = state.ticks.filter((t) => t.timestamp > (body.ticks.at(-1)?.timestamp ?? ""));
    state.ticks = [...body.ticks.map((t) => ({ price: t.price, timestamp: t.timestamp })), ...live];
    showSpot();
    charts.history(state.ticks, state.pcrPoints);
    report("underlying", null);
  } catch (e) {
    report("underlying", e);
  }
}

async function refreshAnalytics() {
  const gen = state.generation;
  const { product, expiry, strikes } = state;
  const window = Number($("ohlc-window").value);
  const results = await Promise.allSettled([
    api.maxPain(product, expiry),
    api.surface(product, strikes),
    api.pcrHistory(product, expiry),
    api.ohlc(product, window),
  ]);
  if (gen !== state.generation) return;
  const [mp, surface, pcr, ohlc] = results;
  if (mp.status === "fulfilled") {
    state.maxPain = mp.value;
    charts.maxPain(mp.value);
    $("chart-max-pain").dataset.maxPainStrike = String(mp.value.max_pain_strike);
  }
  if (surface.status === "fulfilled") {
    state.surface = surface.value;
    charts.surface(surface.value, $("surface-side").value);
  }
  if (pcr.status === "fulfilled") {
    state.pcrPoints = pcr.value.history ?? [pcr.value.latest];
    charts.history(state.ticks, state.pcrPoints);
  }
  if (ohlc.status === "fulfilled" && ohlc.value.window === Number($("ohlc-window").value)) {
    charts.ohlc(ohlc.value);
  }
  const failed = results.find((r) => r.status === "rejected");
  report("analytics", failed ? failed.reason : null);
  showCards();
}

// ATM IV history with IV rank and percentile, as the API states them (with its reason when
// there is not enough history yet).
async function refreshIVHistory() {
  const gen = state.generation;
  const empty = $("iv-history-empty");
  try {
    const body = await api.ivHistory(state.product);
    if (gen !== state.generation) return;
    const current = body.current ? `ATM IV ${fmt.pct(body.current.atm_iv, 2)} · ` : "";
    const rank = body.iv_rank;
    const pctile = body.iv_percentile;
    const why = rank.value === null && pctile.value === null && rank.reason === pctile.reason
      ? ` (${rank.reason})` : "";
    setText("iv-stats", why
      ? `${current}IV rank — · IV percentile —${why}`
      : `${current}IV rank ${statText(rank)} · IV percentile ${statText(pctile)}`);
    $("iv-stats").title = body.lookback
      ? `lookback ${fmt.num(body.lookback.days, 0)} d, ${fmt.int(body.lookback.observations)}`
        + " observations" : "";
    if (body.series.length) {
      empty.hidden = true;
      charts.ivHistory(body.series);
    } else {
      charts.clear("iv-history");
      empty.hidden = false;
      empty.textContent = "No IV history stored yet.";
    }
    report("iv-history", null);
  } catch (e) {
    if (gen !== state.generation) return;
    charts.clear("iv-history");
    setText("iv-stats", "");
    empty.hidden = false;
    empty.textContent = `No IV history: ${e.message}`;
  }
}

function statText(stat) {
  if (stat && typeof stat.value === "number") return `${fmt.num(stat.value, 1)}%`;
  return stat && stat.reason ? `— (${stat.reason})` : "—";
}

// ---- selection ----------------------------------------------------------------------------

function fillSelect(select, values, selected, label = (v) => v) {
  select.replaceChildren(...values.map((v) => {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = label(v);
    o.selected = v === selected;
    return o;
  }));
}

async function selectProduct(product, preferredExpiry = null) {
  state.generation += 1;
  state.product = product;
  state.currency = null;     // known again from the product's first chain
  state.chain = null;
  state.ticks = [];
  state.pcrPoints = [];
  state.maxPain = null;
  state.surface = null;
  state.lastTickAt = 0;
  stream.follow(product);
  setText("spot", "—");
  setText("spot-change", "—");
  try {
    const body = await api.expiries(product);
    state.expiries = body.expiries;
    report("expiries", null);
  } catch (e) {
    report("expiries", e);
    return;
  }
  state.expiry = state.expiries.includes(preferredExpiry) ? preferredExpiry : state.expiries[0];
  fillSelect($("expiry"), state.expiries, state.expiry);
  await loadAll();
}

async function selectExpiry(expiry) {
  state.generation += 1;
  state.expiry = expiry;
  state.maxPain = null;
  state.pcrPoints = [];
  await loadAll();
}

// The address names the selection, so a reload or a shared link opens the same view.
function rememberSelection() {
  const params = new URLSearchParams(location.search);
  params.set("product", state.product);
  if (state.expiry) params.set("expiry", state.expiry);
  params.set("strikes", String(state.strikes));
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

async function loadAll() {
  rememberSelection();
  await Promise.all([refreshChain(), refreshSpotHistory(), refreshAnalytics(),
                     refreshIVHistory()]);
}

// ---- stream handlers ----------------------------------------------------------------------

const stream = new Stream({
  connect() {
    updateStatus();
    // Whatever happened while disconnected: fill the gap from the API.
    if (state.product) loadAll();
  },
  disconnect: updateStatus,
  underlying(m) {
    if (m.product !== state.product) return;
    const now = performance.now();
    if (state.lastTickAt) state.tickGapMs = 0.8 * state.tickGapMs + 0.2 * (now - state.lastTickAt);
    state.lastTickAt = now;
    addTick({ price: m.price, timestamp: m.timestamp });
    showSpot();
    if (now - state.historyDrawnAt >= HISTORY_REDRAW_MS) {
      state.historyDrawnAt = now;
      charts.history(state.ticks, state.pcrPoints);
    }
    updateStatus();
    // The table follows the stream's chain when it is the one on screen; otherwise each tick
    // asks the API for the selected expiry (at most one request in flight).
    if (!(state.expiry === state.expiries[0] && state.streamChainFresh)) scheduleChain();
    state.streamChainFresh = false;
  },
  summary(m) {
    if (m.product !== state.product || !state.chain || m.expiry !== state.chain.expiry) return;
    state.chain = { ...state.chain, pcr_oi: m.pcr_oi, pcr_volume: m.pcr_volume,
                    atm_straddle_price: m.atm_straddle_price,
                    max_pain_strike: m.max_pain_strike, spot_price: m.spot_price };
    showCards();
  },
  chain(m) {
    if (m.product !== state.product || m.expiry !== state.expiry) return;
    const view = windowOf(m, state.strikes);
    if (!view) return;
    state.streamChainFresh = true;
    showChain(view);
  },
});

// ---- start --------------------------------------------------------------------------------

async function start() {
  $("product").addEventListener("change", (e) => selectProduct(e.target.value));
  $("expiry").addEventListener("change", (e) => selectExpiry(e.target.value));
  $("strikes").addEventListener("change", (e) => {
    state.strikes = Number(e.target.value);
    state.generation += 1;
    loadAll();
  });
  $("surface-side").addEventListener("change", () => {
    if (state.surface) charts.surface(state.surface, $("surface-side").value);
  });
  $("ohlc-window").addEventListener("change", () => refreshAnalytics());

  let products;
  try {
    products = (await api.products()).products;
    report("products", null);
  } catch (e) {
    report("products", e);
    setTimeout(start, 2000);
    return;
  }
  const params = new URLSearchParams(location.search);
  const wanted = params.get("product");
  const first = products.includes(wanted) ? wanted : products[0];
  const strikes = params.get("strikes");
  if ([...$("strikes").options].some((o) => o.value === strikes)) {
    $("strikes").value = strikes;
    state.strikes = Number(strikes);
  }
  fillSelect($("product"), products, first);
  await selectProduct(first, params.get("expiry"));

  setInterval(updateStatus, 1000);
  setInterval(() => { if (!document.hidden) refreshAnalytics(); }, ANALYTICS_EVERY_MS);
  setInterval(() => { if (!document.hidden) refreshIVHistory(); }, IV_HISTORY_EVERY_MS);
}

start();
