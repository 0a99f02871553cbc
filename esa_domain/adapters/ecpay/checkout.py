"""The AioCheckOut/V5 request: the signed form fields, the auto-submitting page, and the trade number.

Pure functions: the caller supplies the clock, the keys and the URLs (shared/specs/ecpay.md, "Checkout").
"""

from __future__ import annotations

import html
import re
import string
from datetime import datetime
from zoneinfo import ZoneInfo

from esa_domain.adapters.ecpay.codec import check_mac_value

TAIPEI = ZoneInfo("Asia/Taipei")
CHECKOUT_PATH = "/Cashier/AioCheckOut/V5"
MAX_TRADE_NO = 20
MAX_ITEM_NAME = 400
PAYMENT_METHODS = frozenset({"Credit", "ATM", "CVS", "BARCODE", "WebATM", "TWQR", "ApplePay", "ALL"})
_TRADE_NO = re.compile(r"[A-Za-z0-9]{1,20}")
_BASE36 = string.digits + string.ascii_uppercase
_RANDOM_CHARS = 5
_TIME_CHARS = 6


def _item_name(item_names: list[str]) -> str:
    if not item_names or any(not name.strip() for name in item_names):
        raise ValueError("a checkout needs at least one item, and every item needs a name")
    # '&' would split the raw `k=v&...` QueryTradeInfo answer (values are not encoded), breaking its MAC
    joined = "#".join(name.replace("&", "＆") for name in item_names)
    return joined[:MAX_ITEM_NAME]


def build_checkout_fields(
    *,
    merchant_id: str,
    hash_key: str,
    hash_iv: str,
    merchant_trade_no: str,
    trade_date: datetime,
    total_amount: int,
    item_names: list[str],
    trade_desc: str,
    return_url: str,
    order_result_url: str | None,
    client_back_url: str | None,
    payment_id: int,
    choose_payment: str,
    contains_game_product: bool,
) -> dict[str, str]:
    """The signed AioCheckOut/V5 form fields for one payment, CheckMacValue included.

    `merchant_trade_no`: 1..20 letters/digits, never reused (esa_domain.ordering.orders.new_merchant_trade_no).
    `trade_date`: when the order was placed, timezone-aware; sent in Taiwan time.
    `total_amount`: whole TWD, positive.
    `item_names`: shown on ECPay's page, joined with '#' and cut to 400 characters.
    `return_url`: our server-to-server notification endpoint. `order_result_url`: where ECPay POSTs the
    browser after paying (optional). `client_back_url`: the "back to shop" link (optional).
    `payment_id`: our payment id, echoed back in CustomField1.
    `choose_payment`: Credit, ATM, CVS, BARCODE, WebATM, TWQR, ApplePay or ALL.
    `contains_game_product`: ECPay forbids selling game points through convenience-store codes (CVS).
    """
    if not _TRADE_NO.fullmatch(merchant_trade_no):
        raise ValueError(f"MerchantTradeNo must be 1 to 20 letters or digits, got {merchant_trade_no!r}")
    if trade_date.tzinfo is None or trade_date.utcoffset() is None:
        raise ValueError("trade_date must be timezone-aware (ECPay wants Taiwan time; naive is ambiguous)")
    if isinstance(total_amount, bool) or not isinstance(total_amount, int) or total_amount <= 0:
        raise ValueError(f"total_amount must be a positive whole number of TWD, got {total_amount!r}")
    if choose_payment not in PAYMENT_METHODS:
        raise ValueError(f"ChoosePayment {choose_payment!r} is not one of {sorted(PAYMENT_METHODS)}")
    if contains_game_product and choose_payment == "CVS":
        raise ValueError("game products cannot be paid by convenience-store code (CVS): choose another one")
    if not return_url:
        raise ValueError("return_url is required: ECPay sends the payment result there")
    fields = {
        "MerchantID": merchant_id,
        "MerchantTradeNo": merchant_trade_no,
        "MerchantTradeDate": trade_date.astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M:%S"),
        "PaymentType": "aio",
        "TotalAmount": str(total_amount),
        "TradeDesc": trade_desc,
        "ItemName": _item_name(item_names),
        "ReturnURL": return_url,
        "ChoosePayment": choose_payment,
        "EncryptType": "1",
        "CustomField1": str(payment_id),
    }
    if order_result_url:
        fields["OrderResultURL"] = order_result_url
    if client_back_url:
        fields["ClientBackURL"] = client_back_url
    if contains_game_product and choose_payment == "ALL":
        fields["IgnorePayment"] = "CVS"
    fields["CheckMacValue"] = check_mac_value(fields, hash_key, hash_iv)
    return fields


def checkout_url(base_url: str) -> str:
    """The AioCheckOut/V5 address on `base_url` (stage, production or the sandbox)."""
    return base_url.rstrip("/") + CHECKOUT_PATH


def render_autosubmit_form(action_url: str, fields: dict[str, str]) -> str:
    """An HTML page that POSTs `fields` to `action_url` at once; a visible button covers no-JS browsers."""
    esc = html.escape  # quote=True by default: values go into attributes
    inputs = "\n".join(
        f'    <input type="hidden" name="{esc(name)}" value="{esc(value)}">' for name, value in fields.items()
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Redirecting to payment</title>
</head>
<body style="font-family: system-ui, sans-serif; text-align: center; padding-top: 3em;">
  <form id="ecpay-checkout" method="post" action="{esc(action_url)}" accept-charset="utf-8">
{inputs}
    <p>Taking you to the payment page&hellip;</p>
    <button type="submit">Continue to payment</button>
  </form>
  <script>document.getElementById("ecpay-checkout").submit();</script>
</body>
</html>
"""
