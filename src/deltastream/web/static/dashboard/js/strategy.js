// The Strategy tab: a multi-leg position built from the chain (or a template) and what it does,
// as POST /api/strategy/analyze answers: the payoff at expiry and today (and at chosen dates),
// exact breakevens, maximum profit and loss, the probability of profit two ways (lognormal at
// the ATM IV, and under the density implied by the served smile), net Greeks in the contract's
// units and in money, and the margin the position needs.
//
// Every figure is the API's; this file only collects the legs and draws the answer. Prices and
// P&L are in the product's currency for the whole position (lots x lot size); theta per
// calendar day, vega per volatility point; probabilities are fractions shown in percent.
//
// Adding legs: with this tab open, a click on a chain quote adds a leg instead of opening the
// order ticket (ask or LTP: buy, bid: sell) at that quote's price; the same contract and side
// clicked again adds a lot. Legs keep their price: a leg from a template takes the price the
// API valued it at (the live mid). Any change of the legs analyses again; while the tab is
// open on the live source the position is analysed again every few seconds (spot, IVs and the
// P&L today move with the market; the payoff at expiry and the breakevens do not).

/* global echarts */
import { APIError, requestJSON } from "./api.js";
import * as fmt from "./format.js";
import { CALL, DOWN, MARK, PUT, SPLIT, SPOT, TEXT, TOTAL, UP } from "./palette.js";

const $ = (id) => document.getElementById(id);

const QUOTE_FIELDS = new Set(["bid", "ask", "last"]);
const RIGHTS = { call: "CE", put: "PE" };
const REANALYSE_MS = 5000;
const CHANGE_DEBOUNCE_MS = 150;
const MAX_LEGS = 12;
const GRID_POINTS = 500;
// Templates valued across two expiries take the next listed expiry as the back month.
const TWO_EXPIRIES = new Set(["calendar", "diagonal"]);

const EXPIRY = TOTAL;
const TODAY = CALL;
const DATE_COLOURS = ["#a371f7", PUT, TEXT.color];

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function setSigned(el, value, text) {
  setText(el, text);
  el.classList.toggle("up", typeof value === "number" && value > 0);
  el.classList.toggle("down", typeof value === "number" && value < 0);
  el.dataset.value = value === null || value === undefined ? "" : String(value);
}

// One line from an API error: its message and the parameter it names, with what it accepts.
export function strategyErrorText(error) {
  const detail = error instanceof APIError ? error.detail : null;
  let text = error.message || String(error);
  if (detail && typeof detail === "object") {
    if (detail.parameter && !text.includes(detail.parameter)) text += ` (${detail.parameter})`;
    if (detail.accepted) text += ` (accepted: ${detail.accepted})`;
  }
  return text;
}

const legName = (leg) => (leg.type === "underlying" ? `${leg.product ?? ""} underlying`
  : `${leg.expiry} ${fmt.strikeText(leg.strike)} ${RIGHTS[leg.type] ?? leg.type}`);

// A maximum profit or loss: the amount, or "unbounded".
function extremeText(extreme, currency) {
  if (!extreme) return "—";
  if (extreme.unbounded) return "unbounded";
  return fmt.money(extreme.value, currency);
}

