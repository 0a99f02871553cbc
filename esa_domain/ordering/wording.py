"""What a customer reads beyond a state's name, in each language (Bahasa Indonesia first): why an item was not
delivered, when refunded money comes back for their payment method, why a payment did not go through, and the
LINE messages. A state's own wording lives in esa_domain/core/states.py; this is the rest."""

from __future__ import annotations

from esa_domain.core.states import LANGUAGES

OFFLINE_PREFIXES = ("ATM", "CVS", "BARCODE", "WEBATM")


def language_of(value: str | None) -> str:
    """One of LANGUAGES; anything else reads Bahasa Indonesia."""
    return value if value in LANGUAGES else "id"


def _pick(table: dict[str, str], language: str) -> str:
    return table.get(language) or table["id"]


def is_offline(payment_method: str | None) -> bool:
    return bool(payment_method) and payment_method.upper().startswith(OFFLINE_PREFIXES)  # type: ignore[union-attr]


# why an item was not delivered, by the failure class of its last supplier attempt
_REASONS = {
    "customer": {
        "id": "Nomor tujuan ditolak oleh operator. Periksa nomornya lalu pesan lagi.",
        "en": "The operator refused the number. Check it and order again.",
        "zh-Hant": "電信業者拒絕了這個號碼。請確認號碼後重新下單。",
    },
    "unavailable": {
        "id": "Produk ini sedang habis di semua pemasok kami.",
        "en": "This product is out of stock at all our suppliers right now.",
        "zh-Hant": "所有供應商目前都缺貨。",
    },
}


def failure_reason(failure_class: str | None, language: str) -> str:
    """Why the item was not delivered, for the customer (the wrong number is theirs to fix; the rest is ours)."""
    return _pick(_REASONS["customer" if failure_class == "customer" else "unavailable"], language)


_REFUND_CARD = {
    "id": "Dana kembali ke kartu kredit Anda dalam 7–14 hari, tergantung bank Anda.",
    "en": "The money returns to your credit card within 7–14 days, depending on your bank.",
    "zh-Hant": "款項將於 7–14 天內退回您的信用卡（依發卡銀行而定）。",
}
_REFUND_OFFLINE = {
    "id": "Anda membayar di ATM atau minimarket: tim kami menghubungi Anda lewat LINE untuk mengembalikan dana "
    "dengan transfer bank dalam 3 hari kerja.",
    "en": "You paid at an ATM or a convenience store: our team contacts you on LINE to return the money by bank "
    "transfer within 3 working days.",
    "zh-Hant": "您是在 ATM 或超商付款：我們的客服會在 3 個工作天內透過 LINE 與您聯繫，以銀行轉帳退款。",
}


def refund_when(payment_method: str | None, language: str) -> str:
    """When refunded money comes back, for the way the customer paid."""
    return _pick(_REFUND_OFFLINE if is_offline(payment_method) else _REFUND_CARD, language)


_SECOND_PAYMENT = {
    "refunding": {
        "id": "Pesanan ini terbayar dua kali. Pembayaran kedua sebesar NT${amount} sedang dikembalikan; "
        "pesanan tetap dikirim satu kali saja.",
        "en": "This order was paid twice. The second payment of NT${amount} is being refunded; the order is "
        "delivered once.",
        "zh-Hant": "此訂單付款了兩次。第二筆 NT${amount} 付款正在退款，訂單只會交付一次。",
    },
    "refunded": {
        "id": "Pesanan ini terbayar dua kali. Pembayaran kedua sebesar NT${amount} sudah dikembalikan.",
        "en": "This order was paid twice. The second payment of NT${amount} has been refunded.",
        "zh-Hant": "此訂單付款了兩次。第二筆 NT${amount} 付款已退款。",
    },
}


def second_payment(amount_twd: int, refunded: bool, payment_method: str | None, language: str) -> str:
    """What the customer reads when the same order was paid twice (two hand-offs both paid at ECPay)."""
    if refunded:
        return _pick(_SECOND_PAYMENT["refunded"], language).format(amount=amount_twd)
    head = _pick(_SECOND_PAYMENT["refunding"], language).format(amount=amount_twd)
    return f"{head} {refund_when(payment_method, language)}"


_DECLINED = {
    "id": "Pembayaran tidak berhasil ({msg}). Tidak ada dana yang ditarik. Silakan bayar lagi.",
    "en": "The payment did not go through ({msg}). Nothing was charged. You can pay again.",
    "zh-Hant": "付款未成功（{msg}）。沒有扣款，您可以再付一次。",
}
_NOT_FINISHED = {
    "id": "Pembayaran belum selesai. Tidak ada dana yang ditarik. Silakan bayar lagi.",
    "en": "The payment was not finished. Nothing was charged. You can pay again.",
    "zh-Hant": "付款尚未完成，沒有扣款。您可以再付一次。",
}


def payment_problem(rtn_code: str | None, rtn_msg: str | None, language: str) -> str:
    """What to tell a customer whose last hand-off to ECPay did not pay."""
    if rtn_code:
        return _pick(_DECLINED, language).format(msg=f"ECPay {rtn_code}")
    return _pick(_NOT_FINISHED, language)


_CODE_KIND = {
    "ATM": {"id": "Transfer ATM", "en": "ATM transfer", "zh-Hant": "ATM 轉帳"},
    "CVS": {"id": "Kode bayar minimarket", "en": "Convenience-store code", "zh-Hant": "超商代碼繳費"},
    "BARCODE": {"id": "Barcode minimarket", "en": "Convenience-store barcode", "zh-Hant": "超商條碼繳費"},
}


def payment_code_title(payment_type: str | None, language: str) -> str:
    kind = (payment_type or "").upper().split("_")[0]
    return _pick(_CODE_KIND.get(kind, _CODE_KIND["ATM"]), language)


