"""The customer API speaks the customer's language: which language a request asks for, and every problem's
`detail` in words a person understands, in Bahasa Indonesia, English or Traditional Chinese (never a schema
message such as `String should match pattern`). The stable `code` and `field` stay for programs."""

from __future__ import annotations

import re

# a tag's primary subtag -> the language we word statuses in; every Chinese tag reads Traditional (Taiwan)
_PRIMARY = {"id": "id", "in": "id", "en": "en", "zh": "zh-Hant"}


def preferred_language(accept_language: str | None, default: str = "id") -> str:
    """The most preferred language we have in `Accept-Language`, else `default` (Bahasa Indonesia: what most
    customers read first). A malformed header is read as far as it makes sense."""
    best, best_q = default, 0.0
    for part in (accept_language or "").split(","):
        tag, *params = part.split(";")
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        language = _PRIMARY.get(tag.strip().lower().split("-")[0])
        if language is not None and q > best_q:  # the first of equal preference wins
            best, best_q = language, q
    return best


def _w(id_: str, en: str | None, zh: str) -> dict[str, str]:
    return {"id": id_, "zh-Hant": zh} | ({"en": en} if en else {})


# what was wrong with a field, by the field's last part (for schema validation failures)
_FIELDS = {
    "target": _w(
        "Nomor tujuan tidak bisa dipakai: periksa lagi (tanpa simbol, paling banyak 64 karakter).",
        "The destination number cannot be used: check it (no symbols, at most 64 characters).",
        "目的號碼無法使用：請再確認（不可有符號，最多 64 個字元）。",
    ),
    "zone": _w(
        "Zone ID tidak valid: hanya angka, paling banyak 20 karakter.",
        "The zone ID is not valid: digits only, at most 20 characters.",
        "伺服器 ID 無效：只能是數字，最多 20 個字元。",
    ),
    "promo_code": _w(
        "Kode promo hanya berisi huruf, angka, - atau _ (paling banyak 40).",
        "A promo code has only letters, digits, - or _ (at most 40).",
        "優惠碼只能包含英文字母、數字、- 或 _（最多 40 個）。",
    ),
    "name": _w(
        "Beri nama 1 sampai 40 huruf untuk nomor ini, misalnya Ibu atau Adik.",
        "Give the number a name of 1 to 40 characters, such as Ibu or Adik.",
        "請為這個號碼取 1 到 40 個字的名稱，例如「媽媽」或「弟弟」。",
    ),
    "number": _w(
        "Ketik nomor tujuan (paling banyak 40 karakter).",
        "Type the destination number (at most 40 characters).",
        "請輸入目的號碼（最多 40 個字元）。",
    ),
    "product_code": _w(
        "Produk ini tidak ada. Pilih produk dari daftar.",
        "This product does not exist. Pick one from the list.",
        "沒有這個商品，請從清單中選擇。",
    ),
    "items": _w(
        "Pilih satu sampai sepuluh produk.",
        "Choose between one and ten products.",
        "請選擇一到十個商品。",
    ),
    "language": _w(
        "Pilih bahasa: Bahasa Indonesia, English atau 繁體中文.",
        "Choose a language: Bahasa Indonesia, English or 繁體中文.",
        "請選擇語言：Bahasa Indonesia、English 或 繁體中文。",
    ),
    "Idempotency-Key": _w(
        "Permintaan tidak lengkap. Muat ulang aplikasi lalu coba lagi.",
        "The request was incomplete. Reload the app and try again.",
        "請求不完整，請重新載入 App 後再試一次。",
    ),
}
_ANY_FIELD = _w(
    "Permintaan tidak bisa dibaca. Muat ulang aplikasi lalu coba lagi.",
    "The request could not be read. Reload the app and try again.",
    "無法讀取這個請求，請重新載入 App 後再試一次。",
)

_TARGETS = {
    "phone": _w(
        "Nomor HP Indonesia dimulai dengan 08 (atau +62) dan berisi 10–13 angka.",
        None,
        "印尼手機號碼以 08（或 +62）開頭，共 10–13 位數字。",
    ),
    "pln_meter": _w("Nomor meter PLN terdiri dari 11 angka.", None, "PLN 電表號碼為 11 位數字。"),
    "customer_no": _w("Nomor pelanggan terdiri dari 6–20 angka.", None, "用戶編號為 6–20 位數字。"),
    "game_id": _w("ID game terdiri dari 3–20 huruf atau angka.", None, "遊戲 ID 為 3–20 個英文字母或數字。"),
    "game_id_zone": _w(
        "ID game 3–20 huruf atau angka, dan Zone ID 1–6 angka.",
        None,
        "遊戲 ID 為 3–20 個英文字母或數字，伺服器 ID 為 1–6 位數字。",
    ),
    "email": _w("Alamat e-mail tidak valid.", None, "電子郵件地址無效。"),
}

