"""CheckMacValue, raw response parsing and AES against every vector of shared/specs/ecpay.md."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from esa_domain.adapters.ecpay import (
    aes_decrypt,
    aes_encrypt,
    check_mac_value,
    parse_query_response,
    verify_check_mac_value,
)
from esa_domain.adapters.ecpay.codec import mac_source

KEY, IV = "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs"  # stage merchant 3002607
OLD_KEY, OLD_IV = "5294y06JbISpM5x9", "v77hoKGq4kWxNNIS"  # stage merchant 2000132

CHECKOUT = {
    "TradeDesc": "促銷方案",
    "PaymentType": "aio",
    "MerchantTradeDate": "2023/03/12 15:30:23",
    "MerchantTradeNo": "ecpay20230312153023",
    "MerchantID": "3002607",
    "ReturnURL": "https://www.ecpay.com.tw/receive.php",
    "ItemName": "Apple iphone 15",
    "TotalAmount": "30000",
    "ChoosePayment": "ALL",
    "EncryptType": "1",
}
NOTIFICATION = {
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
}
QUERY_RESPONSE = (
    "CustomField1=&CustomField2=&CustomField3=&CustomField4=&HandlingCharge=1&ItemName=Apple iphone 7 手機殼"
    "&MerchantID=2000132&MerchantTradeNo=ecpay20180504112423&PaymentDate=2018/05/04 11:27:39"
    "&PaymentType=Credit_CreditCard&PaymentTypeChargeFee=1&StoreID=&TradeAmt=1000"
    "&TradeDate=2018/05/04 11:24:57"
    "&TradeNo=1805041124578172&TradeStatus=1"
    "&CheckMacValue=7FED9171711B628633FDBA39EBEE159E2E9A1A6AEB9ACD87B105778EECE2FB06"
)


def php_sdk_mac(params: dict[str, str], key: str, iv: str, method: str = "sha256") -> str:
    """ECPay's PHP SDK algorithm, written independently: urlencode, strtolower, .NET replacements."""
    raw = "HashKey=" + key
    for k in sorted((k for k in params if k != "CheckMacValue"), key=str.lower):
        raw += f"&{k}={params[k]}"
    raw += "&HashIV=" + iv
    safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
    encoded = "".join(
        chr(b) if b in safe else "+" if b == 0x20 else f"%{b:02X}" for b in raw.encode("utf-8")
    ).lower()
    for search, keep in zip(["%2d", "%5f", "%2e", "%21", "%2a", "%28", "%29"], "-_.!*()", strict=True):
        encoded = encoded.replace(search, keep)
    return hashlib.new(method, encoded.encode()).hexdigest().upper()


def test_checkout_vector_matches_ecpay():
    assert (
        check_mac_value(CHECKOUT, KEY, IV)
        == "6C51C9E6888DE861FD62FB1DD17029FC742634498FD813DC43D4243B5685B840"
    )


def test_checkout_vector_encoded_string_matches_ecpay_byte_for_byte():
    assert mac_source(CHECKOUT, KEY, IV) == (
        "hashkey%3dpwfhcqoqzgmho4w6%26choosepayment%3dall%26encrypttype%3d1%26itemname%3dapple+iphone+15"
        "%26merchantid%3d3002607%26merchanttradedate%3d2023%2f03%2f12+15%3a30%3a23%26merchanttradeno"
        "%3decpay20230312153023%26paymenttype%3daio%26returnurl%3dhttps%3a%2f%2fwww.ecpay.com.tw%2freceive.php"
        "%26totalamount%3d30000%26tradedesc%3d%e4%bf%83%e9%8a%b7%e6%96%b9%e6%a1%88%26hashiv%3dekrm7ift261dpevs"
    )


def test_notification_vector_matches_ecpay():
    assert (
        check_mac_value(NOTIFICATION, KEY, IV)
        == "6E7F053EF215FC851A050A2FF01D72CBE440EA138DC3E905647985DDF236FD25"
    )


