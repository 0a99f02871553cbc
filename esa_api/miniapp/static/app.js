// ESA Mini App: sign-in through LIFF (the SDK bundled in vendor/liff.js; the demo's stand-in in liff-sandbox.js),
// catalog, order, ECPay hand-off in the same window and back, then watch the order until it settles.
// Every word is in the customer's language (i18n.js), remembered on their customer row.
"use strict";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);
const state = { config: null, liff: null, catalog: null, category: null, product: null, attempt: null,
                order: null, poll: null, pollDelay: 4000, pollSince: 0, nextBefore: null,
                lang: localStorage.getItem("esa.lang") || "id" };

function token() { return sessionStorage.getItem("esa.token"); }
function ntd(n) { return "NT$" + Number(n).toLocaleString("en-US"); }
function idr(n) { return "Rp " + Number(n).toLocaleString("id-ID"); }
function t(key, vars = {}) {
  const table = I18N[state.lang] || I18N.id;
  const text = table[key] ?? I18N.id[key] ?? key;
  return String(text).replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ""));
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

class ApiError extends Error {
  constructor(problem) { super(problem.detail || problem.title || t("something")); this.problem = problem; }
}

async function api(path, { method = "GET", body, headers = {} } = {}) {
  const h = { Accept: "application/json", "Accept-Language": state.lang, ...headers };
  if (token()) h.Authorization = "Bearer " + token();
  if (body !== undefined) h["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(API + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError({ code: "network", detail: t("network") });
  }
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && path !== "/auth/line") { signOut(); }
  if (!res.ok) {
    throw new ApiError({ status: res.status, retryAfter: Number(res.headers.get("Retry-After")) || 0, ...data });
  }
  return data;
}

function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + view;
  window.scrollTo(0, 0);
}

// --- language -------------------------------------------------------------------------------------------
function applyLanguage() {
  document.documentElement.lang = state.lang;
  $("lang").value = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
}

async function chooseLanguage(lang) {
  state.lang = I18N[lang] ? lang : "id";
  localStorage.setItem("esa.lang", state.lang);
  applyLanguage();
  if (token()) {
    try { await api("/me/language", { method: "PUT", body: { language: state.lang } }); } catch (e) { /* kept locally */ }
    state.catalog = null;
    rerender();
  }
}

function rerender() {
  const visible = document.querySelector(".view:not([hidden])")?.id;
  if (visible === "view-order" && state.order) refreshOrder(state.order.id);
  else if (visible === "view-orders") openOrders();
  else if (visible === "view-product" && state.product) openProduct(state.product);
  else if (visible === "view-shop") openShop();
}

// --- sign-in: LIFF (or the demo's stand-in with the same interface) --------------------------------------
async function startLiff() {
  const cfg = state.config;
  if (cfg.line_login_url) {
    state.liff = window.sandboxLiff(cfg.line_login_url, cfg.line_channel_id);
  } else if (cfg.liff_id && window.liff) {
    state.liff = window.liff;
  } else {
    throw new ApiError({ detail: t("no_liff") });
  }
  try {
    await state.liff.init({ liffId: cfg.liff_id || "" });
  } catch (e) {
    throw new ApiError({ detail: t("signin_failed") });
  }
}

async function exchangeIdToken() {
  if (!state.liff || !state.liff.isLoggedIn()) return false;
  const idToken = state.liff.getIDToken();
  if (!idToken) return false;
  const res = await api("/auth/line", { method: "POST", body: { id_token: idToken } });
  sessionStorage.setItem("esa.token", res.access_token);
  sessionStorage.setItem("esa.name", res.customer.display_name);
  // a language picked on this device is the customer's choice (remembered on their row); else their row's
  if (localStorage.getItem("esa.lang") !== null) {
    if (res.customer.language !== state.lang) {
      await api("/me/language", { method: "PUT", body: { language: state.lang } }).catch(() => {});
    }
  } else {
    state.lang = res.customer.language || "id";
    localStorage.setItem("esa.lang", state.lang);
  }
  applyLanguage();
  return true;
}

