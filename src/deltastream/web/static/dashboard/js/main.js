// The dashboard: selectors, live ticker and status, chain table, metric cards and charts.
// Every number shown comes from the API or the stream; this file only moves and formats them.
//
// Sources: the live source (the one the stream carries) or a stored one (imported files).
// With a stored source every request names it (`source=`), the stream is closed, a badge says
// which stored time is on screen, and a picker bounded by the product's stored range chooses
// the time (`at=` on every read of one snapshot: the chain, the expiries, max pain, the
// surface, the OI build-up and the PCR; `to=` on the histories; none: the newest snapshot).
// The address keeps `source` and `at`, so a link reopens the same view.
//
// Market status: beside the live status, whether the product's exchange is in session and
// until when, in the exchange's time zone (the chain response's `timezone`), from the chain
// response and then from every tick; hidden for a stored source (no session).
//
// Paper trading (trading.js): the order ticket opens from the chain's quotes, and the
// account's figures are read again after each tick of the product on screen.
//
// Strategy (strategy.js): with its tab open the chain's quotes add legs instead; exposure
// charts (exposure.js): GEX and the term structure/skew, read with the other analytics.

import { api } from "./api.js";
import { ChainTable } from "./chain_table.js";
import { Charts } from "./charts.js";
import { Exposure } from "./exposure.js";
import * as fmt from "./format.js";
import { Stream } from "./stream.js";
import { Strategy } from "./strategy.js";
import { Trading } from "./trading.js";

const $ = (id) => document.getElementById(id);

const ANALYTICS_EVERY_MS = 4000;
const IV_HISTORY_EVERY_MS = 15000;
const CHAIN_MIN_GAP_MS = 700;
const STALE_AFTER_MIN_MS = 5000;
// While the exchange is closed the engine only re-announces its standing quotes, every half
// of the server's stall_after (default 10 s): a gap of that length is not staleness.
const CLOSED_STALE_AFTER_MIN_MS = 15000;
const SPOT_HISTORY = 1000;
const HISTORY_REDRAW_MS = 1000;
const SOURCES_EVERY_MS = 15000;

const state = {
  sources: [],        // /api/data/sources: the live source first
  liveSource: null,   // the live source's name
  source: null,       // the stored source on screen; null: the live source
  at: null,           // stored source: the time viewed (ISO UTC); null: its newest snapshot
  range: null,        // stored source: the product's stored range {from, to}
  product: null,
  expiry: null,
  expiries: [],
  strikes: 21,
  chain: null,
  currency: null,
  market: null,       // {status, until}: the live product's session state (null: none known)
  timezone: null,     // the product's exchange's IANA zone (chain response)
  maxPain: null,
  surface: null,
  ticks: [],          // underlying ticks, oldest first (REST backfill, then the stream)
  pcrPoints: [],
  lastTickAt: 0,      // performance.now() of the last underlying update of the product
  tickGapMs: 1000,    // smoothed gap between updates, for the stale threshold
  generation: 0,      // bumped on every selection change; late answers of old ones are dropped
  chainInFlight: false,
  chainQueued: false,
  switchingSource: false,  // a source chosen, its product list not read yet
  loadingExpiries: false,  // a product chosen, its expiries not read yet
  chainFetchedAt: 0,
  streamChainFresh: false,
  historyDrawnAt: 0,  // the stream's chain of the last tick was the one on screen
};

const table = new ChainTable($("chain"));
const charts = new Charts(document);
const errors = new Map();
const trading = new Trading(() => ({ product: state.product, expiry: state.expiry,
                                     currency: state.currency, chain: state.chain,
                                     source: state.source, timezone: state.timezone }));
const strategy = new Strategy(() => ({ product: state.product, expiry: state.expiry,
                                       expiries: state.expiries, chain: state.chain,
                                       source: state.source, scope: scope() }), trading);
