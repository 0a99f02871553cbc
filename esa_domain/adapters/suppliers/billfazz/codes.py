"""BillFazz's answers, as the outcome each one means.

Only `status: "success"` is documented; the rest (pending/failed + failureReason, 4xx `{"message"}`) is the
ASSUMED contract of shared/specs/suppliers.md, gathered here so it is corrected in one place when real docs
arrive.
"""

from __future__ import annotations

from esa_domain.adapters.suppliers.base import FailureClass, Outcome

STATUS_OUTCOMES = {"success": Outcome.SUCCESS, "pending": Outcome.PENDING}  # "failed": by failureReason
# ASSUMED failureReason values; an unrecognised reason is UNKNOWN (we cannot tell whom to blame).
FAILURE_REASONS: dict[str, FailureClass] = {
    "INVALID_DESTINATION": FailureClass.CUSTOMER,
    "DESTINATION_BLOCKED": FailureClass.CUSTOMER,
    "OUT_OF_STOCK": FailureClass.PRODUCT,
    "PRODUCT_UNAVAILABLE": FailureClass.PRODUCT,
    "PROVIDER_PROBLEM": FailureClass.PRODUCT,
    "INSUFFICIENT_BALANCE": FailureClass.CONFIG,
}
# ASSUMED 4xx `message` fragments, first match wins; a duplicate refId is UNKNOWN (query it).
MESSAGE_RULES: tuple[tuple[str, Outcome, FailureClass | None], ...] = (
    ("already exists", Outcome.UNKNOWN, None),
    ("destination", Outcome.FAILED, FailureClass.CUSTOMER),
    ("product", Outcome.FAILED, FailureClass.PRODUCT),
    ("balance", Outcome.FAILED, FailureClass.CONFIG),
)
