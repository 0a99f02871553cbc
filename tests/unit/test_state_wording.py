"""What people read about each state comes from esa_domain.core.states: every row has all of it, and the
customer API's language choice and the operator actions read the same rows."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from reflex.components.radix.themes.base import LiteralAccentColor

from esa_api.customer.routes_orders import preferred_language
from esa_domain.core.states import (
    ATTEMPT,
    ITEM,
    LANGUAGES,
    LIFECYCLES,
    PAYMENT,
    ItemStatus,
    OperatorAction,
    PaymentStatus,
)
from esa_domain.operations.actions import refunds_by_hand

CUSTOMER_SEES = (PAYMENT, ITEM)  # the Mini App shows payments and items, never supplier attempts
RADIX_COLOURS = set(typing.get_args(LiteralAccentColor))


@pytest.mark.parametrize(
    ("lifecycle", "status"), [(lc, s) for lc in CUSTOMER_SEES for s in lc.states], ids=str
)
def test_every_state_a_customer_sees_is_worded_in_every_language(lifecycle, status):
    state = lifecycle.states[status]
    for language in LANGUAGES:
        assert state.customer.get(language, "").strip(), f"{lifecycle.name} {status}: no {language} wording"
        if state.customer_paid:
            assert state.customer_paid.get(language, "").strip(), (
                f"{lifecycle.name} {status} paid: {language}"
            )


@pytest.mark.parametrize(("lifecycle", "status"), [(lc, s) for lc in LIFECYCLES for s in lc.states], ids=str)
def test_every_state_has_an_operator_wording_and_a_badge_colour(lifecycle, status):
    state = lifecycle.states[status]
    assert state.operator.strip()
    assert state.colour in RADIX_COLOURS, f"{lifecycle.name} {status}: {state.colour!r} is not a Radix colour"


def test_a_customer_stops_watching_only_where_nothing_moves_on_by_itself():
    # Given every state that tells the Mini App to stop polling
    for lifecycle in CUSTOMER_SEES:
        for status, state in lifecycle.states.items():
            # Then it is final, or it moves on only through a person (an operator action, a late payer)
            if lifecycle.customer_final(status) and not state.final:
                assert state.actions or status == PaymentStatus.EXPIRED, f"{lifecycle.name} {status}"
    assert not PAYMENT.customer_final(PaymentStatus.PAID)
    assert not PAYMENT.customer_final(PaymentStatus.REFUND_PENDING)
    assert PAYMENT.customer_final(PaymentStatus.SUCCESS) and PAYMENT.customer_final(PaymentStatus.EXPIRED)


def test_an_item_waiting_reads_queued_once_its_order_is_paid():
    assert ITEM.customer_text(ItemStatus.PENDING, "en") == "Waiting for payment"
    assert ITEM.customer_text(ItemStatus.PENDING, "en", paid=True) == "Queued for delivery"
    assert (
        ITEM.customer_text(ItemStatus.SUCCESS, "en", paid=True) == "Delivered"
    )  # no paid wording: the usual


def test_customer_text_falls_back_to_bahasa_indonesia_for_a_language_we_lack():
    assert PAYMENT.customer_text(PaymentStatus.PENDING, "fr") == PAYMENT.customer_text(PaymentStatus.PENDING)
    assert PAYMENT.customer_text(PaymentStatus.PENDING) == "Menunggu pembayaran Anda"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "id"),
        ("", "id"),
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("zh-TW,zh;q=0.9,en-US;q=0.8,en;q=0.7", "zh-Hant"),
        ("zh-Hant", "zh-Hant"),
        ("fr-FR, en;q=0.5", "en"),
        ("en;q=0.3, id;q=0.8", "id"),
        ("in-ID", "id"),
        ("fr", "id"),
        ("*", "id"),
        ("en;q=abc, zh-TW;q=0.1", "zh-Hant"),
        (";;,,=", "id"),
        ("en;q=0", "id"),
    ],
)
def test_the_customer_api_picks_the_most_preferred_language_it_has(header, language):
    assert preferred_language(header) == language


def test_operator_actions_come_from_the_table():
    assert PAYMENT.allowing(OperatorAction.RETRY) == {PaymentStatus.PAID}
    # any paid order may be refunded, all or part (SUCCESS too: goodwill, a dispute)
    assert PAYMENT.allowing(OperatorAction.REFUND) == {
        PaymentStatus.SUCCESS,
        PaymentStatus.FAILED,
        PaymentStatus.PARTIAL,
        PaymentStatus.REFUNDED,
        PaymentStatus.NEEDS_REVIEW,
    }
    assert ITEM.allowing(OperatorAction.RESOLVE) == {ItemStatus.NEEDS_REVIEW}
    assert not ATTEMPT.allowing(OperatorAction.RESOLVE)
    # a refund an operator records by hand is one the table lets go straight to REFUNDED
    assert {s for s in PaymentStatus if refunds_by_hand(s)} == {PaymentStatus.NEEDS_REVIEW}


def test_the_mini_app_has_a_badge_for_every_colour_a_customer_can_see():
    # Given the Mini App's stylesheet, which colours a badge by the API's status_colour
    css = (Path(__file__).resolve().parents[2] / "esa_api" / "miniapp" / "static" / "app.css").read_text()
    for lifecycle in CUSTOMER_SEES:
        for status, state in lifecycle.states.items():
            # Then every colour a payment or an item can have is styled
            assert f".badge.{state.colour} " in css, f"{lifecycle.name} {status}: no .badge.{state.colour}"