_CODES = {
    "unauthenticated": _w(
        "Sesi Anda berakhir. Masuk lagi dengan LINE.", None, "登入已逾時，請再用 LINE 登入一次。"
    ),
    "line_token_invalid": _w(
        "LINE tidak mengonfirmasi login Anda. Masuk lagi.", None, "LINE 無法確認您的登入，請重新登入。"
    ),
    "line_unavailable": _w(
        "LINE sedang tidak bisa dihubungi. Coba lagi sebentar lagi.",
        None,
        "暫時無法連線到 LINE，請稍後再試。",
    ),
    "rate_limited": _w(
        "Terlalu banyak permintaan. Coba lagi dalam {retry_after} detik.",
        None,
        "請求太頻繁，請在 {retry_after} 秒後再試。",
    ),
    "unknown_product": _FIELDS["product_code"],
    "product_unavailable": _w(
        "Produk ini sedang tidak tersedia. Pilih produk lain.", None, "這個商品目前無法供應，請選擇其他商品。"
    ),
    "promo_unknown": _w("Kode promo ini tidak ada.", None, "沒有這個優惠碼。"),
    "promo_invalid": _w("Kode promo ini tidak bisa dipakai.", None, "這個優惠碼無法使用。"),
    "promo_expired": _w("Kode promo ini sudah berakhir.", None, "這個優惠碼已過期。"),
    "promo_not_started": _w("Kode promo ini belum berlaku.", None, "這個優惠碼尚未開始。"),
    "promo_exhausted": _w("Kode promo ini sudah habis dipakai.", None, "這個優惠碼已被用完。"),
    "promo_already_used": _w("Anda sudah memakai kode promo ini.", None, "您已經使用過這個優惠碼。"),
    "promo_minimum_not_met": _w(
        "Belanja Anda belum mencapai minimum untuk kode promo ini.", None, "未達這個優惠碼的最低消費金額。"
    ),
    "fx_rate_stale": _w(
        "Harga sedang diperbarui. Coba lagi beberapa menit lagi.", None, "價格更新中，請幾分鐘後再試。"
    ),
    "idempotency_conflict": _FIELDS["Idempotency-Key"],
    "order_not_found": _w("Pesanan ini tidak ada di akun Anda.", None, "您的帳號中沒有這筆訂單。"),
    "order_not_payable": _w(
        "Pesanan ini tidak bisa dibayar lagi. Silakan buat pesanan baru.",
        None,
        "這筆訂單已無法付款，請重新下單。",
    ),
    "malformed_request": _ANY_FIELD,
    # bills and checks before paying (esa_api.customer.routes_bills)
    "bill_not_found": _w(
        "Tagihan tidak ditemukan: periksa nomor pelanggan, atau tagihan ini sudah dibayar.",
        "No bill to pay was found: check the customer number, or the bill is already paid.",
        "查無待繳帳單：請確認用戶編號，或帳單已繳清。",
    ),
    "bill_inquiry_unavailable": _w(
        "Tagihan tidak dapat dicek sekarang. Coba lagi beberapa menit lagi.",
        "The bill cannot be checked right now. Try again in a few minutes.",
        "目前無法查詢帳單，請幾分鐘後再試。",
    ),
    "bill_quote_expired": _w(
        "Waktu tagihan ini sudah habis. Cek tagihan lagi untuk jumlah terbaru.",
        "This bill's quote has expired. Check the bill again for the current amount.",
        "這筆帳單的報價已過期，請重新查詢最新金額。",
    ),
    "bill_quote_used": _w(
        "Tagihan ini sudah dipesan. Buka pesanan Anda untuk melihatnya.",
        "This bill has already been ordered. Open your orders to follow it.",
        "這筆帳單已下單，請到訂單中查看。",
    ),
    "bill_inquiry_not_found": _w(
        "Cek tagihan ini tidak ada di akun Anda.", None, "您的帳號中沒有這筆帳單查詢。"
    ),
    "operator_mismatch": _w(
        "Nomor ini nomor {number_operator}, sedangkan produk ini untuk {product_operator}. "
        "Pilih produk {number_operator}.",
        None,
        "這是 {number_operator} 的號碼，但此商品只能儲值 {product_operator}，請選擇 {number_operator} 的商品。",
    ),
    "saved_number_invalid": _w(
        "Beri nama 1 sampai 40 huruf untuk nomor ini, misalnya Ibu atau Adik.",
        "Give the number a name of 1 to 40 characters, such as Ibu or Adik.",
        "請為這個號碼取 1 到 40 個字的名稱，例如「媽媽」或「弟弟」。",
    ),
    "saved_number_limit": _w(
        "Anda bisa menyimpan {limit} nomor. Hapus nomor yang tidak dipakai lagi dulu.",
        None,
        "最多可儲存 {limit} 個號碼，請先刪除不再使用的號碼。",
    ),
    "saved_number_not_found": _w(
        "Nomor tersimpan ini tidak ada di akun Anda.", None, "您的帳號中沒有這個已儲存的號碼。"
    ),
    "nothing_to_buy_again": _w(
        "Produk di pesanan ini sudah tidak dijual lagi. Pilih produk dari daftar.",
        "The products of this order are no longer on sale. Pick one from the list.",
        "這筆訂單的商品已停售，請從清單中選擇。",
    ),
    # the e-invoice carrier (issue 19; esa_api.customer.routes_invoice, esa_domain.invoicing.carrier)
    "invoice_carrier_kind": _w(
        "Pilih cara menerima e-invoice: tanpa, barcode ponsel (手機條碼) atau kode donasi (捐贈碼).",
        "Choose how to receive the e-invoice: none, a mobile barcode (手機條碼) or a donation code (捐贈碼).",
        "請選擇電子發票的收取方式：不指定、手機條碼或捐贈碼。",
    ),
    "invoice_carrier_mobile_format": _w(
        "Barcode ponsel (手機條碼) dimulai dengan / lalu 7 huruf besar, angka, atau tanda + - . "
        "(contoh /ABC+123).",
        "A mobile barcode (手機條碼) is / followed by 7 capital letters, digits or + - . (like /ABC+123).",
        "手機條碼為「/」加上 7 個大寫英文字母、數字或 + - . 符號（例如 /ABC+123）。",
    ),
    "invoice_carrier_love_code_format": _w(
        "Kode donasi (捐贈碼) terdiri dari 3 sampai 7 angka.",
        "A donation code (捐贈碼) has 3 to 7 digits.",
        "捐贈碼為 3 到 7 位數字。",
    ),
    "invoice_carrier_mobile_not_found": _w(
        "Barcode ponsel ini tidak terdaftar di sistem e-invoice Taiwan. Periksa lagi di aplikasi e-invoice "
        "Anda, atau pilih tanpa.",
        "This mobile barcode is not registered with Taiwan's e-invoice platform. Check it in your e-invoice "
        "app, or choose none.",
        "此手機條碼未在財政部電子發票平台註冊，請在您的發票 App 中確認，或選擇不指定。",
    ),
    "invoice_carrier_love_code_not_found": _w(
        "Kode donasi ini tidak terdaftar. Periksa lagi, atau pilih tanpa.",
        "This donation code is not registered. Check it, or choose none.",
        "查無此捐贈碼，請再確認，或選擇不指定。",
    ),
    "invoice_carrier_unavailable": _w(
        "Barcode atau kode ini belum bisa dicek sekarang. Coba lagi sebentar lagi, atau pilih tanpa.",
        "The barcode or code cannot be checked right now. Try again in a moment, or choose none.",
        "目前無法驗證此條碼或捐贈碼，請稍後再試，或選擇不指定。",
    ),
    "receipt_not_ready": _w(
        "Pesanan ini belum selesai. Struk tersedia setelah selesai.",
        "This order is not finished yet. Its receipt comes when it is.",
        "這筆訂單尚未完成，完成後即可查看收據。",
    ),
}


def _last_part(field: str | None) -> str:
    if not field:
        return ""
    return re.split(r"[.\]]", field.rstrip("]"))[-1].split("[")[0] or field


def human_detail(
    code: str, detail: str, language: str, *, field: str | None = None, params: dict | None = None
) -> str:
    """`detail` in `language`, in a person's words. English keeps the domain's own (already human) message,
    except for schema validation, whose text is a programmer's."""
    params = params or {}
    table: dict[str, str] | None = None
    if code == "validation_failed":
        table = _FIELDS.get(_last_part(field), _ANY_FIELD)
    elif code == "invalid_target":
        table = _TARGETS.get(str(params.get("kind", "")), _FIELDS["target"])
    else:
        table = _CODES.get(code)
    if table is None or language not in table:
        return detail
    try:
        return table[language].format(**params)
    except (KeyError, IndexError):
        return detail
