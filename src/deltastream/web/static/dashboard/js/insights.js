// Insights panel: the market pulse of the product on screen, headline sentiment (when feeds
// are configured) and a chat box.
//
// It follows the product selector (#product) and reads the live market only: the pulse is of
// the newest snapshot, whatever source or time the rest of the page shows. Every sentence of
// the pulse lists the figures it rests on; chat answers list their sources (analytics routes
// or documentation sections) and, when a language model phrased the answer, the figures it
// quoted that match none of the facts.

import { getJSON, requestJSON } from "./api.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 15_000;
const SENTIMENT_MS = 60_000;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function factText(name, value) {
  if (value === null || value === undefined) return `${name}: n/a`;
  if (typeof value === "number") {
    const digits = Number.isInteger(value) ? 0 : Math.abs(value) < 10 ? 4 : 2;
    return `${name}: ${value.toLocaleString("en-US", { maximumFractionDigits: digits })}`;
  }
  return `${name}: ${value}`;
}

class Insights {
  constructor() {
    this.asked = 0;     // the latest pulse request's number: only its answer is shown
    this.live = null;   // the live source's products, read once
    this.products = $("product");
    this.sentences = $("pulse-sentences");
    this.caption = $("pulse-caption");
    this.products.addEventListener("change", () => this.refresh());
    $("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask();
    });
    setInterval(() => {
      if (!document.hidden) this.refresh();
    }, REFRESH_MS);
    setInterval(() => {
      if (!document.hidden) this.sentiment();
    }, SENTIMENT_MS);
    // The product list is filled by the page once it has read the products.
    new MutationObserver(() => this.refresh()).observe(this.products, { childList: true });
    this.refresh();
    this.sentiment();
  }

  // The live source's products: a stored source's (imported) product has no pulse (a 404),
  // so the panel says so instead of asking.
  async liveProducts() {
    if (!this.live) {
      try {
        this.live = new Set((await getJSON("/api/data/products")).products);
      } catch {
        return null;
      }
    }
    return this.live;
  }

  async refresh() {
    const product = this.products.value;
    if (!product) return;
    // A newer request (another product, or the same one asked again by the refresh timer)
    // supersedes this one: answers can arrive out of order, and an older snapshot's would
    // otherwise replace a newer one's.
    const asked = ++this.asked;
    const live = await this.liveProducts();
    if (this.asked !== asked) return;
    if (live && !live.has(product)) {
      this.caption.textContent = "";
      this.sentences.replaceChildren(
        el("li", `The pulse reads the live market, which does not trade ${product}.`, "empty"));
      return;
    }
    try {
      const pulse = await getJSON("/api/ai/pulse", { product });
      if (this.asked !== asked) return;
      this.renderPulse(pulse);
    } catch (error) {
      if (this.asked !== asked) return;
      this.sentences.replaceChildren(el("li", `Pulse unavailable: ${error.message}`, "empty"));
      // Before the market's first tick (503) the pulse comes soon: ask again shortly.
      if (error.status === 503) setTimeout(() => this.refresh(), 2000);
    }
  }

  renderPulse(pulse) {
    this.caption.textContent =
      `${pulse.product} · ${pulse.expiry} · snapshot ${pulse.sequence} · ${pulse.timestamp}`;
    const items = pulse.sentences.map((sentence) => {
      const item = el("li");
      item.dataset.topic = sentence.topic;
      item.append(el("span", sentence.text));
      const facts = Object.entries(sentence.facts).map(([k, v]) => factText(k, v));
      if (facts.length) {
        const details = el("details", null, "facts");
        details.append(el("summary", "figures"), el("span", facts.join(" · "), "muted"));
        item.append(details);
      }
      return item;
    });
    this.sentences.replaceChildren(...items);
    this.sentences.dataset.product = pulse.product;
    this.sentences.dataset.sequence = String(pulse.sequence);
  }

  async sentiment() {
    const box = $("sentiment");
    try {
      const answer = await getJSON("/api/ai/sentiment");
      box.hidden = !answer.configured;
      if (!answer.configured) return;
      const score = answer.score === null ? "" : ` (${answer.score.toFixed(2)})`;
      $("sentiment-label").textContent = `${answer.sentiment}${score}`;
      $("sentiment-message").textContent = answer.message;
      $("sentiment-headlines").replaceChildren(...answer.headlines.slice(0, 8).map((h) => {
        const item = el("li");
        const words = [...h.positive.map((w) => `+${w}`), ...h.negative.map((w) => `-${w}`)];
        item.append(el("span", h.title), el("span", ` ${h.label ?? ""}`, "muted"));
        if (words.length) item.append(el("span", ` [${words.join(" ")}]`, "muted"));
        return item;
      }));
    } catch {
      box.hidden = true;        // a server without the sentiment route
    }
  }

  async ask() {
    const input = $("chat-query");
    const query = input.value.trim();
    if (!query) return;
    const log = $("chat-log");
    const entry = el("div", null, "chat-entry");
    entry.append(el("p", query, "chat-question"));
    const answer = el("p", "…", "chat-answer");
    entry.append(answer);
    log.prepend(entry);
    $("chat-send").disabled = true;
    try {
      const reply = await requestJSON("POST", "/api/ai/chat", { body: { query } });
      answer.textContent = reply.answer;
      const sources = el("ul", null, "chat-sources");
      for (const s of reply.sources) {
        const item = el("li");
        if (s.type === "analytics") {
          const link = el("a", s.route);
          link.href = s.route;
          link.target = "_blank";
          link.rel = "noopener";
          item.append(el("span", `${s.title}: `, "muted"), link);
        } else {
          item.append(el("span", `${s.source} — ${s.section}`));
        }
        sources.append(item);
      }
      entry.append(sources);
      const flagged = reply.llm && reply.llm.flagged_figures;
      if (flagged && flagged.length) {
        entry.append(el("p", `Figures not found in the data: ${flagged.join(", ")}`,
                        "form-error"));
      } else if (reply.llm && reply.llm.fallback) {
        entry.append(el("p", `Offline answer (language model: ${reply.llm.fallback})`, "muted"));
      }
      input.value = "";
    } catch (error) {
      answer.textContent = error.message;
      answer.className = "form-error";
    } finally {
      $("chat-send").disabled = false;
    }
  }
}

export const insights = new Insights();