def test_query_request_vector_of_the_older_merchant_matches_ecpay():
    request = {"MerchantID": "2000132", "MerchantTradeNo": "ecpay20180504112423", "TimeStamp": "1525410372"}
    assert (
        check_mac_value(request, OLD_KEY, OLD_IV)
        == "48ABB4DBF2365897B2A17C48EBCBA82274E7D7DE79F1F955115C4258482A045B"
    )


def test_real_query_response_parses_raw_and_its_own_mac_verifies():
    fields = parse_query_response(QUERY_RESPONSE)
    assert fields["ItemName"] == "Apple iphone 7 手機殼"
    assert fields["PaymentDate"] == "2018/05/04 11:27:39"
    assert fields["StoreID"] == "" and fields["CustomField1"] == ""
    assert verify_check_mac_value(fields, OLD_KEY, OLD_IV)


def test_query_response_with_one_changed_character_does_not_verify():
    fields = parse_query_response(QUERY_RESPONSE.replace("TradeAmt=1000", "TradeAmt=1001"))
    assert not verify_check_mac_value(fields, OLD_KEY, OLD_IV)


def test_parse_query_response_never_form_decodes():
    fields = parse_query_response("A=a+b&B=x%20y&C=k=v&D=&E=全形　空白\r\n")
    assert fields == {"A": "a+b", "B": "x%20y", "C": "k=v", "D": "", "E": "全形　空白"}


def test_mac_is_verified_whatever_case_the_sender_used_for_hex():
    signed = {**NOTIFICATION, "CheckMacValue": check_mac_value(NOTIFICATION, KEY, IV).lower()}
    assert verify_check_mac_value(signed, KEY, IV)


def test_missing_or_empty_check_mac_value_never_verifies():
    assert not verify_check_mac_value(NOTIFICATION, KEY, IV)
    assert not verify_check_mac_value({**NOTIFICATION, "CheckMacValue": ""}, KEY, IV)


def test_wrong_keys_do_not_verify():
    signed = {**NOTIFICATION, "CheckMacValue": check_mac_value(NOTIFICATION, KEY, IV)}
    assert not verify_check_mac_value(signed, OLD_KEY, OLD_IV)


def test_empty_fields_take_part_in_the_mac():
    with_store = {**NOTIFICATION, "StoreID": ""}
    assert "storeid%3d%26" in mac_source(with_store, KEY, IV)
    assert check_mac_value(with_store, KEY, IV) != check_mac_value(NOTIFICATION, KEY, IV)
    assert check_mac_value(with_store, KEY, IV) == php_sdk_mac(with_store, KEY, IV)


def test_keys_sort_case_insensitively_like_real_callbacks_with_lowercase_fields():
    fields = {"RtnCode": "1", "amount": "500", "gwsr": "123", "process_date": "2024/01/01", "red_dan": "0"}
    source = mac_source(fields, KEY, IV)
    order = [
        source.index(name) for name in ("amount%3d", "gwsr%3d", "process_date%3d", "red_dan%3d", "rtncode%3d")
    ]
    assert order == sorted(order)
    # A case-sensitive sort would put RtnCode first and give another hash.
    assert check_mac_value(fields, KEY, IV) == php_sdk_mac(fields, KEY, IV)


