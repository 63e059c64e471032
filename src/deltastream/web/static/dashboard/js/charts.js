// ECharts views of API responses. Each function turns one response into chart options; the
// numbers drawn are the API's (IVs shown in percent), nothing is derived here.

/* global echarts */
import { compact, dateTime, num, strikeText } from "./format.js";
import { CALL, MARK, PUT, SPLIT, SPOT, TEXT, TOTAL } from "./palette.js";

const GRID = { left: 56, right: 56, top: 36, bottom: 40, containLabel: false };

const BASE = {
  backgroundColor: "transparent",
  animation: false,
  textStyle: { fontFamily: "system-ui, sans-serif" },
  grid: GRID,
  tooltip: { trigger: "axis", confine: true },
  legend: { type: "scroll", top: 4, textStyle: { color: "#c9d1d9", fontSize: 11 } },
};

const percentAxis = (name, decimals = 1) => ({
  type: "value", name, scale: true, nameTextStyle: TEXT,
  axisLabel: { ...TEXT, formatter: (v) => `${num(v, decimals)}%` }, splitLine: SPLIT,
});
const countAxis = (name) => ({
  type: "value", name, nameTextStyle: TEXT,
  axisLabel: { ...TEXT, formatter: compact }, splitLine: SPLIT,
});
const strikeAxis = (strikes) => ({
  type: "category", data: strikes.map(strikeText), name: "strike", nameLocation: "middle",
  nameGap: 26, nameTextStyle: TEXT, axisLabel: TEXT,
});
// Times of day (UTC) when the data lies within one day; with the date when it spans days
// (a stored source's daily files).
const spansDays = (times) => times.length > 1
  && times[0].slice(0, 10) !== times.at(-1).slice(0, 10);
const timeLabel = (days) => (days
  ? (v) => new Date(v).toISOString().slice(0, 16).replace("T", " ")
  : (v) => new Date(v).toISOString().slice(11, 19));
const timeAxis = (days = false) => ({
  type: "time", splitLine: { show: false },
  axisLabel: { ...TEXT, hideOverlap: true, formatter: timeLabel(days) },
});
// Price axes keep ECharts' own tick labels: it picks the decimals the range needs.
const priceAxis = (name, extra = {}) => ({
  type: "value", scale: true, name, nameTextStyle: TEXT, axisLabel: TEXT, splitLine: SPLIT,
  ...extra,
});
const asPercent = (v) => (typeof v === "number" ? v * 100 : null);
// The API's build-up types (oi-buildup), as a trader says them; null: a change of zero.
const BUILDUP = { long_buildup: "long build-up", short_buildup: "short build-up",
                  short_covering: "short covering", long_unwinding: "long unwinding" };
const buildupText = (type) => BUILDUP[type] ?? "—";

export class Charts {
  constructor(root) {
    this.instances = new Map();
    for (const el of root.querySelectorAll("[data-chart]")) {
      this.instances.set(el.dataset.chart, echarts.init(el, "dark", { renderer: "canvas" }));
    }
    const resize = () => this.instances.forEach((c) => c.resize());
    window.addEventListener("resize", resize);
    this.buildups = null;   // the OI build-up of the chart's expiry, by strike
  }

  set(name, option) {
    this.instances.get(name).setOption({ ...BASE, ...option }, { notMerge: true, lazyUpdate: true });
  }

  // An empty chart is hidden (its note says why); shown again, it takes its box's size.
  show(name, visible) {
    const chart = this.instances.get(name);
    const el = chart.getDom();
    if (el.hidden === !visible) return;
    el.hidden = !visible;
    if (visible) chart.resize();
    else chart.clear();
  }

  openInterest(chain) {
    const atm = strikeText(chain.atm_strike);
    this.set("oi", {
      xAxis: strikeAxis(chain.strikes),
      yAxis: countAxis("contracts"),
      series: [
        { name: "Calls OI", type: "bar", itemStyle: { color: CALL },
          data: chain.calls.map((o) => o.open_interest),
          markLine: { symbol: "none", label: { formatter: "ATM", color: MARK },
                      lineStyle: { color: MARK, type: "dashed" }, data: [{ xAxis: atm }] } },
        { name: "Puts OI", type: "bar", itemStyle: { color: PUT },
          data: chain.puts.map((o) => o.open_interest) },
      ],
    });
  }

