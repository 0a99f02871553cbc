"""The pages a payer sees around ECPay (the result page after paying, and the refusals of the hand-off), in the
customer's language, styled like the Mini App, always with the way back into it."""

from __future__ import annotations

from datetime import timedelta, timezone
from html import escape
from typing import Any

from esa_domain.core.states import PAYMENT, PaymentStatus
from esa_domain.ordering import wording
from esa_domain.payments.checkout import LastCheckout

TAIPEI = timezone(timedelta(hours=8))
_W: dict[str, dict[str, str]] = {
    "back": {"id": "Kembali ke ESA", "en": "Back to ESA", "zh-Hant": "返回 ESA"},
    "pay_again": {"id": "Bayar lagi", "en": "Pay again", "zh-Hant": "再付一次"},
    "order": {"id": "Pesanan", "en": "Order", "zh-Hant": "訂單"},
    "checking": {
        "id": "Kami sedang memeriksa pembayaran Anda…",
        "en": "Checking your payment…",
        "zh-Hant": "正在確認您的付款…",
    },
    "not_yet": {
        "id": "Pembayaran Anda belum kami terima. Jika sudah membayar, statusnya muncul di aplikasi; jika belum, "
        "Anda bisa bayar lagi.",
        "en": "We have not received your payment. If you paid, the app shows it as soon as ECPay tells us; "
        "if not, you can pay again.",
        "zh-Hant": "我們尚未收到您的付款。若您已付款，收到綠界通知後會顯示在 App 中；若尚未付款，可以再付一次。",
    },
    "code_intro": {
        "id": "Bayar dengan kode ini sebelum batas waktu. Kami kirim juga ke LINE Anda.",
        "en": "Pay with this code before the deadline. We also sent it to you in LINE.",
        "zh-Hant": "請在期限前以此代碼繳費，我們也已透過 LINE 傳送給您。",
    },
    "delivering": {
        "id": "Halaman ini diperbarui sendiri.",
        "en": "This page updates by itself.",
        "zh-Hant": "此頁面會自動更新。",
    },
    "not_found": {
        "id": "Pesanan tidak ditemukan",
        "en": "Order not found",
        "zh-Hant": "找不到訂單",
    },
    "not_found_text": {
        "id": "Tidak ada pesanan dengan nomor pembayaran ini.",
        "en": "There is no order with this payment reference.",
        "zh-Hant": "沒有這個付款編號的訂單。",
    },
    "not_payable": {
        "id": "Pesanan ini tidak bisa dibayar lagi",
        "en": "This order cannot be paid now",
        "zh-Hant": "這筆訂單目前無法付款",
    },
    "taking_you": {
        "id": "Membuka halaman pembayaran ECPay…",
        "en": "Taking you to ECPay's payment page…",
        "zh-Hant": "正在前往綠界付款頁面…",
    },
    "continue": {"id": "Lanjut ke pembayaran", "en": "Continue to payment", "zh-Hant": "前往付款"},
    "order_again": {
        "id": "Silakan buat pesanan baru di aplikasi.",
        "en": "Place a new order in the app.",
        "zh-Hant": "請在 App 中重新下單。",
    },
}
_CSS = """
:root { --green: #06c755; --ink: #1f2328; --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans TC", sans-serif; color: var(--ink);
       background: #f5f6f8; font-size: 16px; }
.bar { display: flex; align-items: center; gap: .5rem; padding: .75rem 1rem; background: #fff; font-weight: 700;
       border-bottom: 1px solid var(--line); }
.logo { width: 1.8rem; height: 1.8rem; border-radius: .5rem; background: var(--green); color: #fff;
        display: inline-flex; align-items: center; justify-content: center; }
main { max-width: 480px; margin: 0 auto; padding: 1rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 1rem; padding: 1.1rem; }
h1 { font-size: 1.2rem; margin: .2rem 0 .6rem; }
.muted { color: var(--muted); font-size: .9rem; }
.btn { display: block; width: 100%; padding: .9rem; border-radius: .75rem; font-size: 1rem; font-weight: 600;
       text-align: center; text-decoration: none; margin-top: .8rem; border: 1px solid var(--green); }
.btn.primary { background: var(--green); color: #fff; }
button.btn { cursor: pointer; font-family: inherit; }
.btn.ghost { background: #fff; color: var(--green); }
.badge { display: inline-block; font-size: .78rem; font-weight: 700; padding: .25rem .6rem; border-radius: 1rem; }
.badge.gray { background: #eef0f3; color: #4a5260; } .badge.blue { background: #e3f0ff; color: #0b5cad; }
.badge.green { background: #dcf7e6; color: #08752f; } .badge.amber { background: #fff4d6; color: #8a5a00; }
.badge.orange { background: #ffeadb; color: #a04a00; } .badge.red { background: #fde7e7; color: #c62828; }
.badge.purple { background: #efe6fb; color: #5b2d9e; }
.problem { background: #fde7e7; color: #8e1c1c; border-radius: .6rem; padding: .7rem; margin: .6rem 0; }
dl.code { display: grid; grid-template-columns: auto 1fr; gap: .35rem .8rem; margin: .8rem 0; }
dl.code dt { color: var(--muted); } dl.code dd { margin: 0; font-family: ui-monospace, monospace; font-weight: 700; }
"""


