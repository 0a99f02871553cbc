"""The payment and item state machines, as transition tables.

Every status change in ESA goes through `esa_domain.core.transitions`, which refuses anything not listed here.
"""

from __future__ import annotations

from enum import StrEnum


class PaymentStatus(StrEnum):
    PENDING = "PENDING"  # order placed, waiting for ECPay
    PAID = "PAID"  # ECPay confirmed the money; fulfillment under way
    SUCCESS = "SUCCESS"  # every item delivered
    PARTIAL = "PARTIAL"  # some items delivered, some failed
    FAILED = "FAILED"  # no item delivered
    EXPIRED = "EXPIRED"  # never paid within the window
    REFUND_PENDING = "REFUND_PENDING"
    REFUNDED = "REFUNDED"
    NEEDS_REVIEW = "NEEDS_REVIEW"  # a refund that could not be made automatically: an operator decides


class ItemStatus(StrEnum):
    PENDING = "PENDING"  # waiting for the payment
    PROCESSING = "PROCESSING"  # a worker owns it and is talking to a supplier
    SUPPLIER_PENDING = "SUPPLIER_PENDING"  # a supplier's answer is pending or unknown: wait, never fall back
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    NEEDS_REVIEW = "NEEDS_REVIEW"  # still unknown past its deadline: an operator decides


P, It = PaymentStatus, ItemStatus

PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    P.PENDING: frozenset({P.PAID, P.EXPIRED}),
    # money that arrives after the window still moved: accept it and deliver (or refund), never ignore it
    P.EXPIRED: frozenset({P.PAID}),
    P.PAID: frozenset({P.SUCCESS, P.PARTIAL, P.FAILED}),
    P.FAILED: frozenset({P.REFUND_PENDING}),
    P.PARTIAL: frozenset({P.REFUND_PENDING}),
    P.REFUND_PENDING: frozenset({P.REFUNDED, P.NEEDS_REVIEW}),
    # an operator refunded by hand (non-card methods have no refund API)
    P.NEEDS_REVIEW: frozenset({P.REFUNDED}),
    P.SUCCESS: frozenset(),
    P.REFUNDED: frozenset(),
}

ITEM_TRANSITIONS: dict[ItemStatus, frozenset[ItemStatus]] = {
    It.PENDING: frozenset({It.PROCESSING}),
    It.PROCESSING: frozenset({It.SUCCESS, It.FAILED, It.SUPPLIER_PENDING}),
    It.SUPPLIER_PENDING: frozenset({It.PROCESSING, It.NEEDS_REVIEW}),
    # an operator resolves a review with a reason
    It.NEEDS_REVIEW: frozenset({It.SUCCESS, It.FAILED}),
    It.SUCCESS: frozenset(),
    It.FAILED: frozenset(),
}

PAYMENT_FINAL = frozenset({P.SUCCESS, P.REFUNDED, P.EXPIRED})
PAYMENT_OPEN = frozenset(set(PaymentStatus) - PAYMENT_FINAL)  # what the reconciler and the stuck list scan
ITEM_FINAL = frozenset({It.SUCCESS, It.FAILED})
ITEM_OPEN = frozenset({It.PENDING, It.PROCESSING, It.SUPPLIER_PENDING})


def sources_of(table: dict, to: StrEnum) -> frozenset:
    """Every state from which `to` may be reached."""
    return frozenset(src for src, targets in table.items() if to in targets)


def payment_status_from_items(items: list[ItemStatus]) -> PaymentStatus | None:
    """The payment status its items imply once all are final; None while any is still moving."""
    if not items or any(s not in ITEM_FINAL for s in items):
        return None
    delivered = sum(s is It.SUCCESS for s in items)
    if delivered == len(items):
        return P.SUCCESS
    return P.PARTIAL if delivered else P.FAILED
