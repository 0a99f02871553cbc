"""The supplier's last word in plain words (esa_domain.fulfillment.evidence): what we store for each answer, and
what an operator reads about it, in the dashboard's (Taipei) time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from esa_domain.adapters.suppliers.base import FailureClass, Outcome, SupplierOutcome
from esa_domain.fulfillment.evidence import LastWord, outcome_word

AT = datetime(2026, 12, 2, 1, 2, 3, tzinfo=UTC)  # 09:02:03 in Taipei


@pytest.mark.parametrize(
    ("outcome", "stored"),
    [
        (SupplierOutcome(Outcome.SUCCESS), "SUCCESS"),
        (SupplierOutcome(Outcome.FAILED, FailureClass.CUSTOMER), "FAILED customer"),
        (SupplierOutcome(Outcome.FAILED, FailureClass.PRODUCT), "FAILED product"),
        (SupplierOutcome(Outcome.FAILED, FailureClass.CONFIG), "FAILED config"),
        (SupplierOutcome(Outcome.PENDING), "PENDING"),
        (SupplierOutcome(Outcome.UNKNOWN), "UNKNOWN"),
        (SupplierOutcome(Outcome.UNKNOWN, no_transaction=True), "UNKNOWN no transaction"),
        (None, None),
    ],
)
def test_what_is_stored_for_each_answer(outcome, stored):
    assert outcome_word(outcome) == stored


def _word(outcome: str, operation: str = "status", delivered_by: str | None = None) -> LastWord:
    return LastWord(1, "iak", "ESA1S2", operation, outcome, AT, delivered_by is not None, delivered_by)


@pytest.mark.parametrize(
    ("outcome", "operation", "words"),
    [
        ("SUCCESS", "callback", "iak says DELIVERED (signed callback at 2026-12-02 09:02:03, ESA1S2)."),
        (
            "FAILED customer",
            "purchase",
            "iak says NOT delivered: the supplier refused the destination (wrong number or account) "
            "(purchase answer at 2026-12-02 09:02:03, ESA1S2).",
        ),
        (
            "FAILED product",
            "status",
            "iak says NOT delivered: the product was unavailable there (out of stock) "
            "(status check at 2026-12-02 09:02:03, ESA1S2).",
        ),
        (
            "PENDING",
            "status",
            "iak says still processing, no final answer yet (status check at 2026-12-02 09:02:03, ESA1S2).",
        ),
        (
            "UNKNOWN",
            "purchase",
            "iak says no definite answer (timeout, error or unreadable reply) "
            "(purchase answer at 2026-12-02 09:02:03, ESA1S2).",
        ),
    ],
)
def test_each_last_word_reads_as_a_sentence(outcome, operation, words):
    assert _word(outcome, operation).words == words


def test_an_earlier_success_is_still_told_after_a_later_answer():
    word = _word("PENDING", delivered_by="billfazz ESA1S3 (signed callback, 2026-12-02 08:00:00)")
    assert word.words.endswith(
        "Earlier: billfazz ESA1S3 (signed callback, 2026-12-02 08:00:00) said DELIVERED."
    )