LABELS = {
    "order": {"id": "Pesanan", "en": "Order", "zh-Hant": "訂單"},
    "bank": {"id": "Kode bank", "en": "Bank code", "zh-Hant": "銀行代碼"},
    "account": {"id": "Nomor rekening virtual", "en": "Virtual account", "zh-Hant": "虛擬帳號"},
    "code": {"id": "Kode bayar", "en": "Payment code", "zh-Hant": "繳費代碼"},
    "barcode": {"id": "Barcode", "en": "Barcode", "zh-Hant": "條碼"},
    "amount": {"id": "Jumlah", "en": "Amount", "zh-Hant": "金額"},
    "pay_by": {"id": "Bayar sebelum", "en": "Pay by", "zh-Hant": "繳費期限"},
    "serial": {"id": "Nomor serial", "en": "Serial number", "zh-Hant": "序號"},
    "pin": {"id": "PIN", "en": "PIN", "zh-Hant": "PIN 碼"},
    "voucher_code": {"id": "Kode voucher", "en": "Voucher code", "zh-Hant": "兌換碼"},
    "token": {"id": "Token listrik", "en": "PLN token", "zh-Hant": "電力儲值碼"},
    "customer_name": {"id": "Nama pelanggan", "en": "Customer name", "zh-Hant": "用戶名稱"},
    "tariff": {"id": "Tarif/Daya", "en": "Tariff/power", "zh-Hant": "費率/功率"},
    "kwh": {"id": "kWh", "en": "kWh", "zh-Hant": "度數 (kWh)"},
    "to": {"id": "Tujuan", "en": "To", "zh-Hant": "對象"},
}


def label(key: str, language: str) -> str:
    return _pick(LABELS[key], language)


MESSAGES = {
    "paid": {
        "id": "Pembayaran NT${amount} untuk pesanan #{order} sudah kami terima. Pesanan Anda sedang dikirim.",
        "en": "We received your NT${amount} payment for order #{order}. Your top-up is on its way.",
        "zh-Hant": "已收到訂單 #{order} 的 NT${amount} 付款，正在為您儲值。",
    },
    "received": {  # the first words of a settled order's message when no "paid" message went before it
        "id": "Pembayaran NT${amount} sudah kami terima.",
        "en": "We received your NT${amount} payment.",
        "zh-Hant": "已收到您的 NT${amount} 付款。",
    },
    # the order's e-invoice (統一發票, issue 19): its number and random code, then where it went
    "invoice": {
        "id": "Faktur elektronik (統一發票) pesanan #{order}: nomor {number}, kode acak {code}, NT${amount}.",
        "en": "E-invoice (統一發票) for order #{order}: number {number}, random code {code}, NT${amount}.",
        "zh-Hant": "訂單 #{order} 的電子發票：發票號碼 {number}，隨機碼 {code}，金額 NT${amount}。",
    },
    "invoice_none": {
        "id": "Disimpan di pembawa anggota ECPay; undian faktur dicek otomatis.",
        "en": "Kept in ECPay's member carrier; the invoice lottery is checked for you.",
        "zh-Hant": "已存入綠界會員載具，將自動為您對獎。",
    },
    "invoice_mobile": {
        "id": "Disimpan ke barcode ponsel Anda {value}.",
        "en": "Saved to your mobile barcode {value}.",
        "zh-Hant": "已存入您的手機條碼 {value}。",
    },
    "invoice_donation": {
        "id": "Didonasikan dengan kode donasi {value}. Terima kasih!",
        "en": "Donated with love code {value}. Thank you!",
        "zh-Hant": "已捐贈予愛心碼 {value}，謝謝您！",
    },
    "delivered": {
        "id": "Pesanan #{order} sudah terkirim.",
        "en": "Order #{order} is delivered.",
        "zh-Hant": "訂單 #{order} 已完成。",
    },
    "partial": {
        "id": "Pesanan #{order} hanya sebagian terkirim. Sisanya NT${refund} akan dikembalikan.",
        "en": "Order #{order} was only partly delivered. The rest, NT${refund}, will be refunded.",
        "zh-Hant": "訂單 #{order} 只完成了一部分，其餘 NT${refund} 將退還給您。",
    },
    "failed": {
        "id": "Maaf, pesanan #{order} tidak bisa dikirim. NT${refund} akan dikembalikan.",
        "en": "Sorry, order #{order} could not be delivered. NT${refund} will be refunded.",
        "zh-Hant": "很抱歉，訂單 #{order} 無法完成，NT${refund} 將退還給您。",
    },
    "refunded": {
        "id": "NT${refund} untuk pesanan #{order} sudah dikembalikan.",
        "en": "NT${refund} for order #{order} has been refunded.",
        "zh-Hant": "訂單 #{order} 的 NT${refund} 已退款。",
    },
    "payment_code": {
        "id": "Pesanan #{order}: bayar NT${amount} dengan {method} sebelum {pay_by}.",
        "en": "Order #{order}: pay NT${amount} by {method} before {pay_by}.",
        "zh-Hant": "訂單 #{order}：請於 {pay_by} 前以{method}繳費 NT${amount}。",
    },
    "reminder": {
        "id": "Pengingat: pesanan #{order} belum dibayar. Batas waktunya {pay_by}.",
        "en": "Reminder: order #{order} is not paid yet. The deadline is {pay_by}.",
        "zh-Hant": "提醒：訂單 #{order} 尚未付款，繳費期限為 {pay_by}。",
    },
    "open": {
        "id": "Lihat pesanan: {link}",
        "en": "See the order: {link}",
        "zh-Hant": "查看訂單：{link}",
    },
}


def message(kind: str, language: str, **values: object) -> str:
    return _pick(MESSAGES[kind], language).format(**values)
