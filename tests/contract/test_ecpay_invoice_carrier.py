"""The e-invoice carrier (issue 19): its format (parse_carrier), and ECPay's answer about it (check_carrier)
against the e-invoice simulator over real HTTP."""

from __future__ import annotations

import pytest

from esa_domain.invoicing.carrier import Carrier, InvalidCarrier, parse_carrier


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("none", None, Carrier("none")),
        ("none", "ignored", Carrier("none")),
        ("mobile", "/ABC+123", Carrier("mobile", "/ABC+123")),
        ("mobile", " /abc.12- ", Carrier("mobile", "/ABC.12-")),
        ("donation", "168001", Carrier("donation", "168001")),
        ("donation", "919", Carrier("donation", "919")),
        ("MOBILE", "/1234567", Carrier("mobile", "/1234567")),
    ],
)
def test_a_well_formed_carrier_is_parsed(kind, value, expected):
    assert parse_carrier(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "reason"),
    [
        ("paper", None, "kind"),
        ("mobile", None, "mobile_format"),
        ("mobile", "ABC+1234", "mobile_format"),  # no leading '/'
        ("mobile", "/ABC+12", "mobile_format"),  # 7 characters
        ("mobile", "/ABC_123", "mobile_format"),  # '_' is not in the barcode alphabet
        ("donation", "12", "love_code_format"),
        ("donation", "12345678", "love_code_format"),
        ("donation", "16800A", "love_code_format"),
    ],
)
def test_a_malformed_carrier_is_refused_with_its_reason(kind, value, reason):
    with pytest.raises(InvalidCarrier) as caught:
        parse_carrier(kind, value)
    assert caught.value.reason == reason
    assert caught.value.message  # words a person reads