def test_leading_space_is_kept_not_trimmed():
    spaced = {**NOTIFICATION, "RtnMsg": " 交易成功"}
    assert "rtnmsg%3d+%e4%ba%a4" in mac_source(spaced, KEY, IV)
    assert check_mac_value(spaced, KEY, IV) != check_mac_value(NOTIFICATION, KEY, IV)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("a~b", "a%7eb"),  # quote_plus would keep '~'; .NET encodes it
        ("O'Neil", "o%27neil"),
        ("two words", "two+words"),
        ("-_.!*()", "-_.!*()"),  # the .NET-safe set stays literal
        ("a+b", "a%2bb"),
        ("#1&2=3", "%231%262%3d3"),
        ("手機殼", "%e6%89%8b%e6%a9%9f%e6%ae%bc"),
        ("全形　空白", "%e5%85%a8%e5%bd%a2%e3%80%80%e7%a9%ba%e7%99%bd"),  # full-width space is not '+'
        ("ＡＢＣ１２３", "%ef%bc%a1%ef%bc%a2%ef%bc%a3%ef%bc%91%ef%bc%92%ef%bc%93"),
    ],
)
def test_tricky_characters_encode_like_ecpay(value: str, encoded: str):
    fields = {"ItemName": value}
    assert (
        mac_source(fields, KEY, IV)
        == f"hashkey%3d{KEY.lower()}%26itemname%3d{encoded}%26hashiv%3d{IV.lower()}"
    )
    assert check_mac_value(fields, KEY, IV) == php_sdk_mac(fields, KEY, IV)


def test_md5_is_computed_like_the_sdk_but_never_verifies():
    legacy = {**NOTIFICATION, "EncryptType": "0"}
    md5 = check_mac_value(legacy, KEY, IV, method="md5")
    assert len(md5) == 32 and md5 == php_sdk_mac(legacy, KEY, IV, "md5")
    # a sender must not pick the weaker hash: EncryptType=0 is refused whichever MAC it carries
    assert not verify_check_mac_value({**legacy, "CheckMacValue": md5}, KEY, IV)
    sha = check_mac_value(legacy, KEY, IV)
    assert not verify_check_mac_value({**legacy, "CheckMacValue": sha}, KEY, IV)
    assert verify_check_mac_value(
        {**NOTIFICATION, "CheckMacValue": check_mac_value(NOTIFICATION, KEY, IV)}, KEY, IV
    )


def test_unknown_hash_method_is_refused():
    with pytest.raises(ValueError, match="sha256"):
        check_mac_value(NOTIFICATION, KEY, IV, method="sha1")


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@given(st.dictionaries(st.text("abcXYZ_09", min_size=1, max_size=5), _text, max_size=6))
def test_any_fields_hash_like_ecpays_php_sdk(fields: dict[str, str]):
    assert check_mac_value(fields, KEY, IV) == php_sdk_mac(fields, KEY, IV)


def test_aes_vector_with_the_documentation_keys():
    assert aes_encrypt({"Name": "Test", "ID": "A123456789"}, "ejCk326UnaZWKisg", "q9jcZX8Ib9LM8wYk") == (
        "uvI4yrErM37XNQkXGAgRgJAgHn2t72jahaMZzYhWL1HmvH4WV18VJDP2i9pTbC+tby5nxVExLLFyAkbjbS2Dvg=="
    )


def test_aes_vector_with_the_stage_merchant_keys_and_back():
    data = "o4TJSHkQBM1bogbn5BNFRofCVTfsQjoqv/TX8DKn757fe5AoYzoalYmrMsGXTiwxGpI8NsE2vu4tScAwISx8kw=="
    assert aes_encrypt('{"Name":"Test","ID":"A123456789"}', KEY, IV) == data
    assert aes_decrypt(data, KEY, IV) == {"Name": "Test", "ID": "A123456789"}


def test_aes_round_trips_cjk_and_symbols():
    payload = {"MerchantID": "3002607", "ItemName": "遊戲點數 100 ~'&#+", "Amount": 100}
    assert aes_decrypt(aes_encrypt(payload, KEY, IV), KEY, IV) == payload


def test_aes_decrypt_with_wrong_keys_raises_value_error():
    data = aes_encrypt({"Name": "Test"}, KEY, IV)
    with pytest.raises(ValueError, match="could not be decrypted"):
        aes_decrypt(data, OLD_KEY, OLD_IV)
    with pytest.raises(ValueError):
        aes_decrypt("not base64!", KEY, IV)