  // The API's OI build-up of a snapshot (null: none), named in the OI-change tooltip with
  // the time of its snapshot (on the live source it is asked for less often than ticks come).
  buildup(body) {
    this.buildups = body && {
      expiry: body.expiry, timestamp: body.timestamp,
      byStrike: new Map(body.buildup.map((b) => [b.strike, b])),
    };
  }

  openInterestChange(chain) {
    const tip = (params) => {
      const strike = chain.strikes[params[0].dataIndex];
      const lines = [`strike ${strikeText(strike)}`,
                     ...params.map((p) => `${p.marker}${p.seriesName}: ${num(p.value, 0)}`)];
      const b = this.buildups;
      const row = b && b.expiry === chain.expiry ? b.byStrike.get(strike) : undefined;
      if (row) {
        lines.push(`build-up: calls ${buildupText(row.call_buildup_type)}`
                     + ` · puts ${buildupText(row.put_buildup_type)}`,
                   `as of ${dateTime(b.timestamp)}`);
      }
      return lines.join("<br>");
    };
    this.set("oi-change", {
      tooltip: { trigger: "axis", confine: true, formatter: tip },
      xAxis: strikeAxis(chain.strikes),
      yAxis: countAxis("contracts"),
      series: [
        { name: "Calls OI change", type: "bar", itemStyle: { color: CALL },
          data: chain.calls.map((o) => o.oi_change) },
        { name: "Puts OI change", type: "bar", itemStyle: { color: PUT },
          data: chain.puts.map((o) => o.oi_change) },
      ],
    });
  }

  smile(chain) {
    const points = (side) => chain.strikes.map((k, i) => [k, asPercent(side[i].iv)]);
    this.set("smile", {
      xAxis: { type: "value", scale: true, name: "strike", nameLocation: "middle", nameGap: 26,
               nameTextStyle: TEXT, axisLabel: { ...TEXT, formatter: strikeText },
               splitLine: { show: false } },
      yAxis: percentAxis("IV"),
      tooltip: { trigger: "axis", confine: true, valueFormatter: (v) => `${num(v, 2)}%` },
      series: [
        { name: "Calls IV", type: "line", showSymbol: true, symbolSize: 4, connectNulls: false,
          itemStyle: { color: CALL }, data: points(chain.calls),
          markLine: { symbol: "none", label: { formatter: "spot", color: SPOT },
                      lineStyle: { color: SPOT, type: "dashed" },
                      data: [{ xAxis: chain.spot_price }] } },
        // European puts and calls of a strike share one IV (put-call parity): dashed puts
        // keep both lines visible where they coincide.
        { name: "Puts IV", type: "line", showSymbol: true, symbolSize: 4, connectNulls: false,
          itemStyle: { color: PUT }, lineStyle: { type: "dashed" }, data: points(chain.puts) },
      ],
    });
  }

  surface(body, side) {
    const strikes = [...new Set(body.expiries.flatMap((e) => e.strikes))].sort((a, b) => a - b);
    const column = new Map(strikes.map((k, i) => [k, i]));
    const labels = body.expiries.map((e) => `${e.expiry} (${e.days_to_expiry}d)`);
    const data = [];
    let lo = Infinity;
    let hi = -Infinity;
    body.expiries.forEach((e, row) => {
      e.strikes.forEach((k, i) => {
        const v = asPercent(e[side][i]);
        if (v === null) return;
        data.push([column.get(k), row, v]);
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      });
    });
    this.set("surface", {
      grid: { left: 118, right: 20, top: 16, bottom: 78 },
      legend: { show: false },
      tooltip: { trigger: "item", confine: true,
                 formatter: (p) => `${labels[p.value[1]]}<br>strike ${strikeText(strikes[p.value[0]])}`
                   + `<br>IV ${num(p.value[2], 2)}%` },
      xAxis: { type: "category", data: strikes.map(strikeText), axisLabel: TEXT,
               splitArea: { show: false } },
      yAxis: { type: "category", data: labels, axisLabel: TEXT },
      visualMap: { min: Number.isFinite(lo) ? lo : 0, max: Number.isFinite(hi) ? hi : 1,
                   calculable: true, orient: "horizontal", left: "center", bottom: 0,
                   itemHeight: 120, textStyle: TEXT, formatter: (v) => `${num(v, 1)}%`,
                   inRange: { color: ["#0b3a6e", "#1f78b4", "#33a02c", "#fdbf6f", "#e31a1c"] } },
      series: [{ name: "IV", type: "heatmap", data, progressive: 0 }],
    });
  }

