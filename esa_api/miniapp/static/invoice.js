// ESA Mini App: the Taiwan e-invoice (電子發票, issue 19). Loaded after app.js, bills.js and convenience.js, whose
// helpers (api, t, el, $, state, openProduct, renderOrder, orderBody, showProblem, clearErrors) it uses.
// - At checkout the customer chooses where the e-invoice goes: none (the default), their mobile barcode (手機條碼)
//   or a donation love code (捐贈碼). A wrong format is refused at once, in their language; a well-formed one is
//   checked with ECPay (POST /invoice-carrier/check) BEFORE the order is placed, so an unknown one never reaches
//   payment. "Save for next time" keeps it on their account; the next checkout starts with it.
// - The order page shows the invoice once issued: number, random code, date, carrier, allowance or invalidation.
"use strict";

const inv = { saved: null, loaded: false, chosen: null, timer: null, waitingFor: null, waitSince: 0 };
const MOBILE_RE = /^\/[0-9A-Z.+-]{7}$/;  // 手機條碼: '/' and 7 of 0-9 A-Z . + -
const LOVE_RE = /^[0-9]{3,7}$/;         // 捐贈碼: 3 to 7 digits

Object.assign(window.I18N.id, {
  inv_title: "E-invoice (電子發票)",
  inv_about: "Setiap pembelian di Taiwan mendapat faktur elektronik resmi. Simpan di barcode ponsel Anda "
    + "(bisa ikut undian faktur) atau sumbangkan lewat kode donasi. Nomornya muncul di pesanan Anda.",
  inv_none: "Tanpa", inv_mobile: "Barcode ponsel", inv_donation: "Donasi",
  inv_none_hint: "Faktur disimpan oleh ECPay untuk Anda; nomornya muncul di pesanan.",
  inv_mobile_label: "Barcode ponsel (手機條碼)", inv_mobile_hint: "Dimulai dengan / lalu 7 karakter, contoh /ABC+123",
  inv_love_label: "Kode donasi (捐贈碼)", inv_love_hint: "3–7 angka, contoh 168001",
  inv_save: "Simpan untuk lain kali", inv_checking: "Mengecek dengan ECPay…",
  inv_mobile_bad: "Barcode ponsel (手機條碼) dimulai dengan / lalu 7 huruf besar, angka, atau tanda + - . (contoh /ABC+123).",
  inv_love_bad: "Kode donasi (捐贈碼) terdiri dari 3 sampai 7 angka.",
  inv_block: "E-invoice", inv_no: "Nomor faktur", inv_random: "Kode acak", inv_date: "Tanggal",
  inv_to: "Dikirim ke", inv_to_none: "Akun ECPay", inv_to_mobile: "Barcode ponsel {v}", inv_to_donation: "Donasi, kode {v}",
  inv_allowance: "Faktur dikurangi (折讓) {amount} karena pengembalian dana",
  inv_invalidated: "Faktur dibatalkan (作廢) karena pesanan dikembalikan penuh",
  inv_pending: "Faktur dibuat setelah pesanan terkirim.",
  inv_bill_to: "E-invoice (電子發票): {to}",
});
Object.assign(window.I18N.en, {
  inv_title: "E-invoice (電子發票)",
  inv_about: "Every purchase in Taiwan gets an official electronic invoice. Keep it on your mobile barcode "
    + "(it enters the invoice lottery) or donate it with a love code. Its number appears on your order.",
  inv_none: "None", inv_mobile: "Mobile barcode", inv_donation: "Donate",
  inv_none_hint: "ECPay keeps the invoice for you; its number appears on your order.",
  inv_mobile_label: "Mobile barcode (手機條碼)", inv_mobile_hint: "/ followed by 7 characters, like /ABC+123",
  inv_love_label: "Donation code (捐贈碼)", inv_love_hint: "3 to 7 digits, like 168001",
  inv_save: "Save for next time", inv_checking: "Checking with ECPay…",
  inv_mobile_bad: "A mobile barcode (手機條碼) is / followed by 7 capital letters, digits or + - . (like /ABC+123).",
  inv_love_bad: "A donation code (捐贈碼) has 3 to 7 digits.",
  inv_block: "E-invoice", inv_no: "Invoice number", inv_random: "Random code", inv_date: "Date",
  inv_to: "Sent to", inv_to_none: "ECPay account", inv_to_mobile: "Mobile barcode {v}", inv_to_donation: "Donated, code {v}",
  inv_allowance: "Invoice reduced (折讓) by {amount} for a refund",
  inv_invalidated: "Invoice cancelled (作廢): the order was refunded in full",
  inv_pending: "The invoice is issued once the order is delivered.",
  inv_bill_to: "E-invoice (電子發票): {to}",
});
Object.assign(window.I18N["zh-Hant"], {
  inv_title: "電子發票",
  inv_about: "在台灣的每筆消費都會開立電子發票。可存入您的手機條碼載具（自動對獎），或以捐贈碼捐贈。"
    + "發票號碼會顯示在訂單中。",
  inv_none: "不指定", inv_mobile: "手機條碼", inv_donation: "捐贈",
  inv_none_hint: "發票由綠界為您保存，號碼會顯示在訂單中。",
  inv_mobile_label: "手機條碼", inv_mobile_hint: "「/」加上 7 個字元，例如 /ABC+123",
  inv_love_label: "捐贈碼", inv_love_hint: "3–7 位數字，例如 168001",
  inv_save: "記住這個設定", inv_checking: "正在向綠界驗證…",
  inv_mobile_bad: "手機條碼為「/」加上 7 個大寫英文字母、數字或 + - . 符號（例如 /ABC+123）。",
  inv_love_bad: "捐贈碼為 3 到 7 位數字。",
  inv_block: "電子發票", inv_no: "發票號碼", inv_random: "隨機碼", inv_date: "開立日期",
  inv_to: "載具", inv_to_none: "綠界會員載具", inv_to_mobile: "手機條碼 {v}", inv_to_donation: "捐贈，捐贈碼 {v}",
  inv_allowance: "因退款開立折讓 {amount}",
  inv_invalidated: "訂單全額退款，發票已作廢",
  inv_pending: "訂單完成後開立發票。",
  inv_bill_to: "電子發票：{to}",
});