def _t(key: str, lang: str) -> str:
    return _W[key].get(lang) or _W[key]["id"]


def page(title: str, body: str, lang: str, *, refresh: str | None = None) -> str:
    meta = f'<meta http-equiv="refresh" content="3;url={escape(refresh)}">' if refresh else ""
    return (
        f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">{meta}'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · ESA</title><style>{_CSS}</style></head><body>"
        '<header class="bar"><span class="logo">E</span> ESA</header>'
        f'<main><section class="card">{body}</section></main></body></html>'
    )


def _buttons(lang: str, app_link: str, pay_again: str | None) -> str:
    out = ""
    if pay_again:
        out += f'<a id="pay-again" class="btn primary" href="{escape(pay_again)}">{escape(_t("pay_again", lang))}</a>'
    cls = "ghost" if pay_again else "primary"
    out += f'<a id="back-to-app" class="btn {cls}" href="{escape(app_link)}">{escape(_t("back", lang))}</a>'
    return out


def not_found(lang: str) -> str:
    return page(
        _t("not_found", lang),
        f"<h1>{escape(_t('not_found', lang))}</h1><p>{escape(_t('not_found_text', lang))}</p>"
        f'<a id="back-to-app" class="btn primary" href="/app/">{escape(_t("back", lang))}</a>',
        lang,
    )


def not_payable(payment_id: int, status: str, lang: str, app_link: str) -> str:
    words = PAYMENT.customer_text(status, lang)
    body = (
        f"<h1>{escape(_t('not_payable', lang))}</h1>"
        f"<p>{escape(_t('order', lang))} #{payment_id}: {escape(words)}. {escape(_t('order_again', lang))}</p>"
        + _buttons(lang, app_link, None)
    )
    return page(_t("not_payable", lang), body, lang)


def _code_block(last: LastCheckout, amount: int, lang: str) -> str:
    rows: list[tuple[str, str]] = []
    if last.v_account:
        rows += [
            (wording.label("bank", lang), last.bank_code or ""),
            (wording.label("account", lang), last.v_account),
        ]
    if last.payment_no:
        rows.append((wording.label("code", lang), last.payment_no))
    for b in last.barcodes:
        rows.append((wording.label("barcode", lang), b))
    rows.append((wording.label("amount", lang), f"NT${last.info_amount_twd or amount}"))
    if last.pay_by:
        rows.append(
            (wording.label("pay_by", lang), last.pay_by.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M"))
        )
    cells = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    return (
        f"<p><b>{escape(wording.payment_code_title(last.payment_type, lang))}</b></p>"
        f'<p class="muted">{escape(_t("code_intro", lang))}</p><dl class="code" id="payment-code">{cells}</dl>'
    )


def result(
    payment: Any, last: LastCheckout | None, lang: str, app_link: str, pay_again: str | None, tries: int
) -> str:
    """The order as it stands after the payer left ECPay. While no word came from ECPay it looks again a few
    times, then says so and offers to pay again: never a page that waits forever."""
    status = str(payment.status)
    title = PAYMENT.customer_text(status, lang)
    head = f'<span id="status" class="badge {PAYMENT[status].colour}">{escape(title)}</span>'
    here = f"/ecpay/result/{payment.merchant_trade_no}?n={tries + 1}"
    refresh = None
    extra = ""
    if status == PaymentStatus.PENDING:
        if last is not None and (last.v_account or last.payment_no or last.barcodes):
            extra = _code_block(last, payment.amount_twd, lang)
        elif last is not None and last.rtn_code:
            extra = f'<p id="problem" class="problem">{escape(wording.payment_problem(last.rtn_code, last.rtn_msg, lang))}</p>'
        elif tries < 5:
            extra = f'<p class="muted">{escape(_t("checking", lang))}</p>'
            refresh = here
        else:
            extra = f'<p id="problem" class="problem">{escape(_t("not_yet", lang))}</p>'
    elif status == PaymentStatus.PAID and tries < 40:
        extra = f'<p class="muted">{escape(_t("delivering", lang))}</p>'
        refresh = here
    order = f"{_t('order', lang)} #{payment.id} · NT${payment.amount_twd}"
    body = f"<h1>{escape(order)}</h1>{head}{extra}" + _buttons(lang, app_link, pay_again)
    return page(title, body, lang, refresh=refresh)


def handoff(action_url: str, fields: dict[str, str], lang: str) -> str:
    """The auto-submitting form that takes the payer to ECPay, in their language (every value HTML-escaped;
    the button covers a browser without JavaScript)."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    body = (
        f'<form id="ecpay-checkout" method="post" action="{escape(action_url)}" accept-charset="utf-8">'
        f"{inputs}<h1>{escape(_t('taking_you', lang))}</h1>"
        f'<button class="btn primary" type="submit">{escape(_t("continue", lang))}</button></form>'
        '<script>document.getElementById("ecpay-checkout").submit();</script>'
    )
    return page(_t("taking_you", lang), body, lang)