// The payoff chart's options: P&L at expiry (shaded green above zero, red below), today and at
// each chosen date, with the spot and the breakevens marked. The shading is two series of its
// own (ECharts' visualMap breaks markLines), left out of the legend and the tooltip.
export function payoffOption(body) {
  const g = body.grid;
  const currency = body.currency;
  const pairs = (pnl) => g.spot.map((s, i) => [s, pnl[i]]);
  const marks = [
    { xAxis: body.spot, label: { formatter: `spot ${fmt.num(body.spot, 2)}`, color: SPOT,
                                 position: "insideStartTop" },
      lineStyle: { color: SPOT, type: "dashed" } },
    // The spot labelled along its line, the breakevens above theirs: close ones stay
    // readable.
    ...body.breakevens.map((b) => ({ xAxis: b, label: { formatter: fmt.num(b, 2), color: MARK },
                                     lineStyle: { color: MARK, type: "dotted" } })),
    { yAxis: 0, label: { show: false }, lineStyle: { color: "#8b949e", type: "solid" } },
  ];
  const dates = (g.dates ?? []).map((d, i) => ({
    name: `On ${d.date}`, type: "line", showSymbol: false,
    itemStyle: { color: DATE_COLOURS[i % DATE_COLOURS.length] }, lineStyle: { type: "dotted" },
    data: pairs(d.pnl),
  }));
  const shade = (id, color, pick) => ({
    id, type: "line", showSymbol: false, silent: true, lineStyle: { width: 0 },
    itemStyle: { color }, areaStyle: { color, opacity: 0.18 },
    data: g.spot.map((s, i) => [s, pick(g.expiry[i], 0)]),
  });
  const tip = (params) => {
    const shown = params.filter((p) => !String(p.seriesId).startsWith("shade-"));
    if (!shown.length) return "";
    return [`underlying ${fmt.num(shown[0].value[0], 2)}`,
            ...shown.map((p) => `${p.marker}${p.seriesName}: ${fmt.money(p.value[1], currency, 0)}`),
    ].join("<br>");
  };
  const names = ["At expiry", "Today", ...dates.map((d) => d.name)];
  // The view opens on the strikes, breakevens and spot with a margin of 3 % of the spot on
  // either side (the API's grid is wider); scrolling or pinching zooms out.
  const focus = [body.spot, ...body.breakevens,
                 ...body.legs.map((l) => l.strike).filter((k) => typeof k === "number")];
  const margin = 0.03 * body.spot;
  const zoom = { type: "inside", xAxisIndex: 0, filterMode: "filter",
                 startValue: Math.max(g.spot[0], Math.min(...focus) - margin),
                 endValue: Math.min(g.spot.at(-1), Math.max(...focus) + margin) };
  return {
    backgroundColor: "transparent",
    animation: false,
    textStyle: { fontFamily: "system-ui, sans-serif" },
    grid: { left: 72, right: 24, top: 44, bottom: 40 },
    legend: { top: 4, data: names, textStyle: { color: "#c9d1d9", fontSize: 11 } },
    tooltip: { trigger: "axis", confine: true, formatter: tip },
    dataZoom: [zoom],
    xAxis: { type: "value", min: g.spot[0], max: g.spot.at(-1), name: "underlying at expiry",
             nameLocation: "middle", nameGap: 26, nameTextStyle: TEXT,
             axisLabel: { ...TEXT, formatter: (v) => fmt.num(v, 0) },
             splitLine: { show: false } },
    yAxis: { type: "value", name: `P&L (${currency})`, nameTextStyle: TEXT,
             axisLabel: { ...TEXT, formatter: fmt.compact }, splitLine: SPLIT },
    series: [
      { name: "At expiry", type: "line", showSymbol: false, itemStyle: { color: EXPIRY },
        data: pairs(g.expiry), markLine: { symbol: "none", silent: true, data: marks } },
      { name: "Today", type: "line", showSymbol: false, itemStyle: { color: TODAY },
        data: pairs(g.today) },
      ...dates,
      shade("shade-profit", UP, Math.max),
      shade("shade-loss", DOWN, Math.min),
    ],
  };
}

export class Strategy {
  // `view()`: what the page shows: {product, expiry, expiries, chain, source, scope,
  // currency}; `trading`: the paper-trading panel (its session analyses the user's positions).
  constructor(view, trading) {
    this.view = view;
    this.trading = trading;
    this.legs = [];           // {id, product, expiry, strike, type, side, lots, price}
    this.nextId = 1;
    this.product = null;      // the legs' product
    this.result = null;       // the last answer shown
    this.fromPositions = false;   // the legs are the user's open positions, analysed as such
    this.request = 0;         // analyses started; only the newest one's answer is shown
    this.analyses = 0;        // answers shown (tests wait for the count to move)
    this.changeTimer = null;
    this.chart = null;
    this.bind();
    setInterval(() => this.reanalyse(), REANALYSE_MS);
    this.showLegs();
  }