function invStyles() {
  const css = el("style");
  css.textContent = `
    .carrier { margin-top: 1rem; padding: .8rem; border: 1px solid var(--line); border-radius: .75rem; background: #fafbfc; }
    .carrier h3 { font-size: .95rem; margin: 0 0 .3rem; }
    .carrier .about { margin: 0 0 .6rem; }
    .carrier-kinds { display: flex; gap: .4rem; }
    .carrier-kinds label { flex: 1; margin: 0; display: flex; align-items: center; justify-content: center; gap: .3rem;
                           border: 1px solid var(--line); border-radius: 2rem; padding: .45rem .3rem; background: #fff;
                           font-size: .85rem; font-weight: 600; cursor: pointer; text-align: center; }
    .carrier-kinds input { width: auto; margin: 0; }
    .carrier-kinds label.on { border-color: var(--green); color: var(--green); }
    .carrier .save { display: flex; align-items: center; gap: .4rem; font-weight: 400; margin: .6rem 0 0; }
    .carrier .save input { width: auto; }
    .invoice { margin-top: .8rem; padding: .3rem .7rem; border: 1px solid #cfe3ff; border-radius: .6rem; background: #f5f9ff; }
    .invoice .name { font-weight: 700; margin-top: .3rem; }
  `;
  document.head.append(css);
}

function carrierBox() {
  if ($("carrier")) return;
  const box = el("div", "carrier");
  box.id = "carrier";
  const h = el("h3", "", t("inv_title"));
  h.dataset.i18n = "inv_title";
  const about = el("p", "hint about", t("inv_about"));
  about.id = "carrier-about";
  const kinds = el("div", "carrier-kinds");
  kinds.setAttribute("role", "radiogroup");
  for (const kind of ["none", "mobile", "donation"]) {
    const label = el("label");
    const radio = el("input");
    radio.type = "radio";
    radio.name = "carrier-kind";
    radio.value = kind;
    radio.id = "carrier-" + kind;
    radio.onchange = () => carrierKindShown();
    label.append(radio, el("span", "", t("inv_" + kind)));
    kinds.append(label);
  }
  const valueLabel = el("label");
  valueLabel.htmlFor = "carrier-value";
  valueLabel.id = "carrier-value-label";
  const value = el("input");
  value.id = "carrier-value";
  value.autocomplete = "off";
  value.setAttribute("autocapitalize", "characters");
  const hint = el("p", "hint");
  hint.id = "carrier-hint";
  const error = el("p", "error");
  error.id = "carrier-error";
  error.hidden = true;
  const save = el("label", "save");
  const saveBox = el("input");
  saveBox.type = "checkbox";
  saveBox.id = "carrier-save";
  save.append(saveBox, el("span", "", t("inv_save")));
  box.append(h, about, kinds, valueLabel, value, hint, error, save);
  $("order-form").insertBefore(box, $("quote"));
}

