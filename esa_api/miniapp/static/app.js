// ESA demo Mini App: LINE sign-in, catalog, order, ECPay hand-off, then watch the order until it settles.
"use strict";

const API = "/api/v1";
// the API words every status (status_text) in this language and says when to stop watching (final)
const LANGUAGES = (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language])
  .filter(Boolean).join(", ");
const $ = (id) => document.getElementById(id);
const state = { config: null, catalog: null, category: null, product: null, attempt: null, order: null,
                poll: null, nextBefore: null };

function token() { return sessionStorage.getItem("esa.token"); }
function ntd(n) { return "NT$" + Number(n).toLocaleString("en-US"); }
function idr(n) { return "Rp " + Number(n).toLocaleString("id-ID"); }
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

class ApiError extends Error {
  constructor(problem) { super(problem.detail || problem.title || "Something went wrong"); this.problem = problem; }
}

async function api(path, { method = "GET", body, headers = {} } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (LANGUAGES) h["Accept-Language"] = LANGUAGES;
  if (token()) h.Authorization = "Bearer " + token();
  if (body !== undefined) h["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(API + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError({ code: "network", detail: "No connection. Check your network and try again." });
  }
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && path !== "/auth/line") { signOut(); }
  if (!res.ok) throw new ApiError({ status: res.status, ...data });
  return data;
}

function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + view;
  window.scrollTo(0, 0);
}

// --- sign-in ------------------------------------------------------------------------------------------
async function completeSignIn() {
  const params = new URLSearchParams(location.hash.slice(1));
  const idToken = params.get("id_token");
  if (!idToken) return;
  history.replaceState(null, "", location.pathname);
  if (params.get("state") !== sessionStorage.getItem("esa.login_state")) {
    throw new ApiError({ detail: "The sign-in could not be matched to this page; please log in again." });
  }
  const res = await api("/auth/line", { method: "POST", body: { id_token: idToken } });
  sessionStorage.setItem("esa.token", res.access_token);
  sessionStorage.setItem("esa.name", res.customer.display_name);
}

function startLogin() {
  const cfg = state.config;
  if (!cfg.line_login_url) {
    // production: the LIFF SDK (liff.init + liff.getIDToken) would supply the ID token here
    $("signin-error").textContent = "LINE login is not configured for this server.";
    $("signin-error").hidden = false;
    return;
  }
  const st = crypto.randomUUID();
  sessionStorage.setItem("esa.login_state", st);
  const q = new URLSearchParams({ redirect_uri: location.origin + location.pathname,
                                  client_id: cfg.line_channel_id || "", state: st });
  location.assign(cfg.line_login_url + "?" + q);
}

function signOut() {
  sessionStorage.removeItem("esa.token");
  stopPolling();
  $("who").hidden = true;
  show("signin");
}

// --- shop -----------------------------------------------------------------------------------------------
async function openShop() {
  $("who").textContent = sessionStorage.getItem("esa.name") || "";
  $("who").hidden = false;
  if (!state.catalog) state.catalog = await api("/catalog");
  state.category = state.category || state.catalog.categories[0]?.code;
  renderCatalog();
  show("shop");
}

function renderCatalog() {
  const chips = $("categories");
  chips.replaceChildren();
  for (const c of state.catalog.categories) {
    const chip = el("button", "chip" + (c.code === state.category ? " active" : ""), c.name);
    chip.onclick = () => { state.category = c.code; renderCatalog(); };
    chips.append(chip);
  }
  const list = $("products");
  list.replaceChildren();
  const cat = state.catalog.categories.find((c) => c.code === state.category);
  for (const p of cat ? cat.products : []) {
    const item = el("button", "item");
    item.dataset.code = p.code;
    item.disabled = !p.available;
    const left = el("div");
    left.append(el("div", "name", p.name),
                el("div", "sub", p.available ? p.target.label : "Temporarily unavailable"));
    item.append(left, el("span", "price", ntd(p.price_twd)));
    item.onclick = () => openProduct(p);
    list.append(item);
  }
}

function openProduct(p) {
  state.product = p;
  state.attempt = null;
  $("p-name").textContent = p.name;
  $("p-price").textContent = ntd(p.price_twd);
  $("p-nominal").textContent = p.nominal_idr ? "Face value " + idr(p.nominal_idr) : "";
  $("target-label").textContent = p.target.label;
  $("target").value = "";
  $("target").placeholder = "e.g. " + p.target.example;
  $("target-hint").textContent = p.target.hint;
  $("zone-box").hidden = !p.target.needs_zone;
  $("zone").value = "";
  $("zone").placeholder = p.target.zone_example ? "e.g. " + p.target.zone_example : "";
  $("promo").value = "";
  $("quote").hidden = true;
  clearErrors();
  show("product");
}

function clearErrors() {
  for (const id of ["target", "zone", "promo", "form"]) { $(id + "-error").hidden = true; }
  for (const id of ["target", "zone", "promo"]) $(id).classList.remove("bad");
}

function showProblem(err) {
  const field = err.problem?.field || "";
  const box = field.endsWith(".target") ? "target" : field.endsWith(".zone") ? "zone"
            : field === "promo_code" ? "promo" : "form";
  $(box + "-error").textContent = err.message;
  $(box + "-error").hidden = false;
  if (box !== "form") $(box).classList.add("bad");
}

function orderBody() {
  const body = { items: [{ product_code: state.product.code, target: $("target").value.trim() }] };
  if (!$("zone-box").hidden) body.items[0].zone = $("zone").value.trim();
  const promo = $("promo").value.trim();
  if (promo) body.promo_code = promo;
  return body;
}

