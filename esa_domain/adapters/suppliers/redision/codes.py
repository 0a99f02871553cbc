"""Redision's response codes (ASSUMED SNAP-BI style, shared/specs/suppliers.md), as the outcome each one means.

`ASSUMED+` marks additions beyond the spec; a code not listed is UNKNOWN.
"""

from __future__ import annotations

from esa_domain.adapters.suppliers.base import FailureClass, Outcome

_F, _S, _P, _U = Outcome.FAILED, Outcome.SUCCESS, Outcome.PENDING, Outcome.UNKNOWN
# responseCode -> (outcome, failure class, meaning). Any code not listed is UNKNOWN.
RESPONSE_CODES: dict[str, tuple[Outcome, FailureClass | None, str]] = {
    "2003800": (_S, None, "successful"),
    "2023800": (_P, None, "in progress"),
    "4043811": (_F, FailureClass.CUSTOMER, "invalid customer number"),
    "4043818": (_F, FailureClass.PRODUCT, "SKU not found"),
    "4043813": (_F, FailureClass.PRODUCT, "amount does not match the price"),  # ASSUMED+
    "4033814": (_F, FailureClass.CONFIG, "insufficient funds"),
    "4013800": (_F, FailureClass.CONFIG, "unauthorized"),
    "4013801": (_F, FailureClass.CONFIG, "invalid access token"),
    "4093800": (_U, None, "duplicate reference: query its status"),
    "5003801": (_F, FailureClass.PRODUCT, "biller failure"),
    "5003800": (_U, None, "general error"),
    "5043800": (_U, None, "timeout"),
}
# ASSUMED+: the status query knows no transaction with this reference. UNKNOWN, because an in-flight
# order may still create it; the engine decides after its grace re-check (as for IAK rc 06).
NOT_FOUND_CODES = frozenset({"4043801"})
