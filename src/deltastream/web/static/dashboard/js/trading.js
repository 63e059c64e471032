// Paper trading on the dashboard: sign-in, the order ticket opened from the chain, and the
// account (cash, margin, P&L, portfolio Greeks), its positions, orders and trades.
//
// Every figure is the API's (/api/trade/*): quantities are units (lots x the lot size), prices
// and P&L in the account's currency, P&L net of charges where the API says so, Greeks as the
// positions route states them (units x the per-unit Greek). The ticket's premium preview is
// display arithmetic only (price x units), the same figure the order's fill would move.
//
// Credentials: the session (access token, refresh token, user) lives in this tab's
// sessionStorage and in memory, and is sent as `Authorization: Bearer` (no cookies). The
// access token is renewed through /api/auth/refresh before it expires (each refresh returns a
// new refresh token: the old one is spent); an answer 401 triggers one refresh and one retry,
// and a refused refresh ends the session with the API's reason.
//
// Live figures: after each tick of the product on screen the account, positions and Greeks
// are read again (at most one read in flight, at most one a second), the orders every few
// seconds, and both at once after anything the user does or an account event of the stream
// (an order, fill or position of this user changed, e.g. a resting order filled).

import { requestJSON } from "./api.js";
import * as fmt from "./format.js";

const $ = (id) => document.getElementById(id);

const STORAGE_KEY = "deltastream.session";
const ACCOUNT_MIN_GAP_MS = 1000;
const ORDERS_EVERY_MS = 3000;
// Without ticks (a stored source on screen, a closed market's slow re-announcements) the
// account is still read this often.
const IDLE_READ_MS = 5000;
const CHANGE_COALESCE_MS = 100;
// Renew the access token this long before it expires (at most half its lifetime).
const REFRESH_LEAD_MS = 60000;
const OPEN_STATUSES = new Set(["PENDING", "PARTIALLY_FILLED"]);
const QUOTE_FIELDS = new Set(["bid", "ask", "last"]);
const RIGHTS = { call: "CE", put: "PE" };

// Random enough to tell one order submission from another (works outside secure contexts,
// where crypto.randomUUID is missing).
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// One line from an API error: its message, and what the detail adds for the user (the accepted
// values of a parameter, the market's next open, the margin's figures).
export function errorText(error, currency, timeZone = null) {
  const detail = error.detail;
  let text = error.message || String(error);
  if (detail && typeof detail === "object") {
    if (detail.accepted) text += ` (accepted: ${detail.accepted})`;
    if (detail.reason === "market_closed") {
      // In the exchange's time when the page knows its zone, and in UTC.
      const local = timeZone ? `${fmt.zoneTime(detail.next_open, timeZone, true)}, ` : "";
      text += detail.next_open
        ? ` · next open ${local}${fmt.dateTime(detail.next_open)}` : "";
    } else if (detail.reason === "margin") {
      text += ` · required ${fmt.money(detail.required, currency)},`
        + ` available ${fmt.money(detail.available, currency)}`;
    }
  }
  return text;
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function setSigned(el, value, text) {
  setText(el, text);
  el.classList.toggle("up", typeof value === "number" && value > 0);
  el.classList.toggle("down", typeof value === "number" && value < 0);
}

function contractName(c) {
  const right = c.option_type ? ` ${fmt.strikeText(c.strike)} ${c.option_type}` : "";
  const expiry = c.expiry ? ` ${c.expiry}` : "";
  return `${c.product}${expiry}${right}`;
}

// Keep a table body's rows keyed (rows stay the same elements between reads, so a button is
// not replaced under the pointer): `make(item)` builds a row, `update(row, item)` fills it.
function syncRows(body, items, key, make, update) {
  const existing = new Map([...body.rows].map((tr) => [tr.dataset.key, tr]));
  const wanted = [];
  for (const item of items) {
    const k = String(key(item));
    let tr = existing.get(k);
    if (!tr) {
      tr = make(item);
      tr.dataset.key = k;
    }
    existing.delete(k);
    update(tr, item);
    wanted.push(tr);
  }
  for (const tr of existing.values()) tr.remove();
  wanted.forEach((tr, i) => {
    if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] ?? null);
  });
}

// One cell per field, named by data-field (tests and the updates find them by it).
function cells(tr, fields) {
  for (const f of fields) {
    const td = tr.appendChild(document.createElement("td"));
    td.dataset.field = f;
  }
}