const exposure = new Exposure(charts, () => ({ product: state.product, expiry: state.expiry,
                                               scope: scope(), generation: state.generation }),
                              (where, error) => report(where, error));

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
  if (state.source) return;   // a stored source: the badge stands in for the status
  if (!stream.connected) {
    setStatus(stream.everConnected ? "reconnecting" : "connecting");
    return;
  }
  const floor = state.market?.status === "closed" ? CLOSED_STALE_AFTER_MIN_MS
    : STALE_AFTER_MIN_MS;
  const staleAfter = Math.max(floor, 5 * state.tickGapMs);
  setStatus(state.lastTickAt && performance.now() - state.lastTickAt <= staleAfter
    ? "live" : "stale");
}

// The market-status badge of the live product; hidden for a stored source or no status.
function showMarket() {
  const el = $("market");
  const market = state.source ? null : state.market;
  const text = market ? fmt.marketStatus(market.status, market.until, state.timezone) : "";
  el.hidden = !text;
  el.dataset.status = text ? market.status : "";
  setText("market-text", text);
  el.title = text && market.until
    ? `whether the product's exchange is in session (changes at ${fmt.dateTime(market.until)})`
    : "whether the product's exchange is in session";
}

function setMarket(status, until) {
  state.market = status ? { status, until: until ?? null } : null;
  showMarket();
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
    // Stored data may span days: its times carry their dates.
    const since = state.source ? fmt.dateTime(first.timestamp) : fmt.time(first.timestamp);
    $("spot-change").title = `since ${since}`;
    setText("card-spot-note", `${text} since ${since}`);
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
  // An imported chain's forward comes from a put-call parity fit: its misfit says how
  // consistent the quotes were (relative to the forward).
  const parity = typeof chain.forward_residual === "number"
    ? ` · forward ${fmt.num(chain.forward, 2)}`
      + ` (parity residual ${fmt.pct(chain.forward_residual, 4)})`
    : "";
  setText("chain-caption", `${chain.product} · ${chain.expiry} · ${chain.strikes.length} strikes`
    + ` · lot ${fmt.int(chain.lot_size)} · ${chain.currency} · ${chain.model}${parity}`);
  $("legend-quality").hidden = table.marked === 0;
  if (state.source) showStoredTime(chain.timestamp);
  setText("smile-caption", chain.expiry);
  showCards();
  charts.openInterest(chain);
  charts.openInterestChange(chain);
  charts.smile(chain);
  trading.chainShown(chain);
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
  // Between a source's choice and its product list the product on screen may not exist in
  // that source: a chain asked for then would be a 404.
  if (state.switchingSource || state.loadingExpiries) return;
  if (state.chainInFlight) {
    state.chainQueued = true;
    return;
  }
  const gen = state.generation;
  state.chainInFlight = true;
  try {
    const body = await api.chain(state.product, state.expiry, state.strikes, scope());
    if (gen === state.generation) {
      state.chainFetchedAt = performance.now();
      if (body.timezone) state.timezone = body.timezone;
      // A stored source's chain has no session state (null): the badge hides.
      setMarket(body.market_status, body.market_status_until);
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
    const body = await api.underlying(state.product, SPOT_HISTORY, scope());
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
  // At a past stored time each of these is of the snapshot at or before it (scope's `to`).
  const sc = scope();
  const results = await Promise.allSettled([
    api.maxPain(product, expiry, sc),
    api.surface(product, strikes, sc),
    api.buildup(product, expiry, strikes, sc),
    api.pcrHistory(product, expiry, sc),
    api.ohlc(product, window, sc),
  ]);
  if (gen !== state.generation) return;
  const [mp, surface, buildup, pcr, ohlc] = results;
  if (mp.status === "fulfilled") {
    state.maxPain = mp.value;
    charts.maxPain(mp.value);
    $("chart-max-pain").dataset.maxPainStrike = String(mp.value.max_pain_strike);
    showAsOf("max-pain-caption", mp.value.timestamp);
  }
  if (surface.status === "fulfilled") {
    state.surface = surface.value;
    charts.surface(surface.value, $("surface-side").value);
    showAsOf("surface-caption", surface.value.timestamp);
  }
  if (buildup.status === "fulfilled") {
    charts.buildup(buildup.value);
    $("chart-oi-change").dataset.buildupTimestamp = buildup.value.timestamp;
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

// A stored source's charts of one snapshot name its time (the live ones are of the latest).
function showAsOf(caption, timestamp) {
  setText(caption, state.source ? `as of ${fmt.dateTime(timestamp)}` : "");
}

// ATM IV history with IV rank and percentile, as the API states them (with its reason when
// there is not enough history yet).
async function refreshIVHistory() {
  const gen = state.generation;
  const empty = $("iv-history-empty");
  try {
    const body = await api.ivHistory(state.product, scope());
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
      charts.show("iv-history", true);
      charts.ivHistory(body.series);
    } else {
      charts.show("iv-history", false);
      empty.hidden = false;
      empty.textContent = "No IV history stored yet.";
    }
    report("iv-history", null);
  } catch (e) {
    if (gen !== state.generation) return;
    charts.show("iv-history", false);
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

// What a request names: the stored source and the time viewed (nothing for the live source).
function scope() {
  return state.source ? { source: state.source, to: state.at ?? undefined } : {};
}

function forgetData() {
  state.generation += 1;
  state.chain = null;
  state.ticks = [];
  state.pcrPoints = [];
  state.maxPain = null;
  state.surface = null;
  charts.buildup(null);
  state.lastTickAt = 0;
  state.timezone = null;
  setMarket(null);
  setText("spot", "—");
  setText("spot-change", "—");
}

async function selectProduct(product, preferredExpiry = null) {
  forgetData();
  state.product = product;
  state.currency = null;     // known again from the product's first chain
  stream.follow(product);
  strategy.productShown(product);
  if (state.source) {
    state.range = rangeOf(state.source, product);
    state.at = clampTime(state.at);
    showPicker();
  }
  if (await loadExpiries(preferredExpiry)) await loadAll();
}

// The expiries to choose from: the live or newest stored snapshot's, or at a past stored
// time the ones of the snapshot at that time. False when they could not be read.
async function loadExpiries(preferred) {
  const gen = state.generation;
  let listed;
  // Until the product's expiries are read, the expiry on screen may be another product's.
  state.loadingExpiries = true;
  try {
    listed = (await api.expiries(state.product, scope())).expiries;
    report("expiries", null);
  } catch (e) {
    report("expiries", e);
    return false;
  } finally {
    state.loadingExpiries = false;
  }
  if (gen !== state.generation) return false;
  state.expiries = listed;
  state.expiry = listed.includes(preferred) ? preferred : listed[0];
  fillSelect($("expiry"), listed, state.expiry);
  return true;
}

// ---- sources ------------------------------------------------------------------------------

function rangeOf(source, product) {
  const entry = state.sources.find((s) => s.name === source);
  const item = entry?.products.find((p) => p.product === product);
  return item && item.from && item.to ? { from: item.from, to: item.to } : null;
}

// A time within the stored range, or null for the newest snapshot (also for any time at or
// after it, and for a time that is not one).
function clampTime(iso) {
  if (!iso || !state.range) return null;
  const t = Date.parse(iso);
  const from = Date.parse(state.range.from);
  const to = Date.parse(state.range.to);
  if (!Number.isFinite(t) || t >= to) return null;
  return new Date(Math.max(t, from)).toISOString();
}

// The picker shows times in UTC to the second (datetime-local has no zone: it is labelled).
const pickerValue = (iso) => (iso ? new Date(iso).toISOString().slice(0, 19) : "");

function showPicker() {
  const input = $("at");
  const range = state.range;
  input.min = range ? pickerValue(range.from) : "";
  input.max = range ? pickerValue(range.to) : "";
  input.value = range ? pickerValue(state.at ?? range.to) : "";
  input.disabled = !range;
  $("at-newest").disabled = !state.at;
}

function showStoredTime(timestamp) {
  setText("stored-text", `stored data as of ${fmt.dateTime(timestamp)}`);
  $("stored").dataset.timestamp = timestamp;
}

// The controls of the source on screen: the live status or the stored badge and picker.
function showMode() {
  const stored = Boolean(state.source);
  $("status").hidden = stored;
  $("stored").hidden = !stored;
  $("at-control").hidden = !stored;
  showMarket();
  if (stored) {
    setText("stored-text", "stored data");
    delete $("stored").dataset.timestamp;
  }
  $("source").value = state.source ?? state.liveSource ?? "";
  let foot = "simulated market";
  if (stored) foot = `stored source ${state.source}`;
  else if (state.liveSource && state.liveSource !== "simulator") {
    foot = `live source ${state.liveSource}`;
  }
  setText("foot-source", foot);
}

function fillSources() {
  const names = state.sources.map((s) => s.name);
  const select = $("source");
  // Made anew only when the list changed (an open list would close under the user).
  const label = (n) => (n === state.liveSource ? `${n} (live)` : n);
  if ([...select.options].map((o) => o.textContent).join("\n") !== names.map(label).join("\n")) {
    fillSelect(select, names, state.source ?? state.liveSource, label);
  }
  // One source only (the live one): nothing to choose.
  $("source-control").hidden = names.length < 2;
}

async function refreshSources() {
  try {
    state.sources = (await api.sources()).sources;
    report("sources", null);
  } catch (e) {
    report("sources", e);
    return;
  }
  const live = state.sources.find((s) => s.live);
  if (live) state.liveSource = live.name;
  fillSources();
  if (!state.source || !state.product) return;
  // A new import may have widened the range; the newest view follows it.
  const range = rangeOf(state.source, state.product);
  if (range && (range.from !== state.range?.from || range.to !== state.range?.to)) {
    state.range = range;
    showPicker();
    if (!state.at) {
      state.generation += 1;
      if (await loadExpiries(state.expiry)) await loadAll();
    }
  }
}

// `name`: a stored source, or the live source (also null). `preferred`: the product, expiry
// and stored time to show when the source has them (a link's).
async function selectSource(name, preferred = {}) {
  const stored = name && name !== state.liveSource ? name : null;
  state.generation += 1;
  state.at = stored ? preferred.at ?? null : null;
  state.source = stored;
  showMode();
  // The stream carries the live source only: no connection while a stored one is shown.
  if (stored) stream.close();
  else stream.open();
  let products;
  state.switchingSource = true;
  try {
    products = (await api.products(scope())).products;
    report("products", null);
  } catch (e) {
    report("products", e);
    return;
  } finally {
    state.switchingSource = false;
  }
  const wanted = preferred.product ?? state.product;
  const first = products.includes(wanted) ? wanted : products[0];
  fillSelect($("product"), products, first);
  await selectProduct(first, preferred.expiry ?? state.expiry);
}

async function selectTime(value) {
  // The picker's second, all of it: the newest snapshot at or before its end.
  const picked = value ? Date.parse(`${value}Z`) : NaN;
  state.at = Number.isFinite(picked) ? clampTime(new Date(picked + 999).toISOString()) : null;
  forgetData();
  showPicker();
  if (await loadExpiries(state.expiry)) await loadAll();
}

async function selectExpiry(expiry) {
  state.generation += 1;
  state.expiry = expiry;
  state.maxPain = null;
  charts.buildup(null);
  state.pcrPoints = [];
  await loadAll();
}

// The address names the selection, so a reload or a shared link opens the same view.
function rememberSelection() {
  const params = new URLSearchParams(location.search);
  if (state.source) params.set("source", state.source);
  else params.delete("source");
  if (state.source && state.at) params.set("at", state.at);
  else params.delete("at");
  params.set("product", state.product);
  if (state.expiry) params.set("expiry", state.expiry);
  params.set("strikes", String(state.strikes));
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

async function loadAll() {
  rememberSelection();
  await Promise.all([refreshChain(), refreshSpotHistory(), refreshAnalytics(),
                     refreshIVHistory(), exposure.refresh()]);
}

// ---- stream handlers ----------------------------------------------------------------------

const stream = new Stream({
  connect() {
    updateStatus();
    // Whatever happened while disconnected: fill the gap from the API.
    if (state.product && !state.source) loadAll();
  },
  disconnect: updateStatus,
  underlying(m) {
    if (state.source || m.product !== state.product) return;
    const now = performance.now();
    if (state.lastTickAt) state.tickGapMs = 0.8 * state.tickGapMs + 0.2 * (now - state.lastTickAt);
    state.lastTickAt = now;
    addTick({ price: m.price, timestamp: m.timestamp });
    showSpot();
    if ("market_status" in m) setMarket(m.market_status, m.market_status_until);
    if (now - state.historyDrawnAt >= HISTORY_REDRAW_MS) {
      state.historyDrawnAt = now;
      charts.history(state.ticks, state.pcrPoints);
    }
    updateStatus();
    // The table follows the stream's chain when it is the one on screen; otherwise each tick
    // asks the API for the selected expiry (at most one request in flight).
    if (!(state.expiry === state.expiries[0] && state.streamChainFresh)) scheduleChain();
    state.streamChainFresh = false;
    trading.tick();
  },
  summary(m) {
    if (state.source || m.product !== state.product || !state.chain
        || m.expiry !== state.chain.expiry) return;
    state.chain = { ...state.chain, pcr_oi: m.pcr_oi, pcr_volume: m.pcr_volume,
                    atm_straddle_price: m.atm_straddle_price,
                    max_pain_strike: m.max_pain_strike, spot_price: m.spot_price };
    showCards();
  },
  chain(m) {
    if (state.source || m.product !== state.product || m.expiry !== state.expiry) return;
    const view = windowOf(m, state.strikes);
    if (!view) return;
    state.streamChainFresh = true;
    showChain(view);
  },
  account() {
    trading.changed();
  },
});
// The stream joins the signed-in user's account room, and follows the session's tokens.
stream.account(trading.token());
strategy.sessionChanged(trading.token());
trading.onSession = (token) => {
  stream.account(token);
  strategy.sessionChanged(token);
};

// ---- start --------------------------------------------------------------------------------

function start() {
  $("source").addEventListener("change", (e) => {
    report("source", null);
    selectSource(e.target.value);
  });
  $("at").addEventListener("change", (e) => selectTime(e.target.value));
  $("at-newest").addEventListener("click", () => selectTime(""));
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
  openView();
}

// The first view: the address's selection, as far as the server has it.
async function openView() {
  const params = new URLSearchParams(location.search);
  const strikes = params.get("strikes");
  if ([...$("strikes").options].some((o) => o.value === strikes)) {
    $("strikes").value = strikes;
    state.strikes = Number(strikes);
  }
  // Without the listing (no store, or one failing) the live source is all there is.
  await refreshSources();
  const wanted = params.get("source");
  const known = !wanted || state.sources.some((s) => s.name === wanted);
  // Said before the live source opens, so the message is there as soon as the stream is.
  if (!known) {
    report("source", new Error(`source '${wanted}' is not on this server: the live source is`
                               + " shown"));
  }
  await selectSource(known ? wanted : null, { product: params.get("product"),
                                              expiry: params.get("expiry"),
                                              at: params.get("at") });
  if (!state.product) {
    setTimeout(openView, 2000);
    return;
  }
  setInterval(updateStatus, 1000);
  setInterval(() => {
    if (!document.hidden && !state.source) {
      refreshAnalytics();
      exposure.refresh();
    }
  }, ANALYTICS_EVERY_MS);
  setInterval(() => {
    if (!document.hidden && !state.source) refreshIVHistory();
  }, IV_HISTORY_EVERY_MS);
  setInterval(() => { if (!document.hidden) refreshSources(); }, SOURCES_EVERY_MS);
}

start();