  history(ticks, pcrPoints) {
    this.set("history", {
      xAxis: timeAxis(spansDays(ticks.map((t) => t.timestamp))),
      yAxis: [
        priceAxis("spot"),
        priceAxis("PCR", { splitLine: { show: false } }),
      ],
      series: [
        { name: "Spot", type: "line", showSymbol: false, itemStyle: { color: SPOT },
          data: ticks.map((t) => [t.timestamp, t.price]) },
        { name: "PCR (OI)", type: "line", yAxisIndex: 1, showSymbol: false,
          itemStyle: { color: PUT }, data: pcrPoints.map((p) => [p.timestamp, p.pcr_oi]) },
        { name: "PCR (volume)", type: "line", yAxisIndex: 1, showSymbol: false,
          itemStyle: { color: CALL }, lineStyle: { type: "dotted" },
          data: pcrPoints.map((p) => [p.timestamp, p.pcr_volume]) },
      ],
    });
  }

  maxPain(body) {
    const rows = body.payouts;
    const strikes = rows.map((r) => r.strike);
    const at = strikes.indexOf(body.max_pain_strike);
    // Open on the strikes around the max-pain strike; the rest of the ladder is a scroll away.
    const span = 15;
    const start = at < 0 ? 0 : Math.max(0, at - span);
    const end = at < 0 ? rows.length - 1 : Math.min(rows.length - 1, at + span);
    const mark = body.max_pain_strike === null ? [] : [{ xAxis: strikeText(body.max_pain_strike) }];
    this.set("max-pain", {
      xAxis: strikeAxis(strikes),
      yAxis: countAxis("payout"),
      tooltip: { trigger: "axis", confine: true, valueFormatter: (v) => num(v, 0) },
      dataZoom: [{ type: "inside", startValue: start, endValue: end }],
      series: [
        { name: "Calls", type: "bar", stack: "payout", itemStyle: { color: CALL },
          data: rows.map((r) => r.call) },
        { name: "Puts", type: "bar", stack: "payout", itemStyle: { color: PUT },
          data: rows.map((r) => r.put) },
        { name: "Total", type: "line", showSymbol: false, itemStyle: { color: TOTAL },
          data: rows.map((r) => r.total),
          markLine: { symbol: "none", lineStyle: { color: MARK, width: 2 },
                      label: { color: MARK, formatter: `max pain ${mark.length ? mark[0].xAxis : ""}` },
                      data: mark } },
      ],
    });
  }

  ohlc(body) {
    const candles = body.candles;
    const days = spansDays(candles.map((c) => c.timestamp));
    this.set("ohlc", {
      legend: { show: false },
      xAxis: { type: "category", axisLabel: TEXT,
               data: candles.map((c) => (days ? `${c.timestamp.slice(0, 10)} ` : "")
                 + c.timestamp.slice(11, 16)) },
      yAxis: priceAxis(""),
      tooltip: { trigger: "axis", confine: true },
      series: [{
        name: `${body.window} min`, type: "candlestick",
        itemStyle: { color: "#3fb950", color0: "#f85149", borderColor: "#3fb950",
                     borderColor0: "#f85149" },
        // ECharts' candle order is open, close, low, high.
        data: candles.map((c) => [c.open, c.close, c.low, c.high]),
      }],
    });
  }

  ivHistory(points) {
    this.set("iv-history", {
      legend: { show: false },
      xAxis: timeAxis(spansDays(points.map((p) => p.timestamp))),
      yAxis: percentAxis("ATM IV", 2),
      tooltip: { trigger: "axis", confine: true, valueFormatter: (v) => `${num(v, 2)}%` },
      series: [{ name: "ATM IV", type: "line", showSymbol: points.length < 40,
                 itemStyle: { color: CALL },
                 data: points.map((p) => [p.timestamp, asPercent(p.atm_iv)]) }],
    });
  }
}
