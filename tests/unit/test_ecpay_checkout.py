"""AioCheckOut/V5 fields, the auto-submitting page and MerchantTradeNo."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from esa_domain.adapters.ecpay import (
    build_checkout_fields,
    render_autosubmit_form,
    verify_check_mac_value,
)

KEY, IV = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"
NOW = datetime(2024, 12, 31, 16, 30, 5, tzinfo=UTC)  # 2025/01/01 00:30:05 in Taipei


def fields(**overrides: Any) -> dict[str, str]:
    args: dict[str, Any] = {
        "merchant_id": "3002607",
        "hash_key": KEY,
        "hash_iv": IV,
        "merchant_trade_no": "ESA1ABC123",
        "trade_date": NOW,
        "total_amount": 150,
        "item_names": ["Telkomsel 50.000", "Mobile Legends 86 Diamonds"],
        "trade_desc": "ESA order 42",
        "return_url": "https://esa.example/ecpay/return",
        "order_result_url": "https://esa.example/ecpay/result",
        "client_back_url": "https://esa.example/orders/42",
        "payment_id": 42,
        "choose_payment": "Credit",
        "contains_game_product": False,
    }
    return build_checkout_fields(**(args | overrides))


def test_fields_are_signed_and_carry_what_ecpay_requires():
    f = fields()
    assert verify_check_mac_value(f, KEY, IV)
    assert f["MerchantTradeDate"] == "2025/01/01 00:30:05"  # Taiwan time, not UTC
    assert f["TotalAmount"] == "150" and f["PaymentType"] == "aio" and f["EncryptType"] == "1"
    assert f["ItemName"] == "Telkomsel 50.000#Mobile Legends 86 Diamonds"
    assert f["CustomField1"] == "42"
    assert f["OrderResultURL"] == "https://esa.example/ecpay/result"
    assert "IgnorePayment" not in f


def test_optional_urls_are_left_out_when_not_given():
    f = fields(order_result_url=None, client_back_url="")
    assert "OrderResultURL" not in f and "ClientBackURL" not in f
    assert verify_check_mac_value(f, KEY, IV)


def test_item_name_is_cut_to_400_characters():
    f = fields(item_names=["遊戲點數" * 60, "x" * 300])
    assert len(f["ItemName"]) == 400


def test_ampersand_in_item_names_cannot_break_the_raw_query_answer():
    assert "&" not in fields(item_names=["Tom & Jerry"])["ItemName"]


def test_game_product_paid_with_all_methods_ignores_cvs():
    f = fields(choose_payment="ALL", contains_game_product=True)
    assert f["IgnorePayment"] == "CVS"
    assert verify_check_mac_value(f, KEY, IV)


def test_game_product_can_never_choose_cvs():
    with pytest.raises(ValueError, match="CVS"):
        fields(choose_payment="CVS", contains_game_product=True)


def test_non_game_product_may_use_cvs():
    assert fields(choose_payment="CVS")["ChoosePayment"] == "CVS"


@pytest.mark.parametrize("trade_no", ["", "A" * 21, "ESA-123", "ESA 123", "訂單123"])
def test_invalid_merchant_trade_no_is_refused(trade_no: str):
    with pytest.raises(ValueError, match="MerchantTradeNo"):
        fields(merchant_trade_no=trade_no)


@pytest.mark.parametrize("amount", [0, -5, 1.5, True, "100"])
def test_amount_must_be_a_positive_whole_number(amount: Any):
    with pytest.raises(ValueError, match="total_amount"):
        fields(total_amount=amount)


def test_naive_trade_date_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        fields(trade_date=datetime(2025, 1, 1, 0, 0))


def test_unknown_payment_method_is_refused():
    with pytest.raises(ValueError, match="ChoosePayment"):
        fields(choose_payment="Bitcoin")


def test_autosubmit_form_escapes_every_value_and_has_a_no_js_button():
    page = render_autosubmit_form(
        "https://payment-stage.ecpay.com.tw/Cashier/AioCheckOut/V5?a=1&b=2",
        {"ItemName": '"><script>alert(1)</script>', "TradeDesc": "A & B 'x'"},
    )
    assert "<script>alert(1)" not in page
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page
    assert 'value="A &amp; B &#x27;x&#x27;"' in page
    assert 'action="https://payment-stage.ecpay.com.tw/Cashier/AioCheckOut/V5?a=1&amp;b=2"' in page
    assert "Continue to payment</button>" in page and ".submit()" in page
