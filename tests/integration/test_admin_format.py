"""The words and numbers the dashboard prints: plain labels for stored codes, ECPay's payment types, one order
number (the customer's) and item numbers that never read like another order's."""

from __future__ import annotations

import pytest

from esa_admin import format as fmt


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("supplier_pending_overdue", "Supplier answer overdue"),
        ("item_needs_review", "Item needs review"),
        ("NEEDS_REVIEW", "Needs review"),
        ("operator_password_reset", "Reset a password"),
        ("a_code_added_later", "A code added later"),  # an unknown code still reads as words
        (None, "—"),
    ],
)
def test_codes_read_as_words(code, words):
    assert fmt.label(code) == words


@pytest.mark.parametrize(
    ("payment_type", "words"),
    [
        # ECPay AIO PaymentType values (ECPay's "Payment Results Notification" reference)
        ("Credit_CreditCard", "Credit card"),
        ("ATM_TAISHIN", "ATM transfer (TAISHIN)"),
        ("CVS_CVS", "Convenience store code (CVS)"),
        ("BARCODE_BARCODE", "Barcode (BARCODE)"),
        ("WebATM_TAISHIN", "Web ATM (TAISHIN)"),
        (None, "—"),
    ],
)
def test_payment_types_read_as_words(payment_type, words):
    assert fmt.payment_method(payment_type) == words


def test_one_order_number_and_item_numbers_inside_it():
    assert fmt.order_number(76) == "#76"
    assert [fmt.item_number(76, n) for n in (1, 2)] == ["#76-1", "#76-2"]