async function placeOrder(ev) {
  ev.preventDefault();
  clearErrors();
  const body = orderBody();
  const fingerprint = JSON.stringify(body);
  // one Idempotency-Key per order attempt: a retry of the same form reuses it, so it cannot order twice
  if (!state.attempt || state.attempt.fingerprint !== fingerprint) {
    state.attempt = { fingerprint, key: crypto.randomUUID() };
  }
  const button = $("place-order");
  button.disabled = true;
  try {
    const q = await api("/quote", { method: "POST", body });
    renderQuote(q);
    const order = await api("/orders", { method: "POST", body,
                                         headers: { "Idempotency-Key": state.attempt.key } });
    state.attempt = null;
    openOrder(order);
  } catch (err) {
    showProblem(err);
  } finally {
    button.disabled = false;
  }
}

function renderQuote(q) {
  const box = $("quote");
  box.replaceChildren();
  for (const line of q.items) {
    const row = el("div", "line");
    row.append(el("span", "", `${line.product_name} → ${line.target}${line.zone ? " (" + line.zone + ")" : ""}`),
               el("span", "", ntd(line.price_twd)));
    box.append(row);
  }
  if (q.discount_twd) {
    const row = el("div", "line");
    row.append(el("span", "", "Promo " + q.promo_code), el("span", "", "−" + ntd(q.discount_twd)));
    box.append(row);
  }
  const sum = el("div", "line sum");
  sum.append(el("span", "", "To pay"), el("span", "", ntd(q.amount_twd)));
  box.append(sum);
  box.hidden = false;
}

// --- orders ---------------------------------------------------------------------------------------------
function openOrder(order) {
  state.order = order;
  sessionStorage.setItem("esa.order", String(order.id));
  renderOrder(order);
  show("order");
  if (!order.final) startPolling(order.id);
}

function renderOrder(o) {
  $("o-id").textContent = "#" + o.id;
  const badge = $("order-status");
  badge.textContent = o.status;
  badge.className = "badge " + o.status_colour;
  $("o-status-text").textContent = o.status_text;
  $("o-amount").textContent = ntd(o.amount_twd);
  $("o-ref").textContent = o.reference;
  const items = $("o-items");
  items.replaceChildren();
  for (const it of o.items) {
    const row = el("div", "oitem");
    const head = el("div", "row");
    head.append(el("span", "", it.product_name), el("span", "price", ntd(it.price_twd)));
    row.append(head, el("div", "muted small", `To ${it.target}${it.zone ? " (" + it.zone + ")" : ""} · ${it.status_text}`));
    if (it.delivered_code) {
      const code = el("div", "small");
      code.append("Code: ", el("span", "code", it.delivered_code));
      row.append(code);
    }
    items.append(row);
  }
  $("pay").hidden = !o.checkout_url;
  $("pay").textContent = "Pay " + ntd(o.amount_twd) + " with ECPay";
  $("o-watch").hidden = o.final;
}

async function pay() {
  $("pay-error").hidden = true;
  // opened at once, inside the tap, so the browser does not block it; pointed at ECPay once we know where
  const win = window.open("", "_blank");
  try {
    const c = await api(`/orders/${state.order.id}/checkout`);
    if (win) { win.location.href = c.checkout_url; } else { location.assign(c.checkout_url); }
    startPolling(state.order.id);
  } catch (err) {
    if (win) win.close();
    $("pay-error").textContent = err.message;
    $("pay-error").hidden = false;
  }
}

function startPolling(id) {
  stopPolling();
  state.poll = setInterval(async () => {
    try {
      const o = await api(`/orders/${id}`);
      state.order = o;
      renderOrder(o);
      if (o.final) stopPolling();
    } catch (err) { /* keep polling through a blip; a 401 signs out */ }
  }, 1500);
}

function stopPolling() { if (state.poll) clearInterval(state.poll); state.poll = null; }

async function openOrders(reset = true) {
  stopPolling();
  if (reset) { $("orders").replaceChildren(); state.nextBefore = null; }
  const q = new URLSearchParams({ limit: "10" });
  if (state.nextBefore) q.set("before", state.nextBefore);
  const page = await api("/orders?" + q);
  for (const o of page.orders) {
    const item = el("button", "item");
    const left = el("div");
    left.append(el("div", "name", `#${o.id} · ${o.items.map((i) => i.product_name).join(", ")}`),
                el("div", "sub", new Date(o.created_at).toLocaleString()));
    const badge = el("span", "badge " + o.status_colour, o.status);
    item.append(left, badge);
    item.onclick = () => openOrder(o);
    $("orders").append(item);
  }
  if (!page.orders.length && reset) $("orders").append(el("p", "muted", "No orders yet."));
  state.nextBefore = page.next_before;
  $("more-orders").hidden = !page.next_before;
  show("orders");
}

// --- wiring ---------------------------------------------------------------------------------------------
function wire() {
  $("login").onclick = startLogin;
  $("order-form").onsubmit = placeOrder;
  $("pay").onclick = pay;
  $("more-orders").onclick = () => openOrders(false);
  for (const t of document.querySelectorAll(".tab")) {
    t.onclick = () => (t.dataset.tab === "orders" ? openOrders() : openShop());
  }
  for (const b of document.querySelectorAll(".back")) {
    b.onclick = () => (b.dataset.back === "orders" ? openOrders() : openShop());
  }
}

async function main() {
  wire();
  try {
    state.config = await api("/app-config");
    await completeSignIn();
  } catch (err) {
    $("signin-error").textContent = err.message;
    $("signin-error").hidden = false;
  }
  if (!token()) { show("signin"); return; }
  try {
    const current = sessionStorage.getItem("esa.order");
    await openShop();
    if (current) openOrder(await api(`/orders/${current}`));
  } catch (err) {
    if (token()) { $("form-error").textContent = err.message; }
  }
}

main();
