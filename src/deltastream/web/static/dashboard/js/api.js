// The JSON API, as any client reads it.
//
// `scope` names where the data comes from: `source` (omitted for the live feed, the server's
// default) and, for a stored source viewed at a past time, `to` (ISO-8601 UTC): every read of
// one snapshot (chain, expiries, max pain, surface, build-up, PCR) is of the stored one at or
// before it (`at=`), and histories end there (`to=`; the PCR history at that snapshot).

// `detail` is the API's JSON error detail (the parameter and what it accepts, a reason and
// its figures), null when the answer had none.
export class APIError extends Error {
  constructor(status, message, detail = null) {
    super(message);
    this.status = status;
    this.detail = detail;
  }
}

// Any method, a JSON body, extra headers (the account and trading routes: Authorization,
// Idempotency-Key); the answer's JSON, or an APIError with the API's {error, detail}.
export async function requestJSON(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new APIError(0, `the server could not be reached (${e.message})`);
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (!response.ok) {
    throw new APIError(response.status, (answer && answer.error) || `${response.status} ${path}`,
                       (answer && answer.detail) ?? null);
  }
  return answer;
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
  sources: () => getJSON("/api/data/sources"),
  products: (scope = {}) => getJSON("/api/data/products", { source: scope.source }),
  expiries: (p, scope = {}) =>
    getJSON(`/api/data/expiries/${enc(p)}`, { source: scope.source, at: scope.to }),
  chain: (p, expiry, strikes, scope = {}, limit = undefined) =>
    getJSON(`/api/data/chain/${enc(p)}`,
            { expiry, strikes, limit, source: scope.source, at: scope.to }),
  underlying: (p, limit = 1000, scope = {}) =>
    getJSON(`/api/data/underlying/${enc(p)}`, { limit, source: scope.source, to: scope.to }),
  pcrHistory: (p, expiry, scope = {}) =>
    getJSON(`/api/analytics/pcr/${enc(p)}`,
            { expiry, history: "true", source: scope.source, at: scope.to }),
  surface: (p, strikes, scope = {}) =>
    getJSON(`/api/analytics/volatility-surface/${enc(p)}`,
            { strikes, source: scope.source, at: scope.to }),
  maxPain: (p, expiry, scope = {}) =>
    getJSON(`/api/analytics/max-pain/${enc(p)}`, { expiry, source: scope.source, at: scope.to }),
  buildup: (p, expiry, strikes, scope = {}) =>
    getJSON(`/api/analytics/oi-buildup/${enc(p)}`,
            { expiry, strikes, source: scope.source, at: scope.to }),
  ohlc: (p, window, scope = {}) =>
    getJSON(`/api/analytics/ohlc/${enc(p)}`, { window, source: scope.source, to: scope.to }),
  ivHistory: (p, scope = {}) =>
    getJSON(`/api/analytics/iv-history/${enc(p)}`, { source: scope.source, to: scope.to }),
};
