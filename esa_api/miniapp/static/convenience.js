// ESA Mini App: what people expect from a top-up app (issue 17, item 6). Loaded after app.js and bills.js,
// whose helpers (api, t, el, $, show, openProduct, openOrder, renderOrder, deliveryBlock, plainRow, when) it uses.
// - The number typed first: its operator from the prefix (IAK's list, server side) and that operator's products.
// - Saved numbers with the customer's own names ("Ibu", "Adik"): chips that fill the number, saved from the form.
// - Buy again from a finished order, and its receipt: what, to whom, serial/token, NT$ amounts, method, time.
"use strict";

const conv = { saved: null, timer: null, seq: 0, detected: null, receiptOf: null, againKeys: {} };
const SAVABLE = ["phone", "pln_meter", "customer_no", "game_id"];

function convStyles() {
  const css = el("style");
  css.textContent = `
    .number-first { margin-bottom: 12px; }
    .number-first label { margin-top: 0; }
    .saved-chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0 0; }
    .saved-chip { display: inline-flex; align-items: center; border: 1px solid #cbd5e1; border-radius: 999px;
                  background: #fff; overflow: hidden; max-width: 100%; }
    .saved-chip .use { border: 0; background: none; padding: 6px 4px 6px 10px; font-size: 14px; cursor: pointer;
                       white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 240px; }
    .saved-chip .use b { font-weight: 600; }
    .saved-chip .del { border: 0; background: none; padding: 6px 10px 6px 4px; color: #64748b; cursor: pointer; }
    .save-row { display: flex; gap: 8px; margin-top: 8px; }
    .save-row input { flex: 1; min-width: 0; margin: 0; }
    .save-row .btn { width: auto; margin: 0; padding: 8px 14px; }
    .conv-actions { display: flex; gap: 8px; margin-top: 12px; }
    .conv-actions .btn { flex: 1; margin: 0; }
    .receipt .line { display: flex; justify-content: space-between; gap: 12px; padding: 4px 0; }
    .receipt .line span:last-child { text-align: right; overflow-wrap: anywhere; }
    .receipt .ritem { border-top: 1px solid #e2e8f0; padding: 8px 0; }
    .receipt .sum { font-weight: 700; border-top: 1px solid #e2e8f0; }
  `;
  document.head.append(css);
}

async function loadSaved(force = false) {
  if (conv.saved && !force) return conv.saved;
  try { conv.saved = (await api("/saved-numbers")).numbers; } catch (e) { conv.saved = conv.saved || []; }
  return conv.saved;
}

function savedChips(kinds, onUse) {
  const box = el("div", "saved-chips");
  for (const s of (conv.saved || []).filter((n) => kinds.includes(n.kind))) {
    const chip = el("span", "saved-chip");
    chip.dataset.savedId = s.id;
    const use = el("button", "use");
    use.type = "button";
    use.append(el("b", "", s.name), document.createTextNode(" · " + s.number));
    use.onclick = () => onUse(s);
    const del = el("button", "del", "×");
    del.type = "button";
    del.setAttribute("aria-label", t("delete_saved", { name: s.name }));
    del.onclick = async () => {
      try { await api(`/saved-numbers/${s.id}`, { method: "DELETE" }); } catch (e) { return; }
      await loadSaved(true);
      chip.remove();
    };
    chip.append(use, del);
    box.append(chip);
  }
  return box;
}

// --- the number typed first -------------------------------------------------------------------------------
function numberFirst() {
  let box = $("number-first");
  if (!box) {
    box = el("section", "card number-first");
    box.id = "number-first";
    const label = el("label", "", t("nf_label"));
    label.htmlFor = "nf-number";
    label.id = "nf-label";
    const input = el("input");
    input.id = "nf-number";
    input.inputMode = "tel";
    input.autocomplete = "off";
    input.addEventListener("input", () => { clearTimeout(conv.timer); conv.timer = setTimeout(detectNumber, 350); });
    const saved = el("div");
    saved.id = "nf-saved";
    const found = el("p", "notice info small");
    found.id = "nf-found";
    found.hidden = true;
    const err = el("p", "error");
    err.id = "nf-error";
    err.hidden = true;
    const list = el("div", "list");
    list.id = "nf-products";
    box.append(label, input, saved, found, err, list);
    $("categories").before(box);
  }
  $("nf-label").textContent = t("nf_label");
  $("nf-number").placeholder = t("nf_placeholder");
  $("nf-saved").replaceChildren(savedChips(["phone"], (s) => { $("nf-number").value = s.number; detectNumber(); }));
  if (conv.detected) renderDetected(conv.detected);
  return box;
}