function cell(tr, field) {
  return tr.querySelector(`td[data-field="${field}"]`);
}

export class Trading {
  // `view()`: what the page shows: {product, expiry, currency, chain, source, timezone}.
  constructor(view) {
    this.view = view;
    this.session = null;        // {token, refreshToken, expiresAt (ms, this clock), ttlMs, user}
    this.refreshing = null;     // the refresh in flight (one at a time: each spends its token)
    this.refreshTimer = null;
    this.accountInFlight = false;
    this.accountReadAt = 0;
    this.reads = 0;             // account reads started
    this.ordersReads = 0;       // order reads started
    // Positions being closed: symbol -> the first account read that started after the close
    // order was answered (until it is shown, the row's Close stays disabled: a second click
    // would sell the quantity again).
    this.closing = new Map();
    this.ordersReadAt = 0;
    this.ticket = null;         // the open ticket's contract and reference quotes
    this.reread = false;        // something changed while a read was in flight
    this.changeTimer = null;
    this.onSession = null;      // called with the access token on every change (null: none)
    this.bind();
    this.restore();
    setInterval(() => this.tick(), IDLE_READ_MS);
  }

  // ---- session --------------------------------------------------------------------------

  restore() {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
    } catch {
      saved = null;
    }
    if (saved && saved.token && saved.refreshToken) {
      this.session = saved;
      this.scheduleRefresh();
      this.showSession();
      this.readAll();
    } else {
      this.showSession();
    }
  }

  keep(answer) {
    const ttlMs = (answer.expires_in ?? 900) * 1000;
    this.session = { token: answer.token, refreshToken: answer.refresh_token,
                     expiresAt: Date.now() + ttlMs, ttlMs, user: answer.user };
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.session));
    this.scheduleRefresh();
    this.onSession?.(this.session.token);
  }

  forget(message = "") {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    this.session = null;
    sessionStorage.removeItem(STORAGE_KEY);
    this.onSession?.(null);
    this.showSession();
    setText($("auth-error"), message);
  }

  scheduleRefresh() {
    clearTimeout(this.refreshTimer);
    const s = this.session;
    if (!s) return;
    const lead = Math.min(REFRESH_LEAD_MS, s.ttlMs / 2);
    const wait = Math.max(0, s.expiresAt - lead - Date.now());
    this.refreshTimer = setTimeout(() => this.refresh(), wait);
  }

  // A new session from the refresh token; false (and signed out) when the API refuses it.
  refresh() {
    if (this.refreshing) return this.refreshing;
    const spent = this.session?.refreshToken;
    if (!spent) return Promise.resolve(false);
    this.refreshing = requestJSON("POST", "/api/auth/refresh", { body: { refresh_token: spent } })
      .then((answer) => {
        if (this.session?.refreshToken === spent) this.keep(answer);
        return true;
      })
      .catch((e) => {
        if (e.status === 401 || e.status === 400) {
          this.forget(`Signed out: ${e.message}. Log in again.`);
          return false;
        }
        // The server is unreachable or busy: keep the session and try again shortly.
        clearTimeout(this.refreshTimer);
        this.refreshTimer = setTimeout(() => this.refresh(), 5000);
        return false;
      })
      .finally(() => { this.refreshing = null; });
    return this.refreshing;
  }

  // An authenticated request; on 401 one refresh and one retry.
  async call(method, path, body = undefined, headers = {}) {
    if (!this.session) throw new Error("not signed in");
    const send = () => requestJSON(method, path, {
      body, headers: { ...headers, Authorization: `Bearer ${this.session.token}` } });
    if (this.session.expiresAt <= Date.now()) await this.refresh();
    if (!this.session) throw new Error("signed out: log in again");
    try {
      return await send();
    } catch (e) {
      if (e.status !== 401 || !(await this.refresh()) || !this.session) throw e;
      return send();
    }
  }

  async signIn(register) {
    const email = $("auth-email").value.trim();
    const password = $("auth-password").value;
    const name = $("auth-name").value.trim();
    const body = register ? { email, password, ...(name ? { name } : {}) } : { email, password };
    setText($("auth-error"), "");
    $("auth-form").setAttribute("aria-busy", "true");
    try {
      const answer = await requestJSON("POST", register ? "/api/auth/register"
        : "/api/auth/login", { body });
      $("auth-password").value = "";
      this.keep(answer);
      this.showSession();
      this.readAll();
    } catch (e) {
      setText($("auth-error"), errorText(e));
    } finally {
      $("auth-form").removeAttribute("aria-busy");
    }
  }

  async signOut() {
    const token = this.session?.refreshToken;
    this.forget();
    if (!token) return;
    try {
      await requestJSON("POST", "/api/auth/logout", { body: { refresh_token: token } });
    } catch {
      // The session is gone from this tab either way; its access token lapses at expiry.
    }
  }

  showSession() {
    const s = this.session;
    $("auth-form").hidden = Boolean(s);
    $("account").hidden = !s;
    $("logout").hidden = !s;
    setText($("account-user"), s ? `signed in as ${s.user?.email ?? ""}` : "not signed in");
    $("trading").dataset.signedIn = s ? "true" : "false";
    this.showTicketAccess();
  }

  // ---- reads ----------------------------------------------------------------------------

  currency() {
    return this.view().currency ?? "INR";
  }

  // After a tick of the product on screen.
  tick() {
    if (!this.session || document.hidden) return;
    const now = performance.now();
    if (now - this.accountReadAt >= ACCOUNT_MIN_GAP_MS) this.readAccount();
    if (now - this.ordersReadAt >= ORDERS_EVERY_MS) this.readOrders();
  }

  readAll() {
    this.readAccount();
    this.readOrders();
  }

  // An account event of the stream: read now (after the read in flight, if one is). One
  // change comes as several events (order, fill, position): they make one read.
  changed() {
    if (!this.session || this.changeTimer) return;
    this.changeTimer = setTimeout(() => {
      this.changeTimer = null;
      if (this.accountInFlight) this.reread = true;
      this.readAll();
    }, CHANGE_COALESCE_MS);
  }

  token() {
    return this.session?.token ?? null;
  }

  async readAccount() {
    if (this.accountInFlight || !this.session) return;
    this.accountInFlight = true;
    this.accountReadAt = performance.now();
    const read = ++this.reads;
    const currency = this.currency();
    try {
      const q = `?currency=${encodeURIComponent(currency)}`;
      const [portfolio, positions, risk] = await Promise.all([
        this.call("GET", `/api/trade/portfolio${q}`),
        this.call("GET", "/api/trade/positions"),
        this.call("GET", `/api/trade/risk${q}`),
      ]);
      for (const [symbol, first] of this.closing) {
        if (read >= first) this.closing.delete(symbol);
      }
      this.showAccount(portfolio, risk);
      this.showPositions(positions.positions);
      setText($("account-error"), "");
    } catch (e) {
      if (this.session) setText($("account-error"), errorText(e, currency));
    } finally {
      this.accountInFlight = false;
      if (this.reread) {
        this.reread = false;
        this.readAccount();
      }
    }
  }

  async readOrders() {
    if (!this.session) return;
    this.ordersReadAt = performance.now();
    // Reads may overlap (an action's read beside a tick's): only the newest one is shown.
    const read = ++this.ordersReads;
    try {
      const [answer, fills] = await Promise.all([
        this.call("GET", "/api/trade/orders?limit=50"),
        this.call("GET", "/api/trade/trades?limit=50"),
      ]);
      if (read === this.ordersReads) {
        this.showOrders(answer.orders);
        this.showTrades(fills.trades);
      }
    } catch (e) {
      if (this.session) setText($("account-error"), errorText(e, this.currency()));
    }
  }

  showAccount(p, risk) {
    const c = p.currency;
    $("account").dataset.currency = c;
    setText($("pf-cash"), fmt.money(p.cash_balance, c));
    setText($("pf-margin-used"), fmt.money(p.margin_used, c));
    setText($("pf-margin-available"), fmt.money(p.margin_available, c));
    setSigned($("pf-realized"), p.realized_pnl, fmt.money(p.realized_pnl, c));
    setSigned($("pf-unrealized"), p.unrealized_pnl, fmt.money(p.unrealized_pnl, c));
    setSigned($("pf-total"), p.total_pnl, fmt.money(p.total_pnl, c));
    setText($("pf-charges"), fmt.money(p.charges, c));
    $("pf-realized").dataset.value = String(p.realized_pnl);
    $("pf-unrealized").dataset.value = String(p.unrealized_pnl);
    const g = risk.greeks;
    setText($("pf-greeks"), `Δ ${fmt.num(g.delta, 2)} · Γ ${fmt.num(g.gamma, 4)}`
      + ` · Θ ${fmt.num(g.theta, 2)}/day · vega ${fmt.num(g.vega, 2)}`);
    // The account's limits beyond its margin, as the risk route states them (0: off), with
    // the figures they are checked against when the route gives them.
    const limits = risk.limits ?? {};
    const against = (name, figure, limit) => (typeof figure === "number"
      ? `${name} ${fmt.money(figure, c)} (limit ${fmt.money(limit, c)})`
      : `${name} ≤ ${fmt.money(limit, c)}`);
    const parts = [];
    if (limits.max_open_lots) parts.push(`open lots ≤ ${fmt.int(limits.max_open_lots)}`);
    if (limits.max_gross_exposure) {
      parts.push(against("gross exposure", risk.gross_exposure, limits.max_gross_exposure));
    }
    if (limits.max_daily_loss) {
      parts.push(against("day's loss", risk.daily_loss, limits.max_daily_loss));
    }
    setText($("pf-limits"), parts.length ? parts.join(" · ") : "margin only");
  }

  showPositions(positions) {
    const body = $("positions").tBodies[0];
    syncRows(body, positions, (p) => p.symbol, (p) => {
      const tr = document.createElement("tr");
      cells(tr, ["symbol", "quantity", "avg_entry_price", "current_price", "unrealized_pnl",
                 "realized_pnl", "delta", "gamma", "theta", "vega", "action"]);
      const close = document.createElement("button");
      close.type = "button";
      close.textContent = "Close";
      close.setAttribute("aria-label", `Close ${p.symbol}`);
      close.addEventListener("click", () => this.close(tr.position));
      cell(tr, "action").appendChild(close);
      return tr;
    }, (tr, p) => {
      tr.position = p;
      tr.dataset.symbol = p.symbol;
      const c = p.currency;
      const f = (name) => cell(tr, name);
      setText(f("symbol"), p.symbol);
      f("symbol").title = contractName(p);
      setText(f("quantity"), fmt.int(p.quantity));
      setText(f("avg_entry_price"), fmt.num(p.avg_entry_price, 2));
      setText(f("current_price"), fmt.num(p.current_price, 2));
      setSigned(f("unrealized_pnl"), p.unrealized_pnl, fmt.money(p.unrealized_pnl, c));
      f("unrealized_pnl").dataset.value = String(p.unrealized_pnl);
      setSigned(f("realized_pnl"), p.realized_pnl, fmt.money(p.realized_pnl, c));
      setText(f("delta"), fmt.num(p.delta, 2));
      setText(f("gamma"), fmt.num(p.gamma, 4));
      setText(f("theta"), fmt.num(p.theta, 2));
      setText(f("vega"), fmt.num(p.vega, 2));
      f("action").firstChild.disabled = this.closing.has(p.symbol);
    });
    $("positions-empty").hidden = positions.length > 0;
  }

  showOrders(orders) {
    const body = $("orders").tBodies[0];
    syncRows(body, orders, (o) => o.order_id, (o) => {
      const tr = document.createElement("tr");
      cells(tr, ["placed_at", "symbol", "side", "quantity", "order_type", "price", "status",
                 "filled_quantity", "avg_fill_price", "action"]);
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.textContent = "Cancel";
      cancel.setAttribute("aria-label", `Cancel order ${o.order_id}`);
      cancel.addEventListener("click", () => this.cancel(o.order_id));
      cell(tr, "action").appendChild(cancel);
      return tr;
    }, (tr, o) => {
      const f = (name) => cell(tr, name);
      tr.dataset.status = o.status;
      setText(f("placed_at"), fmt.time(o.placed_at));
      setText(f("symbol"), o.symbol);
      setText(f("side"), o.side);
      setText(f("quantity"), fmt.int(o.quantity));
      setText(f("order_type"), o.order_type);
      setText(f("price"), o.price === null ? "market" : fmt.num(o.price, 2));
      setText(f("status"), o.status);
      f("status").title = o.reason ?? "";
      setText(f("filled_quantity"), fmt.int(o.filled_quantity));
      setText(f("avg_fill_price"), fmt.num(o.avg_fill_price, 2));
      f("action").firstChild.hidden = !OPEN_STATUSES.has(o.status);
    });
    $("orders-empty").hidden = orders.length > 0;
  }

  // One row per fill (a market order that walked the book has several; settlements at
  // expiry are fills too), as GET /api/trade/trades lists them.
  showTrades(trades) {
    syncRows($("trades").tBodies[0], trades, (t) => t.trade_id, () => {
      const tr = document.createElement("tr");
      cells(tr, ["filled_at", "symbol", "side", "quantity", "price", "charges", "value"]);
      return tr;
    }, (tr, t) => {
      const f = (name) => cell(tr, name);
      setText(f("filled_at"), fmt.time(t.filled_at));
      setText(f("symbol"), t.symbol);
      setText(f("side"), t.side);
      setText(f("quantity"), fmt.int(t.quantity));
      setText(f("price"), fmt.num(t.price, 2));
      setText(f("charges"), fmt.money(t.charges, t.currency));
      setText(f("value"), fmt.money(t.quantity * t.price, t.currency));
    });
    $("trades-empty").hidden = trades.length > 0;
  }

  // ---- actions --------------------------------------------------------------------------

  message(text, failed = false) {
    const el = $("trade-message");
    setText(el, text);
    el.classList.toggle("down", failed);
  }

  async place(order, key, currency) {
    const answer = await this.call("POST", "/api/trade/order", order, { "Idempotency-Key": key });
    const fill = answer.filled_quantity
      ? `: ${fmt.int(answer.filled_quantity)} filled at ${fmt.num(answer.avg_fill_price, 2)}` : "";
    const queued = answer.after_market && answer.status === "PENDING"
      ? " (after-market: waits for the next open)" : "";
    this.message(`Order ${answer.order_id} ${answer.side} ${fmt.int(answer.quantity)}`
      + ` ${answer.symbol} ${answer.status}${fill}${queued}`);
    this.readAll();
    return answer;
  }

  // The open quantity back to zero: an opposite market order.
  async close(position) {
    if (!position || this.closing.has(position.symbol)) return;
    this.closing.set(position.symbol, Infinity);
    this.showClosing(position.symbol);
    const order = position.option_type
      ? { product: position.product, expiry: position.expiry, strike: position.strike,
          option_type: position.option_type }
      : { symbol: position.symbol };
    Object.assign(order, { side: position.quantity > 0 ? "SELL" : "BUY",
                           quantity: Math.abs(position.quantity), order_type: "MARKET",
                           price: "" });
    try {
      await this.place(order, newKey(), position.currency);
    } catch (e) {
      this.message(`Close ${position.symbol}: ${errorText(e, position.currency)}`, true);
      this.readAll();
    } finally {
      this.closing.set(position.symbol, this.reads + 1);
    }
  }

  showClosing(symbol) {
    for (const tr of $("positions").tBodies[0].rows) {
      if (tr.dataset.symbol === symbol) cell(tr, "action").firstChild.disabled = true;
    }
  }

  async cancel(orderId) {
    try {
      const answer = await this.call("DELETE", `/api/trade/order/${orderId}`);
      this.message(`Order ${answer.order_id} ${answer.status}`);
    } catch (e) {
      this.message(`Cancel ${orderId}: ${errorText(e, this.currency())}`, true);
    }
    this.readAll();
  }

  // ---- order ticket ---------------------------------------------------------------------

  // A click on a bid, ask or LTP cell of the chain opens the ticket for that contract.
  onChainClick(event) {
    const td = event.target.closest("td[data-field]");
    if (!td || !QUOTE_FIELDS.has(td.dataset.field)) return;
    const view = this.view();
    const chain = view.chain;
    if (view.source || !chain) return;   // a stored source: nothing to trade
    const strike = Number(td.closest("tr").dataset.strike);
    const i = chain.strikes.indexOf(strike);
    if (i < 0) return;
    const right = td.dataset.side;
    const option = (right === "call" ? chain.calls : chain.puts)[i];
    const side = td.dataset.field === "bid" ? "SELL" : "BUY";
    this.openTicket({ product: chain.product, expiry: chain.expiry, strike,
                      option_type: RIGHTS[right], right, lot: chain.lot_size,
                      currency: chain.currency, symbol: option.contract_symbol ?? "",
                      bid: option.bid, ask: option.ask, last: option.last },
                    side, option[td.dataset.field]);
  }

  openTicket(contract, side, price) {
    this.ticket = { ...contract, key: newKey() };
    setText($("ticket-contract"), `${contractName(contract)}`
      + (contract.symbol ? ` · ${contract.symbol}` : ""));
    $("ticket").dataset.symbol = contract.symbol;
    $("ticket-side").value = side;
    $("ticket-type").value = "MARKET";
    $("ticket-lots").value = "1";
    $("ticket-after-market").checked = false;
    $("ticket-price").value = typeof price === "number" ? String(price) : "";
    setText($("ticket-lot-note"), `(lot size ${fmt.int(contract.lot)})`);
    setText($("ticket-error"), "");
    this.showTicketAccess();
    this.showTicket();
    const dialog = $("ticket");
    if (!dialog.open) dialog.showModal();
    $("ticket-lots").focus();
  }

  // The chain on screen moved: the ticket's market reference follows its contract's quote.
  chainShown(chain) {
    const t = this.ticket;
    if (!t || !$("ticket").open || chain.product !== t.product || chain.expiry !== t.expiry) {
      return;
    }
    const i = chain.strikes.indexOf(t.strike);
    if (i < 0) return;
    const option = (t.right === "call" ? chain.calls : chain.puts)[i];
    Object.assign(t, { bid: option.bid, ask: option.ask, last: option.last });
    this.showTicket();
  }

  showTicketAccess() {
    const signedIn = Boolean(this.session);
    $("ticket-submit").disabled = !signedIn;
    $("ticket-signin").hidden = signedIn;
  }

  // The price the preview uses: the limit, or for a market order the touch it would take.
  showTicket() {
    const t = this.ticket;
    if (!t) return;
    const limit = $("ticket-type").value === "LIMIT";
    const side = $("ticket-side").value;
    const priceInput = $("ticket-price");
    priceInput.disabled = !limit;
    const lots = Number($("ticket-lots").value);
    const units = Number.isInteger(lots) && lots > 0 ? lots * t.lot : null;
    const reference = side === "BUY" ? t.ask : t.bid;
    const price = limit ? Number.parseFloat(priceInput.value) : reference;
    if (!limit) priceInput.value = typeof reference === "number" ? String(reference) : "";
    setText($("ticket-units"), units === null ? "—" : `${fmt.int(units)} units`);
    const premium = units !== null && Number.isFinite(price) ? units * price : null;
    const way = side === "BUY" ? "pay" : "receive";
    setText($("ticket-premium"), premium === null ? "—"
      : `${fmt.money(premium, t.currency)} to ${way}${limit ? "" : " at the current touch"}`
        + " (before charges)");
    $("ticket-premium").dataset.value = premium === null ? "" : String(premium);
  }

  async submitTicket() {
    const t = this.ticket;
    if (!t || !this.session) return;
    const limit = $("ticket-type").value === "LIMIT";
    const lots = Number($("ticket-lots").value);
    if (!Number.isInteger(lots) || lots < 1) {
      setText($("ticket-error"), "Lots: a whole number of lots, 1 or more");
      return;
    }
    const order = { product: t.product, expiry: t.expiry, strike: t.strike,
                    option_type: t.option_type, side: $("ticket-side").value,
                    quantity: lots * t.lot, order_type: limit ? "LIMIT" : "MARKET",
                    price: limit ? Number.parseFloat($("ticket-price").value) : "",
                    after_market: $("ticket-after-market").checked };
    if (limit && !Number.isFinite(order.price)) {
      setText($("ticket-error"), "Limit price: a positive price");
      return;
    }
    $("ticket-submit").disabled = true;
    setText($("ticket-error"), "");
    try {
      await this.place(order, t.key, t.currency);
      $("ticket").close();
      this.ticket = null;
    } catch (e) {
      setText($("ticket-error"), errorText(e, t.currency, this.view().timezone));
      // A refused order is stored as such (REJECTED): the next submission is a new order.
      t.key = newKey();
      this.readAll();
    } finally {
      this.showTicketAccess();
    }
  }

  // ---- wiring ---------------------------------------------------------------------------

  bind() {
    $("auth-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.signIn(false);
    });
    $("register").addEventListener("click", () => {
      if ($("auth-form").reportValidity()) this.signIn(true);
    });
    $("logout").addEventListener("click", () => this.signOut());
    $("chain").tBodies[0].addEventListener("click", (e) => this.onChainClick(e));
    $("ticket-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submitTicket();
    });
    $("ticket-cancel").addEventListener("click", () => $("ticket").close());
    for (const id of ["ticket-side", "ticket-type", "ticket-lots", "ticket-price"]) {
      $(id).addEventListener("input", () => this.showTicket());
    }
    $("ticket-type").addEventListener("change", () => {
      // A limit starts from the touch the market order would take.
      this.showTicket();
    });
  }
}