function startLogin() {
  if (!state.liff) { $("signin-error").textContent = t("no_liff"); $("signin-error").hidden = false; return; }
  state.liff.login({ redirectUri: location.href.split("#")[0] });
}

function signOut() {
  sessionStorage.removeItem("esa.token");
  if (state.liff && state.liff.logout && !state.liff.isInClient()) state.liff.logout();
  stopPolling();
  $("who").hidden = true;
  show("signin");
}

// --- shop -----------------------------------------------------------------------------------------------
async function openShop() {
  $("who").textContent = sessionStorage.getItem("esa.name") || "";
  $("who").hidden = false;
  stopPolling();
  if (!state.catalog) state.catalog = await api("/catalog");
  state.category = state.category || state.catalog.categories[0]?.code;
  renderCatalog();
  show("shop");
}

function targetWords(spec) {
  const words = (I18N[state.lang] || I18N.id).targets[spec.kind];
  return words ? { label: words[0], hint: words[1] } : { label: spec.label, hint: spec.hint };
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
    left.append(el("div", "name", p.name), el("div", "sub", p.available ? targetWords(p.target).label : t("unavailable")));
    // a bill's price is its bill's: checked first on the bill screen (bills.js)
    const bill = cat.kind === "postpaid" && window.openBill;
    item.append(left, el("span", "price", bill ? t("bill_see") : ntd(p.price_twd)));
    item.onclick = () => (bill ? window.openBill(p) : openProduct(p));
    list.append(item);
  }
}

function openProduct(p) {
  state.product = p;
  state.attempt = null;
  const words = targetWords(p.target);
  $("p-name").textContent = p.name;
  $("p-price").textContent = ntd(p.price_twd);
  $("p-nominal").textContent = p.nominal_idr ? t("face_value") + " " + idr(p.nominal_idr) : "";
  $("target-label").textContent = words.label;
  $("target").value = "";
  $("target").placeholder = t("example") + " " + p.target.example;
  $("target").inputMode = p.target.kind === "game_id" || p.target.kind === "game_id_zone" || p.target.kind === "email"
    ? "text" : "numeric";
  $("target-hint").textContent = words.hint;
  $("zone-box").hidden = !p.target.needs_zone;
  $("zone").value = "";
  $("zone").placeholder = p.target.zone_example ? t("example") + " " + p.target.zone_example : "";
  $("promo").value = "";
  $("quote").hidden = true;
  $("target-check").hidden = true;
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
    const order = await api("/orders", { method: "POST", body, headers: { "Idempotency-Key": state.attempt.key } });
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
    row.append(el("span", "", t("promo_line") + " " + q.promo_code), el("span", "", "−" + ntd(q.discount_twd)));
    box.append(row);
  }
  const sum = el("div", "line sum");
  sum.append(el("span", "", t("to_pay")), el("span", "", ntd(q.amount_twd)));
  box.append(sum);
  box.hidden = false;
}

// --- orders ---------------------------------------------------------------------------------------------
function copyRow(label, value, id) {
  const row = el("div", "copy-row");
  const text = el("div");
  text.append(el("div", "muted small", label), el("div", "code", value));
  const button = el("button", "copy", t("copy"));
  if (id) button.id = id;
  button.type = "button";
  button.onclick = async () => {
    try { await navigator.clipboard.writeText(value); } catch (e) {
      const area = el("textarea"); area.value = value; document.body.append(area); area.select();
      document.execCommand("copy"); area.remove();
    }
    button.textContent = t("copied");
    setTimeout(() => { button.textContent = t("copy"); }, 1500);
  };
  row.append(text, button);
  return row;
}

function plainRow(label, value) {
  const row = el("div", "copy-row");
  const text = el("div");
  text.append(el("div", "muted small", label), el("div", "", value));
  row.append(text);
  return row;
}