function phoneProducts() {
  const out = [];
  for (const c of state.catalog?.categories || []) {
    if (c.kind === "postpaid") continue;
    for (const p of c.products) if (p.target.kind === "phone") out.push(p);
  }
  return out;
}

async function detectNumber() {
  const value = $("nf-number").value.trim();
  $("nf-error").hidden = true;
  $("nf-number").classList.remove("bad");
  if (value.replace(/\D/g, "").length < 10) {
    conv.detected = null;
    $("nf-found").hidden = true;
    $("nf-products").replaceChildren();
    return;
  }
  const seq = ++conv.seq;
  try {
    const d = await api("/numbers/detect?" + new URLSearchParams({ number: value }));
    if (seq !== conv.seq) return;
    conv.detected = d;
    renderDetected(d);
  } catch (err) {
    if (seq !== conv.seq) return;
    conv.detected = null;
    $("nf-found").hidden = true;
    $("nf-products").replaceChildren();
    $("nf-error").textContent = err.message;
    $("nf-error").hidden = false;
    $("nf-number").classList.add("bad");
  }
}

function renderDetected(d) {
  const found = $("nf-found");
  const who = d.saved_name ? " · " + d.saved_name : "";
  found.textContent = (d.operator_name ? t("nf_operator", { operator: d.operator_name }) : t("nf_unknown")) + who;
  found.hidden = false;
  const list = $("nf-products");
  list.replaceChildren();
  const wanted = new Set(d.product_codes);
  for (const p of phoneProducts().filter((x) => wanted.has(x.code))) {
    const item = el("button", "item");
    item.dataset.code = p.code;
    item.disabled = !p.available;
    const left = el("div");
    left.append(el("div", "name", p.name), el("div", "sub", p.available ? d.number : t("unavailable")));
    item.append(left, el("span", "price", ntd(p.price_twd)));
    item.onclick = () => { openProduct(p); fillTarget(d.number); };
    list.append(item);
  }
}

function fillTarget(number) {
  $("target").value = number;
  $("target").dispatchEvent(new Event("input"));  // the destination check (bills.js) runs as if typed
}

// --- saving a number from the order form --------------------------------------------------------------------
function productExtras(p) {
  let box = $("save-box");
  if (!box) {
    box = el("div");
    box.id = "save-box";
    const chips = el("div");
    chips.id = "form-saved";
    const row = el("div", "save-row");
    const name = el("input");
    name.id = "save-name";
    name.autocomplete = "off";
    name.maxLength = 40;
    const button = el("button", "btn ghost");
    button.id = "save-number";
    button.type = "button";
    button.onclick = saveNumber;
    row.append(name, button);
    const note = el("p", "small");
    note.id = "save-note";
    note.hidden = true;
    box.append(chips, row, note);
    $("target-error").after(box);
  }
  const kind = p.target.kind;
  box.hidden = !SAVABLE.includes(kind);
  $("save-name").value = "";
  $("save-name").placeholder = t("save_as");
  $("save-number").textContent = t("save");
  $("save-note").hidden = true;
  $("form-saved").replaceChildren(savedChips([kind], (s) => fillTarget(s.number)));
}

async function saveNumber() {
  const note = $("save-note");
  note.hidden = true;
  const body = { name: $("save-name").value, number: $("target").value.trim(), kind: state.product.target.kind };
  try {
    const saved = await api("/saved-numbers", { method: "POST", body });
    note.className = "notice info small";
    note.textContent = t("saved_ok", { name: saved.name });
    await loadSaved(true);
    $("form-saved").replaceChildren(savedChips([body.kind], (s) => fillTarget(s.number)));
  } catch (err) {
    note.className = "error small";
    note.textContent = err.message;
  }
  note.hidden = false;
}

// --- buy again and the receipt of a finished order ----------------------------------------------------------
function orderExtras(o) {
  let box = $("o-conv");
  if (!box) {
    box = el("div");
    box.id = "o-conv";
    const actions = el("div", "conv-actions");
    const again = el("button", "btn ghost");
    again.id = "buy-again";
    const receipt = el("button", "btn ghost");
    receipt.id = "show-receipt";
    actions.append(again, receipt);
    const err = el("p", "error");
    err.id = "o-conv-error";
    err.hidden = true;
    box.append(actions, err);
    $("pay-error").after(box);
  }
  box.hidden = !o.final;
  $("buy-again").textContent = t("buy_again");
  $("show-receipt").textContent = t("receipt");
  $("buy-again").onclick = () => buyAgain(o.id);
  $("show-receipt").onclick = () => openReceipt(o.id);
  $("o-conv-error").hidden = true;
}

