// The JSON API, as any client reads it.

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function getJSON(path, params = {}) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") query.set(k, String(v));
  }
  const qs = query.toString();
  const url = qs ? `${path}?${qs}` : path;
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    throw new APIError(response.status, (body && body.error) || `${response.status} ${url}`);
  }
  return body;
}

const enc = encodeURIComponent;

export const api = {
  products: () => getJSON("/api/data/products"),
  expiries: (p) => getJSON(`/api/data/expiries/${enc(p)}`),
  chain: (p, expiry, strikes) => getJSON(`/api/data/chain/${enc(p)}`, { expiry, strikes }),
  underlying: (p, limit = 1000) => getJSON(`/api/data/underlying/${enc(p)}`, { limit }),
  pcrHistory: (p, expiry) => getJSON(`/api/analytics/pcr/${enc(p)}`, { expiry, history: "true" }),
  surface: (p, strikes) => getJSON(`/api/analytics/volatility-surface/${enc(p)}`, { strikes }),
  maxPain: (p, expiry) => getJSON(`/api/analytics/max-pain/${enc(p)}`, { expiry }),
  ohlc: (p, window) => getJSON(`/api/analytics/ohlc/${enc(p)}`, { window }),
  ivHistory: (p) => getJSON(`/api/analytics/iv-history/${enc(p)}`),
};