function carrierKind() {
  return document.querySelector("input[name=carrier-kind]:checked")?.value || "none";
}

function carrierKindShown() {
  const kind = carrierKind();
  for (const r of document.querySelectorAll("input[name=carrier-kind]")) r.parentElement.classList.toggle("on", r.checked);
  const withValue = kind !== "none";
  $("carrier-value").hidden = !withValue;
  $("carrier-value-label").hidden = !withValue;
  $("carrier-value-label").textContent = kind === "mobile" ? t("inv_mobile_label") : t("inv_love_label");
  $("carrier-value").inputMode = kind === "donation" ? "numeric" : "text";
  $("carrier-value").placeholder = kind === "mobile" ? "/ABC+123" : kind === "donation" ? "168001" : "";
  carrierHint();
  carrierError(null);
}

function carrierError(message) {
  $("carrier-error").textContent = message || "";
  $("carrier-error").hidden = !message;
  $("carrier-value").classList.toggle("bad", !!message);
}

async function loadSavedCarrier() {
  if (inv.loaded) return inv.saved;
  try { inv.saved = await api("/me/invoice-carrier"); inv.loaded = true; } catch (e) { inv.saved = null; }
  return inv.saved;
}

async function carrierPrefill() {
  carrierBox();
  const saved = await loadSavedCarrier();
  const kind = saved?.kind || "none";
  $("carrier-" + kind).checked = true;
  $("carrier-value").value = saved?.value || "";
  $("carrier-save").checked = kind !== "none";
  carrierKindShown();
}

// what the customer chose, normalised as ECPay wants it; the format refused here at once, in their words
function chosenCarrier() {
  const kind = carrierKind();
  if (kind === "none") return { kind: "none", value: null };
  let value = $("carrier-value").value.trim().replace(/\s+/g, "");
  if (kind === "mobile") value = value.toUpperCase();
  $("carrier-value").value = value;
  if (kind === "mobile" && !MOBILE_RE.test(value)) throw new Error(t("inv_mobile_bad"));
  if (kind === "donation" && !LOVE_RE.test(value)) throw new Error(t("inv_love_bad"));
  return { kind, value };
}

// --- hooks into app.js --------------------------------------------------------------------------------------
function wireInvoice() {
  invStyles();
  const baseProduct = openProduct;
  openProduct = function (p) {  // eslint-disable-line no-func-assign
    baseProduct(p);
    carrierPrefill();
  };
  const baseBody = orderBody;
  orderBody = function () {  // eslint-disable-line no-func-assign
    const body = baseBody();
    const c = inv.chosen || { kind: "none", value: null };
    body.invoice_carrier = c.kind === "none" ? { kind: "none" } : { kind: c.kind, value: c.value };
    return body;
  };
  const baseShowProblem = showProblem;
  showProblem = function (err) {  // eslint-disable-line no-func-assign
    if ((err.problem?.field || "").startsWith("invoice_carrier") || (err.problem?.code || "").startsWith("invoice_carrier")) {
      carrierError(err.message);
      return;
    }
    baseShowProblem(err);
  };
  const basePlace = placeOrder;
  // the carrier first: its format here, then ECPay's word on it, before anything is ordered or paid
  $("order-form").onsubmit = async function (ev) {
    ev.preventDefault();
    carrierError(null);
    let chosen;
    try { chosen = chosenCarrier(); } catch (e) { carrierError(e.message); return; }
    const button = $("place-order");
    const save = $("carrier-save").checked;  // 'none' saved forgets a saved carrier
    if (chosen.kind !== "none" || (save && inv.saved && inv.saved.kind !== "none")) {
      button.disabled = true;
      if (chosen.kind !== "none") $("carrier-hint").textContent = t("inv_checking");
      try {
        const checked = await api("/invoice-carrier/check", { method: "POST", body: { ...chosen, save } });
        chosen = { kind: checked.kind, value: checked.value };
        if (checked.saved) inv.saved = { kind: checked.kind, value: checked.value };
      } catch (err) {
        carrierError(err.message);
        return;
      } finally {
        carrierHint();
        button.disabled = false;
      }
    }
    inv.chosen = chosen;
    return basePlace(ev);
  };
  const baseOrder = renderOrder;
  renderOrder = function (o) {  // eslint-disable-line no-func-assign
    baseOrder(o);
    invoiceBlock(o);
    awaitInvoice(o);
  };
  // a bill is ordered from its quote, its e-invoice to the saved carrier (else ECPay's member carrier): say where
  if (typeof renderBill === "function") {
    const baseBill = renderBill;
    renderBill = function (q) {  // eslint-disable-line no-func-assign
      baseBill(q);
      billCarrierNote();
    };
  }
  // an order opened from the list carries no invoice: read the order itself once
  const baseOpen = openOrder;
  openOrder = function (o) {  // eslint-disable-line no-func-assign
    baseOpen(o);
    if (o.paid_at && !o.invoice) refreshOrder(o.id).catch(() => {});
  };
}