function deliveryBlock(it) {
  const box = el("div", "delivery");
  const d = it.delivery || (it.delivered_code ? { serial: it.delivered_code } : null);
  if (!d) return null;
  for (const key of ["token", "voucher_code", "pin", "serial"]) {
    if (d[key]) box.append(copyRow(t(key), d[key], `copy-${key}-${it.id}`));
  }
  for (const key of ["customer_name", "tariff", "kwh"]) {
    if (d[key]) box.append(plainRow(t(key), d[key]));
  }
  return box.childElementCount ? box : null;
}

function when(iso) {
  const locale = { id: "id-ID", en: "en-GB", "zh-Hant": "zh-TW" }[state.lang] || "id-ID";
  return new Date(iso).toLocaleString(locale, { timeZone: "Asia/Taipei", dateStyle: "medium", timeStyle: "short" });
}

function openOrder(order) {
  state.order = order;
  history.replaceState(null, "", location.pathname + "#order=" + order.id);
  renderOrder(order);
  show("order");
  if (!order.final) startPolling(order.id);
  else stopPolling();
}

function renderOrder(o) {
  $("o-id").textContent = "#" + o.id;
  const badge = $("order-status");
  badge.textContent = o.status_text;
  badge.className = "badge " + o.status_colour;
  badge.dataset.status = o.status;
  $("o-status-text").textContent = "";
  $("o-amount").textContent = ntd(o.amount_twd);
  // a promo: the items are listed at their price, so the discount that makes the total is shown above it
  $("o-discount").hidden = !o.discount_twd;
  $("o-discount-label").textContent = t("discount");
  $("o-discount-amount").textContent = o.discount_twd ? "−" + ntd(o.discount_twd) : "";
  $("o-ref").textContent = o.reference;
  $("o-problem").textContent = o.payment_problem || "";
  $("o-problem").hidden = !o.payment_problem;
  $("o-refund").textContent = o.refund_note || "";
  $("o-refund").hidden = !o.refund_note;
  $("o-second").textContent = o.second_payment_note || "";
  $("o-second").hidden = !o.second_payment_note;
  const code = $("o-code");
  code.replaceChildren();
  if (o.payment_code) {
    const c = o.payment_code;
    code.append(el("div", "name", c.method), el("div", "muted small", t("pay_code_intro")));
    if (c.v_account) { code.append(plainRow(t("bank"), c.bank_code || "")); code.append(copyRow(t("account"), c.v_account, "copy-account")); }
    if (c.payment_no) code.append(copyRow(t("pay_no"), c.payment_no, "copy-payment-no"));
    for (const b of c.barcodes) code.append(copyRow(t("barcode"), b));
    code.append(plainRow(t("amount"), ntd(c.amount_twd)));
    if (c.pay_by) code.append(plainRow(t("pay_by"), when(c.pay_by)));
  }
  code.hidden = !o.payment_code;
  const items = $("o-items");
  items.replaceChildren();
  for (const it of o.items) {
    const row = el("div", "oitem");
    const head = el("div", "row");
    head.append(el("span", "name", it.product_name), el("span", "price", ntd(it.price_twd)));
    const line = el("div", "row small");
    line.append(el("span", "muted", `${t("to")} ${it.target}${it.zone ? " (" + it.zone + ")" : ""}`),
                el("span", "badge " + it.status_colour, it.status_text));
    row.append(head, line);
    if (it.failure_reason) row.append(el("p", "reason small", it.failure_reason));
    if (it.bill && window.billBlock) row.append(window.billBlock(it.bill));  // the bill it pays (bills.js)
    const delivered = deliveryBlock(it);
    if (delivered) row.append(delivered);
    items.append(row);
  }
  const again = !!o.payment_problem;
  $("pay").hidden = !o.checkout_url || !!o.payment_code;
  $("pay").textContent = t(again ? "pay_again" : "pay", { amount: ntd(o.amount_twd) });
  $("o-watch").hidden = o.final;
}

function pay() {
  $("pay-error").hidden = true;
  // the same window: ECPay's result page leads back here (#order=<id>), never a stranded second tab
  if (state.order?.checkout_url) location.assign(state.order.checkout_url + "?lang=" + encodeURIComponent(state.lang));
}

async function refreshOrder(id) {
  const o = await api(`/orders/${id}`);
  if (state.order && state.order.id !== id) return o;
  state.order = o;
  renderOrder(o);
  return o;
}

