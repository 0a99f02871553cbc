"""Lapak Gaming's answer codes and order statuses, as the outcome each one means; anything else is UNKNOWN.

Source: the codes aungmyokyaw97/LapakGaming's client handles (src/Traits/LapakGamingTrait.php,
handleApiErrorCode), which follow Lapak Gaming's published reseller API collection.
"""

from __future__ import annotations

from esa_domain.adapters.suppliers.base import FailureClass, Outcome

_P, _C, _K = FailureClass.PRODUCT, FailureClass.CUSTOMER, FailureClass.CONFIG
CODE_OUTCOMES: dict[str, tuple[Outcome, FailureClass | None]] = {
    **{c: (Outcome.FAILED, _P) for c in ("PRODUCT_NOT_FOUND", "PRODUCT_EMPTY", "PROVIDER_NOT_FOUND",
                                          "PROVIDER_INACTIVE", "STOCK_NOT_FOUND", "PRICE_NOT_MATCH")},
    **{c: (Outcome.FAILED, _K) for c in ("INSUFFICIENT_BALANCE", "UNAUTHORIZED", "NOT_ALLOWED")},
    **{c: (Outcome.FAILED, _C) for c in ("USER_ID_EMPTY", "USER_ID_CONTAIN_SPACE")},
    "SYSTEM_ERROR": (Outcome.UNKNOWN, None),
    "UNKNOWN_ERROR": (Outcome.UNKNOWN, None),
}  # fmt: skip
# order_status answered "no such order": UNKNOWN until the engine's grace period has passed
NOT_FOUND_CODES = frozenset({"TID_NOT_FOUND", "ORDER_NOT_FOUND"})
# order_status `data.status`; REFUNDED is final, classed as product so the next supplier may try.
ORDER_STATUS: dict[str, tuple[Outcome, FailureClass | None]] = {
    "SUCCESS": (Outcome.SUCCESS, None),
    "PENDING": (Outcome.PENDING, None),
    "REFUNDED": (Outcome.FAILED, _P),
}
