// The option chain table: calls | strike | puts. Rows are made once per row count and then
// updated in place (only cells whose text changed are touched), so ticks do not flicker.
//
// Hovering a contract's cells shows its contract symbol and, when there is one, what its IV
// was solved from (when not a two-sided quote's mid), its quote's flags, why it has no IV and
// the vendor's IV from the file. A flagged quote or an IV from another price than the mid
// also marks the IV cell (data-quality "flag" or "source").

import { int, num, pct, signClass, signed, signedInt, strikeText } from "./format.js";

// One column per option field; the call side shows them mirrored around the strike.
const FIELDS = [
  { key: "last", label: "LTP", text: (v) => num(v, 2) },
  { key: "change", label: "Chg", text: (v) => signed(v, 2), signed: true },
  { key: "bid", label: "Bid", text: (v) => num(v, 2) },
  { key: "ask", label: "Ask", text: (v) => num(v, 2) },
  { key: "iv", label: "IV %", text: (v) => num(typeof v === "number" ? v * 100 : null, 2) },
  { key: "delta", label: "Delta", text: (v) => num(v, 3) },
  { key: "gamma", label: "Gamma", text: (v) => num(v, 5) },
  { key: "theta", label: "Theta", text: (v) => num(v, 2) },
  { key: "vega", label: "Vega", text: (v) => num(v, 3) },
  { key: "open_interest", label: "OI", text: int },
  { key: "oi_change", label: "OI Chg", text: signedInt, signed: true },
  { key: "volume", label: "Volume", text: int },
];
const CALL_FIELDS = [...FIELDS].reverse();
const IV_PUT = FIELDS.findIndex((f) => f.key === "iv");
const IV_CALL = CALL_FIELDS.findIndex((f) => f.key === "iv");

// What the API's price_source and quality_flags labels mean, in words.
const PRICE_SOURCES = {
  settlement: "IV from the settlement price (no two-sided quote)",
  close: "IV from the closing price (no quote, no settlement)",
  last: "IV from the last traded price",
  none: "no usable price",
};
const FLAGS = {
  crossed: "crossed quote (bid above ask)",
  locked: "locked quote (bid equal to ask)",
  zero_bid: "no bid",
  stale: "stale (no trade, no quote)",
  below_intrinsic: "price below intrinsic value",
  no_contract: "not listed (the other right only)",
};
const VENDOR_GREEKS = [["delta", 4], ["gamma", 6], ["theta", 3], ["vega", 3], ["rho", 3]];

// The tooltip of one contract's cells (one line per fact).
export function describe(option) {
  const lines = [];
  if (option.contract_symbol) lines.push(option.contract_symbol);
  const source = option.price_source;
  if (source && source !== "mid") lines.push(PRICE_SOURCES[source] ?? `IV from: ${source}`);
  const flags = option.quality_flags ?? [];
  if (flags.length) lines.push(`quote: ${flags.map((f) => FLAGS[f] ?? f).join(", ")}`);
  if (option.iv_status && option.iv_status !== "ok") lines.push(`no IV: ${option.iv_status}`);
  if (typeof option.vendor_iv === "number") lines.push(`vendor IV ${pct(option.vendor_iv, 2)}`);
  const greeks = option.vendor_greeks;
  if (greeks) {
    const known = VENDOR_GREEKS.filter(([g]) => typeof greeks[g] === "number")
      .map(([g, d]) => `${g} ${num(greeks[g], d)}`);
    if (known.length) lines.push(`vendor ${known.join(", ")}`);
  }
  return lines.join("\n");
}

// "flag" for a flagged quote, "source" for an IV from another price than a mid, else "".
export function qualityOf(option) {
  if ((option.quality_flags ?? []).length) return "flag";
  const source = option.price_source;
  return source && source !== "mid" ? "source" : "";
}

export class ChainTable {
  constructor(table) {
    this.table = table;
    this.body = table.tBodies[0];
    this.rows = [];
    this.marked = 0;    // contracts of the last chain drawn with a quality mark
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
      this.rows.push({ tr, calls, strike, puts, itmCall: null, itmPut: null,
                       tipCall: null, tipPut: null });
    }
  }

  render(chain) {
    const n = chain.strikes.length;
    this.ensureRows(n);
    const spot = chain.spot_price;
    let marked = 0;
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
      marked += annotate(row, "tipCall", row.calls, IV_CALL, chain.calls[i]);
      marked += annotate(row, "tipPut", row.puts, IV_PUT, chain.puts[i]);
      const symbols = [chain.calls[i].contract_symbol, chain.puts[i].contract_symbol]
        .filter(Boolean).join(" · ");
      if (row.strike.title !== symbols) row.strike.title = symbols;
    }
    this.marked = marked;
    this.table.dataset.source = chain.source ?? "";
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

// One side's tooltip on each of its cells and its quality mark on the IV cell (1 if marked).
function annotate(row, key, cells, ivIndex, option) {
  const tip = describe(option);
  if (row[key] !== tip) {
    for (const td of cells) td.title = tip;
    row[key] = tip;
  }
  const quality = qualityOf(option);
  const iv = cells[ivIndex];
  if ((iv.dataset.quality ?? "") !== quality) {
    if (quality) iv.dataset.quality = quality;
    else delete iv.dataset.quality;
  }
  return quality ? 1 : 0;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