// one order at a time, a calm cadence (4 s, then 10 s after two minutes), paused while the page is hidden;
// a 429 is shown and waited out as the server asks (Retry-After), never swallowed
function startPolling(id) {
  stopPolling();
  state.pollDelay = 4000;
  state.pollSince = Date.now();
  const tick = async () => {
    if (!state.order || state.order.id !== id) return;
    if (document.hidden) { state.poll = setTimeout(tick, 2000); return; }
    let delay = Date.now() - state.pollSince > 120000 ? 10000 : state.pollDelay;
    try {
      const o = await refreshOrder(id);
      $("o-poll-error").hidden = true;
      if (o.final) { stopPolling(); return; }
    } catch (err) {
      if (err.problem?.status === 429) {
        const s = err.problem.retryAfter || 30;
        $("o-poll-error").textContent = t("slow_down", { s });
        $("o-poll-error").hidden = false;
        delay = s * 1000;
      } else if (err.problem?.status === 401) {
        return;
      } else {
        $("o-poll-error").textContent = err.message;
        $("o-poll-error").hidden = false;
      }
    }
    state.poll = setTimeout(tick, delay);
  };
  state.poll = setTimeout(tick, state.pollDelay);
}

function stopPolling() { if (state.poll) clearTimeout(state.poll); state.poll = null; }

async function openOrders(reset = true) {
  stopPolling();
  if (reset) { $("orders").replaceChildren(); state.nextBefore = null; }
  const q = new URLSearchParams({ limit: "10" });
  if (state.nextBefore) q.set("before", state.nextBefore);
  const page = await api("/orders?" + q);
  if (reset) $("orders").replaceChildren();
  for (const o of page.orders) {
    const item = el("button", "item");
    const left = el("div");
    left.append(el("div", "name", `#${o.id} · ${o.items.map((i) => i.product_name).join(", ")}`),
                el("div", "sub", when(o.created_at)));
    item.append(left, el("span", "badge " + o.status_colour, o.status_text));
    item.onclick = () => openOrder(o);
    $("orders").append(item);
  }
  if (!page.orders.length && reset) $("orders").append(el("p", "muted", t("no_orders")));
  state.nextBefore = page.next_before;
  $("more-orders").hidden = !page.next_before;
  history.replaceState(null, "", location.pathname);
  show("orders");
}

// --- wiring ---------------------------------------------------------------------------------------------
function wire() {
  $("login").onclick = startLogin;
  $("order-form").onsubmit = placeOrder;
  $("pay").onclick = pay;
  $("lang").onchange = (e) => chooseLanguage(e.target.value);
  $("more-orders").onclick = () => openOrders(false);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.onclick = () => (tab.dataset.tab === "orders" ? openOrders() : openShop());
  }
  for (const b of document.querySelectorAll(".back")) {
    b.onclick = () => (b.dataset.back === "orders" ? openOrders() : openShop());
  }
}

function wantedOrder() {
  const m = /(?:^|&)order=(\d+)/.exec(location.hash.slice(1));
  return m ? Number(m[1]) : null;
}

async function main() {
  wire();
  applyLanguage();
  const wanted = wantedOrder();
  try {
    state.config = await api("/app-config");
    await startLiff();
    if (!token()) await exchangeIdToken();
  } catch (err) {
    $("signin-error").textContent = err.message;
    $("signin-error").hidden = false;
  }
  if (!token()) {
    // inside LINE the customer is already signed in to LINE: no button to press
    if (state.liff && state.liff.isInClient() && !state.liff.isLoggedIn()) { startLogin(); return; }
    show("signin");
    return;
  }
  try {
    if (!localStorage.getItem("esa.lang")) {
      const me = await api("/me");
      state.lang = me.language; localStorage.setItem("esa.lang", state.lang); applyLanguage();
    }
    await openShop();
    if (wanted) openOrder(await api(`/orders/${wanted}`));
  } catch (err) {
    if (token()) { show("shop"); $("form-error").textContent = err.message; }
  }
}

main();
