"""The number typed first and saved numbers' names, without a database (esa_domain/ordering/saved_numbers.py)."""

from __future__ import annotations

import pytest

from esa_domain.core.errors import InvalidTarget
from esa_domain.ordering.saved_numbers import SavedNumberInvalid, clean_name, detect, phone_products_for

# iak-id/iak-api-reference-docs, docs/prepaid/prefix-list.md: one prefix of each operator's row
#   INDOSAT ( hindosat, isatdata ) | 0814,0815,0816,0855,0856,0857,0858
#   XL ( xld, xldata ) | 0817,0818,0819,0859,0878,0877
#   AXIS ( haxis, axisdata ) | 0838,0837,0831,0832
#   TELKOMSEL ( htelkomsel, tseldata) | 0812,0813,0852,0853,0821,0823,0822,0851
#   SMARTFREN ( hsmart ) | 0881,0882,0883,0884, 0885,0886,0887,0888
#   THREE ( hthree, threedata) | 0896,0897,0898,0899,0895


@pytest.mark.parametrize(
    ("typed", "number", "operator"),
    [
        ("0858 1234 5678", "085812345678", "indosat"),
        ("+62 877-1234-5678", "087712345678", "xl"),
        ("6283212345678", "083212345678", "axis"),
        ("081234567890", "081234567890", "telkomsel"),
        ("0885 1234 5678", "088512345678", "smartfren"),
        ("(0895) 1234 5678", "089512345678", "three"),
        ("08101234567", "08101234567", None),  # not on IAK's list: no operator, nothing guessed
    ],
)
def test_a_typed_number_is_normalised_and_its_operator_read_from_iaks_prefix_list(typed, number, operator):
    found = detect(typed)
    assert (found.kind, found.target, found.operator) == ("phone", number, operator)


def test_a_meter_has_no_operator_and_a_wrong_number_says_why():
    assert detect("1234 5678 901", "pln_meter").target == "12345678901"
    assert detect("12345678901", "pln_meter").operator is None
    with pytest.raises(InvalidTarget, match="not an Indonesian mobile number"):
        detect("0212345678")
    with pytest.raises(SavedNumberInvalid):
        detect("081234567890", "email")


def test_the_products_offered_for_a_number_are_its_operators_and_those_that_do_not_say():
    products = [("TSEL10", "Telkomsel 10.000"), ("ISAT10", "Indosat 10.000"), ("PULSA5", "Pulsa 5.000")]
    assert phone_products_for(products, "telkomsel") == ["TSEL10", "PULSA5"]
    assert phone_products_for(products, "indosat") == ["ISAT10", "PULSA5"]
    assert phone_products_for(products, None) == ["TSEL10", "ISAT10", "PULSA5"]


def test_a_name_is_trimmed_and_kept_short_and_printable():
    assert clean_name("  Ibu   Sari ") == "Ibu Sari"
    assert clean_name("媽媽") == "媽媽"
    for bad in ("", "   ", "x" * 41, "Ibu\u0000"):
        with pytest.raises(SavedNumberInvalid):
            clean_name(bad)
