// ESA Mini App: bills and checks before paying (issue 16). Loaded after app.js, whose helpers it uses.
// A bill: the customer number (and the months for BPJS) -> the bill as the supplier knows it (name, period(s),
// amount, admin fee) and its NT$ total -> an order paying exactly that bill -> the order page (pay with ECPay).
// A top-up: the destination is checked while it is typed (the number's operator, a PLN meter's owner, a game
// player's nickname).
"use strict";

const bill = { product: null, quote: null, attempt: null, checkTimer: null, checkSeq: 0 };

function isBpjs(p) { return /bpjs/i.test(p.code + " " + p.name); }

function openBill(p) {
  stopPolling();
  bill.product = p; bill.quote = null; bill.attempt = null;
  $("b-name").textContent = p.name;
  $("bill-no").value = "";
  $("bill-no").placeholder = p.target?.example ? t("example") + " " + p.target.example : "";
  const months = $("bill-months");
  months.replaceChildren();
  for (let n = 1; n <= 12; n++) {
    const o = el("option", "", t("bill_n_months", { n }));
    o.value = String(n);
    months.append(o);
  }
  $("bill-months-box").hidden = !isBpjs(p);
  $("bill-error").hidden = true;
  $("bill-no").classList.remove("bad");
  $("bill-quote").hidden = true;
  $("bill-pay").hidden = true;
  show("bill");
}

async function checkBill(ev) {
  ev.preventDefault();
  $("bill-error").hidden = true;
  $("bill-no").classList.remove("bad");
  $("bill-quote").hidden = true;
  $("bill-pay").hidden = true;
  const body = { product_code: bill.product.code, customer_no: $("bill-no").value.trim() };
  if (!$("bill-months-box").hidden) body.months = Number($("bill-months").value);
  const button = $("bill-check");
  button.disabled = true;
  try {
    renderBill(await api("/bills/inquiries", { method: "POST", body }));
  } catch (err) {
    $("bill-error").textContent = err.message;
    $("bill-error").hidden = false;
    if (err.problem?.field) $("bill-no").classList.add("bad");
  } finally {
    button.disabled = false;
  }
}

function billLine(label, value, cls = "line") {
  const row = el("div", cls);
  row.append(el("span", "", label), el("span", "", value));
  return row;
}

function renderBill(q) {
  bill.quote = q;
  bill.attempt = null;
  const box = $("bill-quote");
  box.replaceChildren();
  if (q.customer_name) box.append(billLine(t("bill_name"), q.customer_name));
  if (q.periods) box.append(billLine(t("bill_period"), q.periods));
  if (q.bill_idr !== null) box.append(billLine(t("bill_amount"), idr(q.bill_idr)));
  if (q.admin_idr !== null) box.append(billLine(t("bill_admin"), idr(q.admin_idr)));
  if (q.total_idr !== null) box.append(billLine(t("bill_total_idr"), idr(q.total_idr)));
  box.append(billLine(t("to_pay"), ntd(q.amount_twd), "line sum"));
  if (q.expires_at) box.append(el("p", "muted small", t("bill_valid_until") + " " + when(q.expires_at)));
  box.hidden = false;
  $("bill-pay").textContent = t("bill_pay", { amount: ntd(q.amount_twd) });
  $("bill-pay").hidden = false;
}

async function orderBill() {
  const q = bill.quote;
  if (!q) return;
  // one Idempotency-Key per quote: a retry cannot order the bill twice (the server refuses a second order too)
  if (!bill.attempt || bill.attempt.id !== q.id) bill.attempt = { id: q.id, key: crypto.randomUUID() };
  const button = $("bill-pay");
  button.disabled = true;
  try {
    const order = await api(`/bills/inquiries/${q.id}/order`, {
      method: "POST", headers: { "Idempotency-Key": bill.attempt.key },
    });
    openOrder(order);
  } catch (err) {
    $("bill-error").textContent = err.message;
    $("bill-error").hidden = false;
  } finally {
    button.disabled = false;
  }
}

// --- checks before paying a top-up ----------------------------------------------------------------------
async function checkTarget() {
  const p = state.product;
  const box = $("target-check");
  const value = $("target").value.trim();
  const kind = p?.target.kind;
  const zone = $("zone-box").hidden ? "" : $("zone").value.trim();
  const ready = kind === "phone" || kind === "pln_meter" ? value.replace(/\D/g, "").length >= 10
              : kind === "game_id" ? value.length >= 3
              : kind === "game_id_zone" ? value.length >= 3 && zone.length > 0 : false;
  if (!ready) {
    box.hidden = true;
    return;
  }
  const params = { product_code: p.code, target: value };
  if (zone) params.zone = zone;
  const seq = ++bill.checkSeq;
  try {
    const c = await api("/checks?" + new URLSearchParams(params));
    if (seq !== bill.checkSeq) return;
    $("target-error").hidden = true;
    $("target").classList.remove("bad");
    const text = c.owner_name ? t("meter_owner", { name: c.owner_name, power: c.segment_power || "" })
               : c.nickname ? t("game_player", { name: c.nickname })
               : c.warning ? c.warning
               : c.operator ? t("operator_is", { operator: c.operator }) : "";
    box.textContent = text;
    box.className = "notice small " + (c.warning ? "bad" : "info");
    box.hidden = !text;
  } catch (err) {
    if (seq !== bill.checkSeq) return;
    box.hidden = true;
    // a wrong destination is said at once; a check that cannot be made says nothing (the order checks again)
    if (err.problem?.status === 422) {
      $("target-error").textContent = err.message;
      $("target-error").hidden = false;
      $("target").classList.add("bad");
    }
  }
}

function wireBills() {
  $("bill-form").onsubmit = checkBill;
  $("bill-pay").onclick = orderBill;
  for (const id of ["target", "zone"]) {
    $(id).addEventListener("input", () => {
      clearTimeout(bill.checkTimer);
      bill.checkTimer = setTimeout(checkTarget, 400);
    });
  }
}

// the bill an order's item pays, as the supplier stated it (its receipt number is in the delivery below it)
function billBlock(b) {
  const box = el("div", "delivery");
  if (b.customer_name) box.append(plainRow(t("bill_name"), b.customer_name));
  if (b.periods) box.append(plainRow(t("bill_period"), b.periods));
  if (b.total_idr !== null) box.append(plainRow(t("bill_total_idr"), idr(b.total_idr)));
  return box;
}

window.openBill = openBill;
window.billBlock = billBlock;
wireBills();
