// The option chain table: calls | strike | puts. Rows are made once per row count and then
// updated in place (only cells whose text changed are touched), so ticks do not flicker.

import { int, num, signClass, signed, signedInt, strikeText } from "./format.js";

// One column per option field; the call side shows them mirrored around the strike.
const FIELDS = [
  { key: "last", label: "LTP", text: (v) => num(v, 2) },
  { key: "change", label: "Chg", text: (v) => signed(v, 2), signed: true },
  { key: "bid", label: "Bid", text: (v) => num(v, 2) },
  { key: "ask", label: "Ask", text: (v) => num(v, 2) },
  { key: "iv", label: "IV %", text: (v) => num(typeof v === "number" ? v * 100 : null, 2),
    // Why no IV could be solved (e.g. below_intrinsic), shown on hover.
    note: (o) => (o.iv_status && o.iv_status !== "ok" ? `no IV: ${o.iv_status}` : "") },
  { key: "delta", label: "Delta", text: (v) => num(v, 3) },
  { key: "gamma", label: "Gamma", text: (v) => num(v, 5) },
  { key: "theta", label: "Theta", text: (v) => num(v, 2) },
  { key: "vega", label: "Vega", text: (v) => num(v, 3) },
  { key: "open_interest", label: "OI", text: int },
  { key: "oi_change", label: "OI Chg", text: signedInt, signed: true },
  { key: "volume", label: "Volume", text: int },
];
const CALL_FIELDS = [...FIELDS].reverse();

export class ChainTable {
  constructor(table) {
    this.table = table;
    this.body = table.tBodies[0];
    this.rows = [];
    const head = table.tHead.rows[1];
    const cells = [
      ...CALL_FIELDS.map((f) => `<th data-side="call" data-field="${f.key}">${f.label}</th>`),
      '<th class="strike">Strike</th>',
      ...FIELDS.map((f) => `<th data-side="put" data-field="${f.key}">${f.label}</th>`),
    ];
    head.innerHTML = cells.join("");
  }

  // Make exactly `count` rows, reusing the ones already there.
  ensureRows(count) {
    while (this.rows.length > count) this.rows.pop().tr.remove();
    while (this.rows.length < count) {
      const tr = document.createElement("tr");
      const calls = CALL_FIELDS.map(() => tr.appendChild(document.createElement("td")));
      const strike = tr.appendChild(document.createElement("td"));
      strike.className = "strike";
      const puts = FIELDS.map(() => tr.appendChild(document.createElement("td")));
      calls.forEach((td, i) => { td.dataset.side = "call"; td.dataset.field = CALL_FIELDS[i].key; });
      puts.forEach((td, i) => { td.dataset.side = "put"; td.dataset.field = FIELDS[i].key; });
      this.body.appendChild(tr);
      this.rows.push({ tr, calls, strike, puts, itmCall: null, itmPut: null });
    }
  }

  render(chain) {
    const n = chain.strikes.length;
    this.ensureRows(n);
    const spot = chain.spot_price;
    for (let i = 0; i < n; i++) {
      const row = this.rows[i];
      const k = chain.strikes[i];
      setText(row.strike, strikeText(k));
      if (row.tr.dataset.strike !== String(k)) row.tr.dataset.strike = String(k);
      row.tr.classList.toggle("atm", k === chain.atm_strike);
      // In the money against the underlying's spot: calls below it, puts above it.
      const itmCall = k < spot;
      const itmPut = k > spot;
      if (row.itmCall !== itmCall) {
        row.calls.forEach((td) => td.classList.toggle("itm", itmCall));
        row.itmCall = itmCall;
      }
      if (row.itmPut !== itmPut) {
        row.puts.forEach((td) => td.classList.toggle("itm", itmPut));
        row.itmPut = itmPut;
      }
      fill(row.calls, CALL_FIELDS, chain.calls[i]);
      fill(row.puts, FIELDS, chain.puts[i]);
    }
    this.table.dataset.product = chain.product;
    this.table.dataset.expiry = chain.expiry;
    this.table.dataset.sequence = String(chain.sequence ?? "");
  }
}

function fill(cells, fields, option) {
  for (let j = 0; j < fields.length; j++) {
    const f = fields[j];
    const v = option[f.key];
    setText(cells[j], f.text(v));
    if (f.note) {
      const note = f.note(option);
      if (cells[j].title !== note) cells[j].title = note;
    }
    if (f.signed) {
      const cls = signClass(v);
      if (cells[j].dataset.sign !== cls) {
        cells[j].classList.remove("up", "down");
        if (cls) cells[j].classList.add(cls);
        cells[j].dataset.sign = cls;
      }
    }
  }
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
