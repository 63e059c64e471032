// Exposure and volatility charts: dealer gamma exposure by strike (GET /api/analytics/gex/<p>)
// and the ATM term structure with the 25-delta skew (GET /api/analytics/skew/<p>).
//
// Every number drawn is the API's. GEX is in the product's currency per 1 % move of the
// underlying (the route's `unit`), under the sign convention chosen beside the chart (default:
// dealers long calls and short puts). IVs, risk reversals and butterflies are fractions in the
// API and drawn in percent (volatility points). Each chart's element carries the API's snapshot
// `sequence` it drew (`data-sequence`), so a reader can match it with the API's answer.

import { getJSON } from "./api.js";
import { compact, money, num, pct, strikeText } from "./format.js";
import { CALL, DOWN, MARK, PUT, SPLIT, SPOT, TEXT, UP } from "./palette.js";

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

const asPercent = (v) => (typeof v === "number" ? v * 100 : null);

// A vertical mark at an x value (null: none), labelled.
function xMark(value, label, color, type = "dashed") {
  if (typeof value !== "number") return [];
  return [{ xAxis: value, label: { formatter: label, color }, lineStyle: { color, type } }];
}

// The GEX chart's options: net GEX bars by strike (green above zero, red below), the spot, the
// zero-gamma level and the call and put walls marked.
export function gexOption(body) {
  const rows = body.strikes;
  const currency = body.currency;
  const marks = [
    ...xMark(body.spot, "spot", SPOT),
    ...xMark(body.zero_gamma, `zero γ ${num(body.zero_gamma, 0)}`, MARK, "solid"),
    ...xMark(body.call_wall, `call wall ${strikeText(body.call_wall)}`, CALL),
    ...xMark(body.put_wall, `put wall ${strikeText(body.put_wall)}`, PUT),
  ];
  const tip = (params) => {
    const row = rows[params[0].dataIndex];
    if (!row) return "";
    return [`strike ${strikeText(row.strike)}`,
            `net GEX ${money(row.net_gex, currency, 0)}`,
            `calls ${money(row.call_gex, currency, 0)} (OI ${num(row.call_oi, 0)})`,
            `puts ${money(row.put_gex, currency, 0)} (OI ${num(row.put_oi, 0)})`].join("<br>");
  };
  return {
    legend: { show: false },
    grid: { left: 64, right: 24, top: 36, bottom: 40 },
    tooltip: { trigger: "axis", confine: true, formatter: tip },
    xAxis: { type: "value", scale: true, name: "strike", nameLocation: "middle", nameGap: 26,
             nameTextStyle: TEXT, axisLabel: { ...TEXT, formatter: strikeText },
             splitLine: { show: false } },
    yAxis: { type: "value", name: body.unit, nameTextStyle: TEXT,
             axisLabel: { ...TEXT, formatter: compact }, splitLine: SPLIT },
    series: [{
      name: "Net GEX", type: "bar", barMaxWidth: 14,
      data: rows.map((r) => ({ value: [r.strike, r.net_gex],
                               itemStyle: { color: r.net_gex < 0 ? DOWN : UP } })),
      markLine: { symbol: "none", silent: true, data: marks },
    }],
  };
}