async function buyAgain(orderId) {
  // one Idempotency-Key per "buy again" of this order until it is placed: a double tap orders once
  conv.againKeys[orderId] = conv.againKeys[orderId] || crypto.randomUUID();
  const button = $("buy-again");
  button.disabled = true;
  try {
    const order = await api(`/orders/${orderId}/again`, {
      method: "POST", headers: { "Idempotency-Key": conv.againKeys[orderId] },
    });
    delete conv.againKeys[orderId];
    openOrder(order);
  } catch (err) {
    $("o-conv-error").textContent = err.message;
    $("o-conv-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

function receiptView() {
  let view = $("view-receipt");
  if (!view) {
    view = el("main", "view");
    view.id = "view-receipt";
    view.hidden = true;
    const back = el("button", "back");
    back.id = "receipt-back";
    back.onclick = async () => openOrder(await api(`/orders/${conv.receiptOf}`));
    const card = el("section", "card receipt");
    card.id = "receipt";
    view.append(back, card);
    $("toast").before(view);
  }
  $("receipt-back").textContent = t("back_order");
  return view;
}

function rline(label, value, cls = "line") {
  const row = el("div", cls);
  row.append(el("span", "muted", label), el("span", "", value));
  return row;
}

async function openReceipt(orderId) {
  stopPolling();
  conv.receiptOf = orderId;
  let r;
  try {
    r = await api(`/orders/${orderId}/receipt`);
  } catch (err) {
    $("o-conv-error").textContent = err.message;
    $("o-conv-error").hidden = false;
    return;
  }
  receiptView();
  const card = $("receipt");
  card.replaceChildren();
  const head = el("div", "row");
  const badge = el("span", "badge " + r.status_colour, r.status_text);
  badge.id = "receipt-status";
  badge.dataset.status = r.status;
  head.append(el("h2", "", t("receipt_title", { id: r.order_id })), badge);
  card.append(head);
  if (r.paid_at) card.append(rline(t("paid_at"), when(r.paid_at)));
  if (r.finished_at) card.append(rline(t("finished_at"), when(r.finished_at)));
  if (r.payment_method) card.append(rline(t("method"), r.payment_method));
  card.append(rline(t("reference"), r.reference));
  r.items.forEach((it, i) => {
    const row = el("div", "ritem");
    row.dataset.item = String(i);
    const top = el("div", "row");
    top.append(el("span", "name", it.product_name), el("span", "price", ntd(it.price_twd)));
    const to = it.to_name ? `${it.to_name} (${it.target})` : it.target;
    const line = el("div", "row small");
    line.append(el("span", "muted", `${t("to")} ${to}${it.zone ? " · " + it.zone : ""}`),
                el("span", "badge " + (it.status === "SUCCESS" ? "green" : "gray"), it.status_text));
    row.append(top, line);
    const delivered = deliveryBlock({ id: "r" + i, delivery: it.delivery });
    if (delivered) row.append(delivered);
    card.append(row);
  });
  card.append(rline(t("subtotal"), ntd(r.subtotal_twd)));
  if (r.discount_twd) card.append(rline(t("discount"), "−" + ntd(r.discount_twd)));
  card.append(rline(t("total"), ntd(r.amount_twd), "line sum"));
  if (r.refunded_twd) card.append(rline(t("refunded"), ntd(r.refunded_twd)));
  if (r.refund_note) card.append(el("p", "notice info small", r.refund_note));
  history.replaceState(null, "", location.pathname + "#receipt=" + r.order_id);
  show("receipt");
}

// --- hooks into app.js --------------------------------------------------------------------------------------
function wireConvenience() {
  convStyles();
  const baseCatalog = renderCatalog;
  renderCatalog = function () {  // eslint-disable-line no-func-assign
    baseCatalog();
    numberFirst();
  };
  const baseShop = openShop;
  openShop = async function () {  // eslint-disable-line no-func-assign
    await loadSaved(true);
    return baseShop();
  };
  const baseProduct = openProduct;
  openProduct = function (p) {  // eslint-disable-line no-func-assign
    baseProduct(p);
    productExtras(p);
  };
  const baseOrder = renderOrder;
  renderOrder = function (o) {  // eslint-disable-line no-func-assign
    baseOrder(o);
    orderExtras(o);
  };
  const baseRerender = rerender;
  rerender = function () {  // eslint-disable-line no-func-assign
    const visible = document.querySelector(".view:not([hidden])")?.id;
    if (visible === "view-receipt" && conv.receiptOf) openReceipt(conv.receiptOf);
    else baseRerender();
  };
}

wireConvenience();
// app.js may already have drawn a view while this file loaded: give it its extras now
if (typeof state !== "undefined" && state.catalog && !$("view-shop").hidden) loadSaved().then(numberFirst);
if (typeof state !== "undefined" && state.order && !$("view-order").hidden) orderExtras(state.order);
