"""Pure codecs of the Redision and Pulsa IF adapters: signatures, amounts, reply and code maps.

Expected signatures are recomputed here from the spec's formulas with hashlib/hmac, not with the adapter's
own helpers, so a change to a formula fails a test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from esa_domain.adapters.suppliers.base import FailureClass, Outcome
from esa_domain.adapters.suppliers.pulsaif import adapter as pulsaif
from esa_domain.adapters.suppliers.pulsaif import codes as pulsaif_codes
from esa_domain.adapters.suppliers.redision import adapter as redision
from esa_domain.adapters.suppliers.redision import codes as redision_codes

SECRET = "s3cret"


def _hmac_hex(text: str) -> str:
    return hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()


# ---- Pulsa IF -------------------------------------------------------------------------------------------


def test_pulsaif_sign_matches_the_spec_check_vector() -> None:
    assert (
        pulsaif.trx_sign("YUSUF", "X10", "08123456789", "2140669", "1144", "abcd")
        == "Cp9NLVuKWBt5Sey_uMlYsvnKvJI"
    )


def test_pulsaif_account_sign_is_base64url_without_padding_of_raw_sha1() -> None:
    raw = hashlib.sha1(b"OtomaX|ESA001|1234|pw").digest()
    expected = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert pulsaif.account_sign("ESA001", "1234", "pw") == expected
    assert "=" not in expected


REF = "2140669"


@pytest.mark.parametrize(
    ("reply", "outcome", "failure_class"),
    [
        ("R#2140669 X10.08123456789 akan diproses. Saldo 1.000.000 @14:02", Outcome.PENDING, None),
        (
            "R#2140669 X10.08123456789 SUKSES. SN: 0041002345. Harga 10.250. Saldo 9.750 @14:02",
            Outcome.SUCCESS,
            None,
        ),
        (
            "R#2140669 X10.08123456789 GAGAL. Nomor tujuan salah. Saldo 1.000.000",
            Outcome.FAILED,
            FailureClass.CUSTOMER,
        ),
        ("R#2140669 X10.0812 GAGAL. Tujuan diblokir", Outcome.FAILED, FailureClass.CUSTOMER),
        (
            "R#2140669 X10.0812 GAGAL. Produk sedang gangguan. Saldo 5.000",
            Outcome.FAILED,
            FailureClass.PRODUCT,
        ),
        ("R#2140669 X10.0812 GAGAL. Stok kosong", Outcome.FAILED, FailureClass.PRODUCT),
        ("R#2140669 X10.0812 GAGAL. Sudah cut off, coba besok", Outcome.FAILED, FailureClass.PRODUCT),
        ("R#2140669 X10.0812 GAGAL. Saldo tidak cukup", Outcome.FAILED, FailureClass.CONFIG),
        ("R#2140669 X10.0812 GAGAL. Sign salah", Outcome.FAILED, FailureClass.CONFIG),
        ("R#2140669 GAGAL. IP tidak terdaftar", Outcome.FAILED, FailureClass.CONFIG),
        ("R#2140669 X10.0812 GAGAL. Transaksi dobel", Outcome.UNKNOWN, None),
        ("R#2140669 X10.0812 GAGAL. refID sudah ada", Outcome.UNKNOWN, None),
        ("R#2140669 Transaksi tidak ditemukan", Outcome.UNKNOWN, None),
        ("<html>502 Bad Gateway</html>", Outcome.UNKNOWN, None),
        ("", Outcome.UNKNOWN, None),
        ("R#9999999 X10.0812 SUKSES. SN: 1", Outcome.UNKNOWN, None),  # about another reference
    ],
)
def test_pulsaif_reply_maps_to_exactly_one_outcome(
    reply: str, outcome: Outcome, failure_class: FailureClass | None
) -> None:
    result = pulsaif.parse_reply(reply, REF)
    assert (result.outcome, result.failure_class) == (outcome, failure_class)


def test_pulsaif_failure_classified_on_reason_not_trailing_balance() -> None:
    # "Saldo" at the end of every reply must not turn a bad number into a config failure
    result = pulsaif.parse_reply("R#2140669 X10.0812 GAGAL. Nomor tidak aktif. Saldo 1.000", REF)
    assert result.failure_class is FailureClass.CUSTOMER


@pytest.mark.parametrize(
    "reply",
    [
        "R#2140669 X10.0812 GAGAL. Sistem sibuk",
        "R#2140669 X10.0812 GAGAL. Trx ganda, cek status",  # a reworded duplicate (issue 14)
        "R#2140669 X10.0812 GAGAL. Sudah pernah dengan refID ini",
        "R#2140669 X10.0812 GAGAL",
    ],
)
def test_pulsaif_failure_without_a_definite_reason_is_unknown(reply: str) -> None:
    result = pulsaif.parse_reply(reply, REF)
    assert (result.outcome, result.failure_class) == (Outcome.UNKNOWN, None)


def test_pulsaif_status_query_refused_for_bad_sign_says_nothing_about_the_order() -> None:
    result = pulsaif.parse_reply("R#2140669 GAGAL. Sign salah", REF, is_status_query=True)
    assert result.outcome is Outcome.UNKNOWN


def test_pulsaif_success_reply_carries_serial_and_price() -> None:
    reply = "R#2140669 X10.08123456789 SUKSES. SN: 0041002345678912. Harga 10.250. Saldo 989.750 @14:02"
    result = pulsaif.parse_reply(reply, REF)
    assert (result.artifact, result.price_idr) == ("0041002345678912", 10250)


@pytest.mark.parametrize(
    ("text", "serial"),
    [
        ("SUKSES. SN: 0041002345678912. Harga 10.150", "0041002345678912"),
        ("SUKSES SN/0041002345678912", "0041002345678912"),
        (
            "SN: 1234-5678-9012-3456-7890/BUDI SANTOSO/R1/900/22.5. Harga 20.500",
            "1234-5678-9012-3456-7890/BUDI SANTOSO/R1/900/22.5",
        ),
        ("SN:ABC123 Saldo 1.000", "ABC123"),
        ("SUKSES tanpa serial", None),
    ],
)
def test_pulsaif_serial_parsed_after_sn_colon_or_slash(text: str, serial: str | None) -> None:
    assert pulsaif.serial_from(text) == serial


def test_pulsaif_pricelist_lines_become_catalog_entries_and_junk_is_skipped() -> None:
    text = "code;name;price;status\nS10;Telkomsel 10.000;10.150;aktif\nT10;Tri 10.000;10300;gangguan\nxx\n"
    entries = pulsaif.parse_pricelist(text)
    assert [(e.sku, e.cost_idr, e.available) for e in entries] == [
        ("S10", 10150, True),
        ("T10", 10300, False),
    ]


# ---- Redision -------------------------------------------------------------------------------------------


def test_redision_token_signature_is_hmac_of_client_id_and_timestamp() -> None:
    ts = "2024-05-01T10:00:00+07:00"
    assert redision.token_signature(SECRET, "esa", ts) == _hmac_hex(f"esa|{ts}")


def test_redision_request_signature_covers_the_minified_body() -> None:
    ts = "2024-05-01T10:00:00+07:00"
    pretty = '{\n  "sku": "PLN20",\n  "customerNo": "0812"\n}'
    digest = hashlib.sha256(b'{"sku":"PLN20","customerNo":"0812"}').hexdigest()
    expected = _hmac_hex(f"POST:/v1.0/orders:tok:{digest}:{ts}")
    assert redision.request_signature(SECRET, "post", "/v1.0/orders", "tok", pretty, ts) == expected


def test_redision_request_signature_of_a_get_hashes_the_empty_body() -> None:
    ts = "2024-05-01T10:00:00+07:00"
    expected = _hmac_hex(f"GET:/v1.0/orders/R1:tok:{hashlib.sha256(b'').hexdigest()}:{ts}")
    assert redision.request_signature(SECRET, "GET", "/v1.0/orders/R1", "tok", None, ts) == expected


def test_redision_callback_signature_is_post_path_digest_timestamp() -> None:
    ts, body = "2024-05-01T10:00:00+07:00", b'{"partnerReferenceNo":"R1"}'
    expected = _hmac_hex(f"POST:/callbacks/redision:{hashlib.sha256(body).hexdigest()}:{ts}")
    assert redision.callback_signature(SECRET, "/callbacks/redision", body, ts) == expected


def test_redision_external_ids_are_unique_numbers() -> None:
    ids = {redision.external_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(i.isdigit() and len(i) == 32 for i in ids)


@pytest.mark.parametrize(("value", "idr"), [("10250.00", 10250), ("0.00", 0), ("10250", 10250), ("7.0", 7)])
def test_redision_whole_rupiah_amount_becomes_int(value: str, idr: int) -> None:
    assert redision.idr_from_amount({"value": value, "currency": "IDR"}) == idr


@pytest.mark.parametrize(
    "amount",
    [
        {"value": "10250.50", "currency": "IDR"},
        {"value": "10250.00", "currency": "USD"},
        {"value": "ten", "currency": "IDR"},
        {"value": "-1.00", "currency": "IDR"},
        {"value": "NaN", "currency": "IDR"},
        "10250.00",
    ],
)
def test_redision_amount_that_is_not_whole_idr_is_rejected_clearly(amount: object) -> None:
    with pytest.raises(ValueError, match="Redision amount"):
        redision.idr_from_amount(amount)


def test_redision_amount_is_sent_with_two_decimals() -> None:
    assert redision.amount_from_idr(10250) == {"value": "10250.00", "currency": "IDR"}


@pytest.mark.parametrize(
    ("code", "http", "outcome", "failure_class"),
    [
        ("2003800", 200, Outcome.SUCCESS, None),
        ("2023800", 202, Outcome.PENDING, None),
        ("4043811", 404, Outcome.FAILED, FailureClass.CUSTOMER),
        ("4043818", 404, Outcome.FAILED, FailureClass.PRODUCT),
        ("4043813", 404, Outcome.FAILED, FailureClass.PRODUCT),
        ("4033814", 403, Outcome.FAILED, FailureClass.CONFIG),
        ("4013800", 401, Outcome.FAILED, FailureClass.CONFIG),
        ("4013801", 401, Outcome.FAILED, FailureClass.CONFIG),
        ("4093800", 409, Outcome.UNKNOWN, None),
        ("5003801", 500, Outcome.UNKNOWN, None),  # SNAP 500xx01: internal error, retry (issue 14)
        ("4033806", 403, Outcome.FAILED, FailureClass.PRODUCT),  # the sandbox out of stock
        ("5003800", 500, Outcome.UNKNOWN, None),
        ("5043800", 504, Outcome.UNKNOWN, None),
        ("4293800", 429, Outcome.UNKNOWN, None),  # too many requests: query first
    ],
)
def test_redision_every_purchase_response_code_is_mapped(
    code: str, http: int, outcome: Outcome, failure_class: FailureClass | None
) -> None:
    body = {"responseCode": code, "responseMessage": "x", "partnerReferenceNo": "R1"}
    result = redision.outcome_from_answer(body, http, "R1", is_status_query=False)
    assert (result.outcome, result.failure_class, result.supplier_code) == (outcome, failure_class, code)


@pytest.mark.parametrize("code", ["4013800", "4013801", "4033814", "5003801", "4093800", "5003800"])
def test_redision_rejected_status_query_is_unknown_not_failed(code: str) -> None:
    result = redision.outcome_from_answer({"responseCode": code}, int(code[:3]), "R1", is_status_query=True)
    assert result.outcome is Outcome.UNKNOWN


def test_redision_status_query_not_found_is_unknown_with_a_not_found_code() -> None:
    body = {"responseCode": "4043801", "responseMessage": "Transaction Not Found", "partnerReferenceNo": "R1"}
    result = redision.outcome_from_answer(body, 404, "R1", is_status_query=True)
    assert result.outcome is Outcome.UNKNOWN and result.supplier_code in redision_codes.NOT_FOUND_CODES


def test_pulsaif_check_of_unknown_refid_is_unknown_with_a_not_found_code() -> None:
    result = pulsaif.parse_reply("R#2140669 Transaksi tidak ditemukan", REF, is_status_query=True)
    assert result.outcome is Outcome.UNKNOWN and result.supplier_code in pulsaif_codes.NOT_FOUND_CODES


def test_configs_and_adapters_never_show_secrets_in_repr() -> None:
    r_config = redision.RedisionConfig("http://x", "id", "topsecret-r", "ESA")
    p_config = pulsaif.PulsaIFConfig("http://x", "M1", "pin-9876", "pass-word-p", "callback-secret-xyz")
    text = repr(r_config) + repr(p_config) + repr(redision.RedisionAdapter(r_config))
    text += repr(pulsaif.PulsaIFAdapter(p_config))
    for secret in ("topsecret-r", "pin-9876", "pass-word-p", "callback-secret-xyz"):
        assert secret not in text


@pytest.mark.parametrize(
    ("status", "original", "outcome", "failure_class"),
    [
        ("SUCCESS", None, Outcome.SUCCESS, None),
        ("PENDING", None, Outcome.PENDING, None),
        ("FAILED", None, Outcome.FAILED, FailureClass.PRODUCT),
        ("FAILED", "4043811", Outcome.FAILED, FailureClass.CUSTOMER),
        ("REVERSED", None, Outcome.UNKNOWN, None),
    ],
)
def test_redision_status_answer_reads_transaction_status(
    status: str, original: str | None, outcome: Outcome, failure_class: FailureClass | None
) -> None:
    body = {
        "responseCode": "2003800",
        "partnerReferenceNo": "R1",
        "transactionStatus": status,
        "serialNumber": "SN1",
        "amount": {"value": "20250.00", "currency": "IDR"},
        "originalResponseCode": original,
    }
    result = redision.outcome_from_answer(body, 200, "R1", is_status_query=True)
    assert (result.outcome, result.failure_class) == (outcome, failure_class)
    if outcome is Outcome.SUCCESS:
        assert (result.artifact, result.price_idr) == ("SN1", 20250)


def test_redision_success_with_fractional_price_keeps_outcome_and_says_why_price_is_missing() -> None:
    body = {
        "responseCode": "2003800",
        "transactionStatus": "SUCCESS",
        "amount": {"value": "1.50", "currency": "IDR"},
    }
    result = redision.outcome_from_answer(body, 200, "R1", is_status_query=False)
    assert result.outcome is Outcome.SUCCESS and result.price_idr is None
    assert "not a whole" in result.message


@pytest.mark.parametrize(("body", "http"), [(None, 200), (None, 502), ({"foo": 1}, 200), ([1, 2], 200)])
def test_redision_unparseable_answer_is_unknown(body: object, http: int) -> None:
    assert redision.outcome_from_answer(body, http, "R1", is_status_query=False).outcome is Outcome.UNKNOWN


def test_redision_answer_about_another_reference_is_unknown() -> None:
    body = {"responseCode": "2003800", "transactionStatus": "SUCCESS", "partnerReferenceNo": "OTHER"}
    assert redision.outcome_from_answer(body, 200, "R1", is_status_query=False).outcome is Outcome.UNKNOWN
