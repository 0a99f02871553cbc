"""IAK's response codes, as the outcome each one means (shared/specs/suppliers.md); a code absent is UNKNOWN."""

from __future__ import annotations

from esa_domain.adapters.suppliers.base import FailureClass, Outcome

_P, _C, _K = FailureClass.PRODUCT, FailureClass.CUSTOMER, FailureClass.CONFIG
# rc -> (outcome, failure class); anything absent is UNKNOWN.
RC_OUTCOMES: dict[str, tuple[Outcome, FailureClass | None]] = {
    "00": (Outcome.SUCCESS, None),
    "39": (Outcome.PENDING, None),
    "201": (Outcome.UNKNOWN, None),
    "06": (Outcome.UNKNOWN, None),  # transaction not found: see NOT_FOUND_CODES
    **{rc: (Outcome.FAILED, _P) for rc in ("07", "106", "110", "10", "121", "202", "207", "20")},
    **{rc: (Outcome.FAILED, _C) for rc in ("13", "14", "16", "203", "206", "131", "141", "142")},
    **{rc: (Outcome.FAILED, _K) for rc in ("17", "102", "118", "204")},
}
# Postpaid answers carry `response_code`; these differ from the prepaid table.
POSTPAID_RC_OUTCOMES: dict[str, tuple[Outcome, FailureClass | None]] = {
    **RC_OUTCOMES,
    "05": (Outcome.UNKNOWN, None),
    "103": (Outcome.UNKNOWN, None),  # timeout on payment: it may still have been paid
    "42": (Outcome.FAILED, _P),  # payment never arrived: no debit stands, another supplier may pay
    "01": (Outcome.FAILED, _C),  # invoice already paid (IAK postpaid docs)
    "34": (Outcome.FAILED, _C),  # bill already paid (IAK postpaid docs)
    "100": (Outcome.FAILED, _K),  # invalid signature (postpaid's code for it)
}
# "no such transaction": UNKNOWN, because an in-flight request may still create it; the engine decides
# after its grace re-check (shared/specs/suppliers.md, rc 06).
NOT_FOUND_CODES = frozenset({"06"})
# Postpaid check-status `status` field: 0 never paid (rc 42), 1 success, 2 failed, 3 pending (rc 39).
POSTPAID_STATUS = {"1": Outcome.SUCCESS, "3": Outcome.PENDING}
# On a status check these codes mean the check itself was refused, not that the transaction failed.
CHECK_REFUSED_CODES = frozenset({"204", "102", "118", "100"})