  active() {
    return !$("strategy").hidden;
  }

  // ---- tabs -----------------------------------------------------------------------------

  select(tab) {
    const strategy = tab === "strategy";
    $("strategy").hidden = !strategy;
    $("trading").hidden = strategy;
    $("tab-strategy").setAttribute("aria-selected", String(strategy));
    $("tab-trading").setAttribute("aria-selected", String(!strategy));
    $("chain").dataset.clicks = strategy ? "strategy" : "ticket";
    setText($("chain-click-note"), strategy
      ? "Strategy tab: a click on an ask or LTP adds a buy leg, on a bid a sell leg."
      : "");
    if (strategy && this.chart) this.chart.resize();
    if (strategy && this.legs.length) this.analyse();
  }

  // ---- legs -----------------------------------------------------------------------------

  // A chain quote clicked while the tab is open: a leg at that quote (captured before the
  // order ticket's handler, which then never sees the click).
  onChainClick(event) {
    if (!this.active()) return;
    const td = event.target.closest("td[data-field]");
    if (!td || !QUOTE_FIELDS.has(td.dataset.field) || !td.closest("tbody")) return;
    event.stopPropagation();
    const chain = this.view().chain;
    if (!chain) return;
    const strike = Number(td.closest("tr").dataset.strike);
    const i = chain.strikes.indexOf(strike);
    if (i < 0) return;
    const type = td.dataset.side;
    const option = (type === "call" ? chain.calls : chain.puts)[i];
    const price = option[td.dataset.field];
    this.addLeg({ product: chain.product, expiry: chain.expiry, strike, type,
                  side: td.dataset.field === "bid" ? "sell" : "buy", lots: 1,
                  price: typeof price === "number" && price > 0 ? price : null });
  }

  addLeg(leg) {
    if (this.product && leg.product !== this.product) this.legs = [];
    this.product = leg.product;
    const same = this.legs.find((l) => l.expiry === leg.expiry && l.strike === leg.strike
      && l.type === leg.type && l.side === leg.side);
    if (same) {
      same.lots += leg.lots;
    } else if (this.legs.length >= MAX_LEGS) {
      this.error(`At most ${MAX_LEGS} legs`);
      return;
    } else {
      this.legs.push({ ...leg, id: this.nextId++ });
    }
    this.legsChanged();
  }

  removeLeg(id) {
    this.legs = this.legs.filter((l) => l.id !== id);
    this.legsChanged();
  }

  clear() {
    this.legs = [];
    this.product = null;
    this.request += 1;
    this.showResult(null);
    this.legsChanged();
  }

  // The product on screen changed: legs of another product are dropped.
  productShown(product) {
    if (this.product && this.product !== product) this.clear();
  }

  // The user changed the legs: they are the position analysed from now on.
  legsChanged() {
    this.fromPositions = false;
    this.showLegs();
    clearTimeout(this.changeTimer);
    if (!this.legs.length) {
      this.request += 1;
      this.showResult(null);
      return;
    }
    this.changeTimer = setTimeout(() => this.analyse(), CHANGE_DEBOUNCE_MS);
  }

  showLegs() {
    const body = $("legs").tBodies[0];
    body.replaceChildren(...this.legs.map((leg, i) => this.legRow(leg, i)));
    $("legs-empty").hidden = this.legs.length > 0;
    $("strategy-analyze").disabled = !this.legs.length;
    $("strategy-clear").disabled = !this.legs.length;
  }