// the invoice is issued just after delivery, often after the order's own polling stopped (final): look again
// every 5 s for two minutes while a paid, settled order waits for it
function awaitInvoice(o) {
  clearTimeout(inv.timer);
  const waiting = o.final && o.paid_at && (!o.invoice || o.invoice.status === "PENDING")
    && ["SUCCESS", "PARTIAL"].includes(o.status);
  if (!waiting) { inv.waitingFor = null; return; }
  if (inv.waitingFor !== o.id) { inv.waitingFor = o.id; inv.waitSince = Date.now(); }
  if (Date.now() - inv.waitSince > 120000) return;
  inv.timer = setTimeout(() => {
    if (state.order?.id === o.id && !$("view-order").hidden) refreshOrder(o.id).catch(() => {});
  }, 5000);
}

function carrierHint() {
  const kind = carrierKind();
  $("carrier-hint").textContent = kind === "mobile" ? t("inv_mobile_hint") : kind === "donation" ? t("inv_love_hint")
    : t("inv_none_hint");
}

function carrierTo(kind, value) {
  return kind === "mobile" ? t("inv_to_mobile", { v: value })
    : kind === "donation" ? t("inv_to_donation", { v: value }) : t("inv_to_none");
}

async function billCarrierNote() {
  const saved = await loadSavedCarrier();
  let note = $("bill-carrier");
  if (!note) {
    note = el("p", "hint");
    note.id = "bill-carrier";
    $("bill-pay").parentElement.insertBefore(note, $("bill-pay"));
  }
  note.textContent = t("inv_bill_to", { to: carrierTo(saved?.kind || "none", saved?.value) });
  note.hidden = $("bill-pay").hidden;
}

function invoiceBlock(o) {
  $("o-invoice")?.remove();
  const i = o.invoice;
  if (!i) return;
  const box = el("div", "invoice");
  box.id = "o-invoice";
  box.dataset.status = i.status;
  box.append(el("div", "name", t("inv_block")));
  if (i.invoice_no) {
    box.append(copyRow(t("inv_no"), i.invoice_no, "copy-invoice-no"));
    if (i.random_number) box.append(plainRow(t("inv_random"), i.random_number));
    if (i.issued_at) box.append(plainRow(t("inv_date"), when(i.issued_at)));
  } else {
    box.append(el("p", "muted small", i.status_text || t("inv_pending")));
  }
  box.append(plainRow(t("inv_to"), carrierTo(i.carrier_kind, i.carrier_value)));
  if (i.invalidated) box.append(el("p", "notice info small", t("inv_invalidated")));
  else if (i.allowance_twd) box.append(el("p", "notice info small", t("inv_allowance", { amount: ntd(i.allowance_twd) })));
  const total = document.querySelector("#view-order .total");
  total.parentElement.insertBefore(box, total.nextSibling);
}

wireInvoice();
if (typeof state !== "undefined" && state.product && !$("view-product").hidden) carrierPrefill();
if (typeof state !== "undefined" && state.order && !$("view-order").hidden) invoiceBlock(state.order);
