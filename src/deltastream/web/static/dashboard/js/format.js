// Display formatting only: thousands separators, fixed decimals, units. No market maths.

const DASH = "—";
let locale = "en-US";
const cache = new Map();

// Indian rupee amounts read best with Indian digit grouping (12,34,567).
export function setCurrency(currency) {
  locale = currency === "INR" ? "en-IN" : "en-US";
}

function formatter(decimals, extra = {}) {
  const key = `${locale}|${decimals}|${JSON.stringify(extra)}`;
  let f = cache.get(key);
  if (!f) {
    f = new Intl.NumberFormat(locale, {
      minimumFractionDigits: decimals, maximumFractionDigits: decimals, ...extra,
    });
    cache.set(key, f);
  }
  return f;
}

const usable = (v) => typeof v === "number" && Number.isFinite(v);

export function num(v, decimals = 2) {
  return usable(v) ? formatter(decimals).format(v) : DASH;
}

export function signed(v, decimals = 2) {
  return usable(v) ? formatter(decimals, { signDisplay: "exceptZero" }).format(v) : DASH;
}

// A fraction (0.153) as percent with a unit (15.30%).
export function pct(fraction, decimals = 2) {
  return usable(fraction) ? `${formatter(decimals).format(fraction * 100)}%` : DASH;
}

// A number already in percent (1.23 -> +1.23%).
export function signedPercent(v, decimals = 2) {
  return usable(v) ? `${signed(v, decimals)}%` : DASH;
}

export function int(v) {
  return usable(v) ? formatter(0).format(v) : DASH;
}

export function signedInt(v) {
  return signed(v, 0);
}

// Large counts in compact form for axis labels (1.2M).
export function compact(v) {
  return usable(v)
    ? new Intl.NumberFormat(locale, { notation: "compact", maximumFractionDigits: 1 }).format(v)
    : DASH;
}

const SYMBOLS = { INR: "₹", USD: "$" };

export function money(v, currency, decimals = 2) {
  if (!usable(v)) return DASH;
  const sign = v < 0 ? "−" : "";
  const text = formatter(decimals).format(Math.abs(v));
  const symbol = SYMBOLS[currency];
  if (symbol) return `${sign}${symbol}${text}`;
  return currency ? `${sign}${text} ${currency}` : `${sign}${text}`;
}

export function time(iso) {
  if (!iso) return DASH;
  return new Date(iso).toLocaleTimeString("en-GB", { hour12: false, timeZone: "UTC" }) + " UTC";
}

// A date and time in UTC to the second: 2026-12-04 10:00:00 UTC.
export function dateTime(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? DASH : `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function signClass(v) {
  if (!usable(v) || v === 0) return "";
  return v > 0 ? "up" : "down";
}

// Decimals that show a strike exactly (24,500 but 102.5).
export function strikeText(k) {
  return num(k, Number.isInteger(k) ? 0 : 2);
}

// Zone names as the exchange's own market writes them: Asia/Kolkata is IST in Indian English
// (GMT+5:30 in the others); US zones read EST/EDT in US English.
const ZONE_LOCALES = { "Asia/Kolkata": "en-IN" };

function zoneParts(d, timeZone) {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone, weekday: "short", day: "2-digit", month: "short", hour: "2-digit",
    minute: "2-digit", hourCycle: "h23",
  }).formatToParts(d);
  const name = new Intl.DateTimeFormat(ZONE_LOCALES[timeZone] ?? "en-US", {
    timeZone, timeZoneName: "short",
  }).formatToParts(d).find((p) => p.type === "timeZoneName")?.value ?? timeZone;
  const part = (type) => parts.find((p) => p.type === type)?.value ?? "";
  return { weekday: part("weekday"), day: part("day"), month: part("month"),
           clock: `${part("hour")}:${part("minute")}`, zone: name };
}

// An instant in a zone's local time with the zone's name: "15:30 IST", or with its date
// "Mon 07 Dec 09:15 IST". An unknown zone (or none) is shown in UTC.
export function zoneTime(iso, timeZone, withDate = false) {
  const d = new Date(iso ?? "");
  if (Number.isNaN(d.getTime())) return DASH;
  let p;
  try {
    p = zoneParts(d, timeZone || "UTC");
  } catch {
    p = zoneParts(d, "UTC");
  }
  const clock = `${p.clock} ${p.zone}`;
  return withDate ? `${p.weekday} ${p.day} ${p.month} ${clock}` : clock;
}

// The market-status badge: "Market open · closes 15:30 IST", "Market closed · opens Mon
// 07 Dec 09:15 IST"; empty for no status (a stored snapshot has none).
export function marketStatus(status, until, timeZone) {
  if (status === "open") {
    return until ? `Market open · closes ${zoneTime(until, timeZone)}` : "Market open";
  }
  if (status === "closed") {
    return until ? `Market closed · opens ${zoneTime(until, timeZone, true)}` : "Market closed";
  }
  return "";
}