  legRow(leg, index) {
    const tr = document.createElement("tr");
    Object.assign(tr.dataset, { expiry: leg.expiry ?? "", strike: String(leg.strike ?? ""),
                                type: leg.type, side: leg.side,
                                price: leg.price === null ? "" : String(leg.price) });
    const td = (field, text) => {
      const cell = tr.appendChild(document.createElement("td"));
      cell.dataset.field = field;
      if (text !== undefined) cell.textContent = text;
      return cell;
    };
    const side = td("side", leg.side.toUpperCase());
    side.classList.add(leg.side === "buy" ? "up" : "down");
    td("contract", legName(leg));
    const lots = document.createElement("input");
    Object.assign(lots, { type: "number", min: "1", step: "1", value: String(leg.lots) });
    lots.setAttribute("aria-label", `Lots of leg ${index + 1}`);
    lots.addEventListener("change", () => {
      const n = Number(lots.value);
      if (!Number.isInteger(n) || n < 1) {
        this.error(`Leg ${index + 1} lots: a whole number of lots, 1 or more`);
        lots.value = String(leg.lots);
        return;
      }
      leg.lots = n;
      this.legsChanged();
    });
    td("lots").appendChild(lots);
    const price = document.createElement("input");
    // Shown to the paisa/cent (a mid has more digits); the leg keeps its exact price until
    // the user types one.
    Object.assign(price, { type: "number", min: "0", step: "any",
                           value: leg.price === null ? "" : String(Math.round(leg.price * 100)
                                                                   / 100),
                           placeholder: "mid", title: leg.price === null ? ""
                             : `${leg.price} per unit` });
    price.setAttribute("aria-label", `Price of leg ${index + 1}`);
    price.addEventListener("change", () => {
      const p = price.value === "" ? null : Number(price.value);
      if (p !== null && !(Number.isFinite(p) && p >= 0)) {
        this.error(`Leg ${index + 1} price: a price of 0 or more (empty: the live mid)`);
        price.value = leg.price === null ? "" : String(leg.price);
        return;
      }
      leg.price = p;
      this.legsChanged();
    });
    td("price").appendChild(price);
    const served = this.result?.legs?.[index];
    const same = served && served.strike === leg.strike && served.type === leg.type;
    td("iv", same ? fmt.pct(served.iv, 2) : "—");
    td("delta", same ? fmt.num(served.delta, 3) : "—");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove leg ${index + 1} ${leg.side} ${legName(leg)}`);
    remove.addEventListener("click", () => this.removeLeg(leg.id));
    td("action").appendChild(remove);
    return tr;
  }

  // ---- analysis -------------------------------------------------------------------------

  // The request's common part: the smile dynamics, the grid, the source.
  options() {
    const v = this.view();
    const body = { smile: $("strategy-smile").value, points: GRID_POINTS };
    if (v.scope.source) body.source = v.scope.source;
    const date = $("strategy-date").value;
    if (date) body.dates = [date];
    return body;
  }

  legsBody() {
    return this.legs.map((l) => {
      const leg = { expiry: l.expiry, strike: l.strike, type: l.type, side: l.side,
                    lots: l.lots };
      if (l.price !== null) leg.price = l.price;
      return leg;
    });
  }

  analyse() {
    clearTimeout(this.changeTimer);
    if (this.fromPositions) return this.analysePositions();
    if (!this.legs.length) return Promise.resolve();
    return this.send(() => requestJSON("POST", "/api/strategy/analyze", {
      body: { product: this.product, legs: this.legsBody(), ...this.options() } }));
  }

  // The live market moved: analyse again (the tab open, the live source, legs to value).
  reanalyse() {
    const v = this.view();
    if (document.hidden || !this.active() || v.source || !this.legs.length) return;
    this.analyse();
  }

  useTemplate() {
    const v = this.view();
    const name = $("strategy-template").value;
    if (!name || !v.product || !v.expiry) return Promise.resolve();
    const by = $("strategy-strikes-by").value;
    const template = { name, expiry: v.expiry, strikes_by: by,
                       lots: Number($("strategy-lots").value) };
    const value = Number($("strategy-by-value").value);
    if (by === "delta") template.delta = value;
    else template.distance = value;
    template.width = Number($("strategy-width").value);
    if (TWO_EXPIRIES.has(name)) {
      const back = v.expiries[v.expiries.indexOf(v.expiry) + 1];
      if (!back) {
        this.error(`${name}: needs a later expiry than ${v.expiry}`);
        return Promise.resolve();
      }
      template.back_expiry = back;
    }
    return this.send(() => requestJSON("POST", "/api/strategy/analyze", {
      body: { product: v.product, template, ...this.options() } }), true);
  }

  // The signed-in user's open paper positions in the product on screen, at their average
  // entry prices (a position need not be whole lots: they stay positions until edited).
  async analysePositions() {
    const product = this.view().product;
    if (await this.send(() => this.trading.call("POST", "/api/strategy/analyze",
                                                { product, positions: true,
                                                  ...this.options() }), true)) {
      this.fromPositions = true;
    }
  }

  // One analysis: `ask()` sends it; `adopt`: the answer's legs become the legs (a template,
  // the user's positions), each at the price the API valued it at. True when it was shown.
  async send(ask, adopt = false) {
    const request = ++this.request;
    $("strategy").setAttribute("aria-busy", "true");
    try {
      const answer = await ask();
      if (request !== this.request) return false;
      if (adopt) {
        this.fromPositions = false;
        this.product = answer.product;
        this.legs = answer.legs.map((l) => ({
          id: this.nextId++, product: answer.product, expiry: l.expiry ?? null,
          strike: l.strike ?? null, type: l.type, side: l.side, lots: l.lots,
          price: typeof l.price === "number" ? l.price : null }));
      } else {
        // Legs valued at the live mid keep the price of their first valuation.
        answer.legs.forEach((l, i) => {
          const leg = this.legs[i];
          if (leg && leg.price === null && leg.strike === l.strike && leg.type === l.type
              && typeof l.price === "number") leg.price = l.price;
        });
      }
      this.result = answer;
      this.showLegs();
      this.showResult(answer);
      this.error("");
      return true;
    } catch (e) {
      if (request === this.request) this.error(strategyErrorText(e));
      return false;
    } finally {
      if (request === this.request) $("strategy").removeAttribute("aria-busy");
    }
  }

  error(text) {
    setText($("strategy-error"), text);
  }

  // ---- the answer -----------------------------------------------------------------------

  showResult(r) {
    $("strategy-result").hidden = !r;
    if (!r) {
      this.result = null;
      return;
    }
    this.analyses += 1;
    const c = r.currency;
    const result = $("strategy-result");
    Object.assign(result.dataset, { sequence: String(r.sequence ?? ""), analyses:
      String(this.analyses), spot: String(r.spot) });
    setText($("strategy-caption"), `${r.product} · spot ${fmt.num(r.spot, 2)} · lot`
      + ` ${fmt.int(r.lot_size)} · ${r.smile.replace("_", " ")} · valued at expiry`
      + ` ${r.valuation_expiry} · ${fmt.dateTime(r.timestamp)}`);

    const be = $("st-breakevens");
    setText(be, r.breakevens.length ? r.breakevens.map((b) => fmt.num(b, 2)).join(" · ")
      : "none");
    be.dataset.value = JSON.stringify(r.breakevens);
    const p = r.probability;
    const ln = p.lognormal;
    const sm = p.smile;
    setText($("st-pop-lognormal"), fmt.pct(ln.profit, 2));
    $("st-pop-lognormal").dataset.value = String(ln.profit);
    setText($("st-pop-lognormal-note"), `at ATM IV ${fmt.pct(ln.iv, 2)}`);
    setText($("st-pop-smile"), fmt.pct(sm.profit, 2));
    $("st-pop-smile").dataset.value = String(sm.profit);
    setSigned($("st-ev-lognormal"), ln.expected_pnl, fmt.money(ln.expected_pnl, c));
    setSigned($("st-ev-smile"), sm.expected_pnl, fmt.money(sm.expected_pnl, c));
    const touch = (t) => (t && t.length ? t.map((x) => fmt.pct(x, 1)).join(" · ") : "—");
    setText($("st-touch"), `lognormal ${touch(ln.touch)}; smile ${touch(sm.touch)}`);

    const maxProfit = $("st-max-profit");
    setSigned(maxProfit, r.max_profit.value, extremeText(r.max_profit, c));
    maxProfit.dataset.unbounded = String(r.max_profit.unbounded);
    const maxLoss = $("st-max-loss");
    setSigned(maxLoss, r.max_loss.value, extremeText(r.max_loss, c));
    maxLoss.dataset.unbounded = String(r.max_loss.unbounded);
    setText($("st-margin"), fmt.money(r.margin.required, c));
    $("st-margin").dataset.value = String(r.margin.required);
    setText($("st-rom"), fmt.pct(r.margin.return_on_margin, 2));
    $("st-rom").dataset.value = String(r.margin.return_on_margin);

    const g = r.greeks;
    const m = g.money ?? {};
    const rows = [
      ["delta", "Delta", fmt.num(g.delta, 2), fmt.money(m.per_1pct_move, c), "per 1% move"],
      ["gamma", "Gamma", fmt.num(g.gamma, 4), "—", ""],
      ["theta", "Theta", fmt.num(g.theta, 2), fmt.money(m.per_day, c), "per day"],
      ["vega", "Vega", fmt.num(g.vega, 2), fmt.money(m.per_vol_point, c), "per vol point"],
    ];
    $("strategy-greeks").tBodies[0].replaceChildren(...rows.map(([key, name, units, money,
                                                                   per]) => {
      const tr = document.createElement("tr");
      tr.dataset.greek = key;
      for (const [field, text] of [["name", name], ["units", units], ["money", money],
                                   ["per", per]]) {
        const td = tr.appendChild(document.createElement("td"));
        td.dataset.field = field;
        td.textContent = text;
      }
      return tr;
    }));
    this.drawPayoff(r);
  }

  drawPayoff(r) {
    const el = $("chart-payoff");
    if (!this.chart) this.chart = echarts.init(el, "dark", { renderer: "canvas" });
    this.chart.setOption(payoffOption(r), { notMerge: true, lazyUpdate: true });
    this.chart.resize();
    el.dataset.sequence = String(r.sequence ?? "");
  }

  // ---- wiring ---------------------------------------------------------------------------

  bind() {
    $("tab-trading").addEventListener("click", () => this.select("trading"));
    $("tab-strategy").addEventListener("click", () => this.select("strategy"));
    // Capture on the table: before the order ticket's handler on its body.
    $("chain").addEventListener("click", (e) => this.onChainClick(e), true);
    $("strategy-apply").addEventListener("click", () => this.useTemplate());
    $("strategy-analyze").addEventListener("click", () => this.analyse());
    $("strategy-clear").addEventListener("click", () => this.clear());
    $("strategy-positions").addEventListener("click", () => this.analysePositions());
    for (const id of ["strategy-smile", "strategy-date"]) {
      $(id).addEventListener("change", () => this.analyse());
    }
    $("strategy-strikes-by").addEventListener("change", () => {
      const delta = $("strategy-strikes-by").value === "delta";
      const input = $("strategy-by-value");
      Object.assign(input, delta ? { min: "0.01", max: "0.99", step: "0.01", value: "0.25" }
        : { min: "0", max: "50", step: "1", value: "2" });
      setText($("strategy-by-label"), delta ? "Delta" : "Strikes from ATM");
    });
    window.addEventListener("resize", () => this.chart?.resize());
  }

  // The signed-in state changed: the user's positions can be analysed when signed in.
  sessionChanged(token) {
    $("strategy-positions").hidden = !token;
    if (!token && this.fromPositions) this.clear();
  }
}
