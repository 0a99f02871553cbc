"""ReturnURL notifications: only a correctly signed notice for our merchant means anything."""

from __future__ import annotations

import pytest

from esa_domain.adapters.ecpay import Notification, Rejection, check_mac_value, parse_notification, redact

KEY, IV, MERCHANT = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs", "3002607"

RECEIVED = {
    "MerchantID": "3002607",
    "MerchantTradeNo": "WPLL4E341E122DB44D62",
    "PaymentDate": "2019/05/09 00:01:21",
    "PaymentType": "Credit_CreditCard",
    "PaymentTypeChargeFee": "1",
    "RtnCode": "1",
    "RtnMsg": "交易成功",
    "SimulatePaid": "0",
    "TradeAmt": "500",
    "TradeDate": "2019/05/09 00:00:18",
    "TradeNo": "1905090000188278",
    "CheckMacValue": "6E7F053EF215FC851A050A2FF01D72CBE440EA138DC3E905647985DDF236FD25",
}


def signed(fields: dict[str, str], key: str = KEY, iv: str = IV) -> dict[str, str]:
    unsigned = {k: v for k, v in fields.items() if k != "CheckMacValue"}
    return {**unsigned, "CheckMacValue": check_mac_value(unsigned, key, iv)}


def parse(fields: dict[str, str]) -> Notification | Rejection:
    return parse_notification(fields, merchant_id=MERCHANT, hash_key=KEY, hash_iv=IV)


def test_spec_notification_is_a_real_payment():
    result = parse(RECEIVED)
    assert result == Notification(
        merchant_trade_no="WPLL4E341E122DB44D62",
        trade_no="1905090000188278",
        rtn_code=1,
        paid=True,
        simulated=False,
        amount_twd=500,
        payment_type="Credit_CreditCard",
        payment_date="2019/05/09 00:01:21",
        custom_field1="",
    )
    assert result.should_ship


def test_extra_fields_are_part_of_the_mac():
    # NeedExtraPaidInfo=Y adds fields (some lower-case); whatever arrives is signed
    extra = signed({**RECEIVED, "gwsr": "11223344", "amount": "500", "CustomField1": "42", "StoreID": ""})
    result = parse(extra)
    assert isinstance(result, Notification) and result.custom_field1 == "42"


def test_forged_mac_is_rejected():
    assert parse({**RECEIVED, "CheckMacValue": "0" * 64}) == Rejection("CheckMacValue does not match")


def test_missing_mac_is_rejected():
    fields = {k: v for k, v in RECEIVED.items() if k != "CheckMacValue"}
    assert parse(fields) == Rejection("no CheckMacValue")


def test_tampered_amount_is_rejected():
    assert parse({**RECEIVED, "TradeAmt": "5000"}) == Rejection("CheckMacValue does not match")


def test_dropped_field_is_rejected():
    fields = {k: v for k, v in RECEIVED.items() if k != "SimulatePaid"}
    assert isinstance(parse(fields), Rejection)


def test_notice_signed_for_another_merchant_is_rejected():
    # the stage keys are shared by everybody: a valid MAC does not make it ours
    result = parse(signed({**RECEIVED, "MerchantID": "2000132"}))
    assert isinstance(result, Rejection) and "2000132" in result.reason


def test_notice_signed_with_other_keys_is_rejected():
    assert isinstance(parse(signed(RECEIVED, "5294y06JbISpM5x9", "v77hoKGq4kWxNNIS")), Rejection)


@pytest.mark.parametrize("field", ["MerchantTradeNo", "RtnCode", "TradeAmt"])
def test_missing_required_field_is_rejected(field: str):
    fields = signed({k: v for k, v in RECEIVED.items() if k != field})
    result = parse(fields)
    assert isinstance(result, Rejection) and field in result.reason


@pytest.mark.parametrize("amount", ["500.0", "-500", " 500", "五百", "1e3"])
def test_amount_that_is_not_a_whole_number_is_rejected(amount: str):
    result = parse(signed({**RECEIVED, "TradeAmt": amount}))
    assert isinstance(result, Rejection) and "TradeAmt" in result.reason


def test_simulated_payment_is_paid_but_must_not_ship():
    result = parse(signed({**RECEIVED, "SimulatePaid": "1"}))
    assert isinstance(result, Notification)
    assert result.paid and result.simulated and not result.should_ship


def test_failed_payment_is_not_paid():
    result = parse(signed({**RECEIVED, "RtnCode": "10100058", "RtnMsg": "授權失敗"}))
    assert isinstance(result, Notification)
    assert result.rtn_code == 10100058 and not result.paid and not result.should_ship


def test_resent_notice_with_another_rtn_msg_means_the_same():
    assert parse(signed({**RECEIVED, "RtnMsg": "paid"})) == parse(RECEIVED)


def test_redact_keeps_everything_but_the_mac():
    stored = redact(RECEIVED)
    assert "CheckMacValue" not in stored
    assert stored == {k: v for k, v in RECEIVED.items() if k != "CheckMacValue"}


@pytest.mark.parametrize("code", ["01", "001", "+1", "1 ", " 1"])
def test_only_rtncode_exactly_1_is_paid(code):
    # Given a correctly signed notice whose RtnCode merely parses to 1
    result = parse(signed({**RECEIVED, "RtnCode": code}))
    # Then it is refused, never a payment
    assert isinstance(result, Rejection) or not result.paid


def test_rtncode_01_is_rejected():
    assert isinstance(parse(signed({**RECEIVED, "RtnCode": "01"})), Rejection)


@pytest.mark.parametrize("method", ["md5", "sha256"])
def test_encrypt_type_0_is_rejected_whatever_the_mac(method):
    fields = {k: v for k, v in RECEIVED.items() if k != "CheckMacValue"}
    fields["EncryptType"] = "0"
    fields["CheckMacValue"] = check_mac_value(fields, KEY, IV, method)
    result = parse(fields)
    assert isinstance(result, Rejection) and "EncryptType" in result.reason
