// The live stream (Socket.IO over WebSocket): joins `general` on connect, subscribes to the
// selected product's rooms, and subscribes again after every reconnect (a new connection
// starts with no rooms). The stream carries the live source only: `close()` ends the
// connection while a stored source is on screen and `open()` makes it again.
//
// Signed in to paper trading, the socket also joins the user's private room (`subscribe
// {"type": "account", "token"}`, again after every reconnect and with every renewed access
// token), whose `order_update`, `trade_update` and `position_update` events reach
// `handlers.account`. A server without these events answers the subscription with an
// `error` event and the page keeps reading the account after each tick.

/* global io */

export class Stream {
  constructor(handlers) {
    this.handlers = handlers;
    this.symbol = null;
    this.everConnected = false;
    this.socket = null;
    this.accountToken = null;
  }

  open() {
    if (this.socket) {
      // After close(): the same socket connects again (and rejoins on "connect").
      if (!this.socket.active) this.socket.connect();
      return;
    }
    const handlers = this.handlers;
    this.socket = io({
      path: "/socket.io",
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 2000,
      timeout: 5000,
    });
    this.socket.on("connect", () => {
      this.everConnected = true;
      if (this.symbol) this.join(this.symbol);
      if (this.accountToken) this.joinAccount();
      handlers.connect?.();
    });
    this.socket.on("disconnect", () => handlers.disconnect?.());
    this.socket.on("connect_error", () => handlers.disconnect?.());
    this.socket.on("underlying_update", (m) => handlers.underlying?.(m));
    this.socket.on("chain_summary", (m) => handlers.summary?.(m));
    this.socket.on("chain_update", (m) => handlers.chain?.(m));
    for (const event of ["order_update", "trade_update", "position_update"]) {
      this.socket.on(event, (m) => handlers.account?.(event, m));
    }
  }

  // Disconnect and stay disconnected (no reconnection attempts) until open().
  close() {
    if (this.socket && this.socket.active) this.socket.disconnect();
    this.everConnected = false;
  }

  get connected() {
    return Boolean(this.socket && this.socket.connected);
  }

  join(symbol) {
    this.socket.emit("subscribe", { type: "product", symbol });
    this.socket.emit("subscribe", { type: "chain", symbol });
  }

  // The private account room with this access token; null: leave it (signed out).
  account(token) {
    if (token === this.accountToken) return;
    const before = this.accountToken;
    this.accountToken = token;
    if (!this.connected) return;
    if (token) this.joinAccount();
    else if (before) this.socket.emit("unsubscribe", { type: "account" });
  }

  joinAccount() {
    this.socket.emit("subscribe", { type: "account", token: this.accountToken });
  }

  follow(symbol) {
    if (this.symbol === symbol) return;
    if (this.symbol && this.connected) {
      this.socket.emit("unsubscribe", { type: "product", symbol: this.symbol });
      this.socket.emit("unsubscribe", { type: "chain", symbol: this.symbol });
    }
    this.symbol = symbol;
    if (this.connected) this.join(symbol);
  }
}