// The term structure and skew chart's options: ATM, 25-delta and 10-delta IVs by expiry
// (left axis) and the 25-delta risk reversal and butterfly as bars (right axis), all in
// volatility points; the tooltip adds the expected move from the straddle and from IV.
export function skewOption(body) {
  const rows = body.expiries;
  const labels = rows.map((e) => `${e.expiry} (${e.days}d)`);
  const line = (name, key, color, dashed = false) => ({
    name, type: "line", showSymbol: true, symbolSize: 5, connectNulls: false,
    itemStyle: { color }, lineStyle: dashed ? { type: "dashed" } : undefined,
    data: rows.map((e) => asPercent(e[key])),
  });
  const bar = (name, key, color) => ({
    name, type: "bar", yAxisIndex: 1, barMaxWidth: 10, itemStyle: { color, opacity: 0.7 },
    data: rows.map((e) => asPercent(e[key])),
  });
  const tip = (params) => {
    const e = rows[params[0].dataIndex];
    if (!e) return "";
    const m = e.expected_move ?? {};
    return [labels[params[0].dataIndex],
            ...params.map((p) => `${p.marker}${p.seriesName}: ${num(p.value, 2)}%`),
            `expected move: straddle ±${num(m.straddle, 2)} (${pct(m.straddle_pct, 2)})`
              + ` · IV ±${num(m.iv, 2)} (${pct(m.iv_pct, 2)})`].join("<br>");
  };
  const percent = (name) => ({
    type: "value", name, scale: true, nameTextStyle: TEXT, splitLine: SPLIT,
    axisLabel: { ...TEXT, formatter: (v) => `${num(v, 1)}%` },
  });
  return {
    grid: { left: 56, right: 56, top: 40, bottom: 56 },
    tooltip: { trigger: "axis", confine: true, formatter: tip },
    xAxis: { type: "category", data: labels, axisLabel: { ...TEXT, hideOverlap: true } },
    yAxis: [percent("IV"), { ...percent("RR / BF"), splitLine: { show: false } }],
    series: [
      line("ATM IV", "atm_iv", "#e6edf3"),
      line("25Δ put IV", "put25_iv", PUT, true),
      line("25Δ call IV", "call25_iv", CALL, true),
      line("10Δ put IV", "put10_iv", PUT),
      line("10Δ call IV", "call10_iv", CALL),
      bar("RR 25Δ", "rr25", MARK),
      bar("BF 25Δ", "bf25", "#a371f7"),
    ],
  };
}

export class Exposure {
  // `charts`: the page's Charts (owning the "gex" and "skew" instances); `view()`: what the
  // page shows: {product, expiry, scope, generation}; `report(where, error)`: the error line.
  constructor(charts, view, report) {
    this.charts = charts;
    this.view = view;
    this.report = report;
    for (const id of ["gex-scope", "gex-convention"]) {
      $(id).addEventListener("change", () => this.refresh());
    }
  }

  async refresh() {
    const { product, expiry, scope, generation } = this.view();
    if (!product) return;
    const at = scope.to;
    const gexQuery = { convention: $("gex-convention").value, source: scope.source, at,
                       expiry: $("gex-scope").value === "expiry" ? expiry : undefined };
    const [gex, skew] = await Promise.allSettled([
      getJSON(`/api/analytics/gex/${enc(product)}`, gexQuery),
      getJSON(`/api/analytics/skew/${enc(product)}`, { source: scope.source, at }),
    ]);
    if (generation !== this.view().generation) return;
    if (gex.status === "fulfilled") this.showGex(gex.value);
    if (skew.status === "fulfilled") this.showSkew(skew.value);
    const failed = [gex, skew].find((r) => r.status === "rejected");
    this.report("exposure", failed ? failed.reason : null);
  }

  showGex(body) {
    this.charts.set("gex", gexOption(body));
    const el = $("chart-gex");
    el.dataset.sequence = String(body.sequence ?? "");
    el.dataset.expiry = body.expiry ?? "";
    const total = `total ${money(body.total, body.currency, 0)} per 1% move`;
    const zero = typeof body.zero_gamma === "number"
      ? ` · zero gamma ${num(body.zero_gamma, 2)}` : " · no zero-gamma level in range";
    $("gex-caption").textContent = `${body.expiry ?? "all expiries"} · ${total}${zero}`;
    $("gex-caption").dataset.total = String(body.total);
    $("gex-caption").dataset.zeroGamma = String(body.zero_gamma);
  }

  showSkew(body) {
    this.charts.set("skew", skewOption(body));
    $("chart-skew").dataset.sequence = String(body.sequence ?? "");
    const front = body.expiries[0];
    $("skew-caption").textContent = front
      ? `${front.expiry}: ATM ${pct(front.atm_iv, 2)} · RR25 ${pct(front.rr25, 2)}`
        + ` · BF25 ${pct(front.bf25, 2)}` : "";
  }
}
