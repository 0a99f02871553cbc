"""Redision's response codes, as the outcome each one means. Redision publishes nothing: this is ASSUMED.

Assumption (written here because there is no document to cite): Redision follows Bank Indonesia's SNAP-BI
standard (Standar Nasional Open API Pembayaran), whose `responseCode` is seven digits, HTTP status (3) + service
code (2) + case code (2), with the case codes of SNAP's general response-code list. The service code is assumed
to be `38` for every order call. Read that way:
- 2xx: 200xx00 successful, 202xx00 request in progress (the order's `transactionStatus` then decides).
- 4xx: the request was refused before anything was bought: definite, classed by who can fix it.
- 5xx (500xx00 general error, 500xx01 internal server error, 500xx02 external server error, 504xx00 timeout):
  the order may exist, so UNKNOWN and a status query settles it. A 5xx is never a reason to buy elsewhere.
- 409xx00/409xx01 (conflict, duplicate partnerReferenceNo): our reference was seen already: UNKNOWN, query it.
`ASSUMED+` marks codes beyond SNAP's general list that our notes (shared/specs/suppliers.md) assumed.
"""

from __future__ import annotations

from esa_domain.adapters.suppliers.base import FailureClass, Outcome

SERVICE = "38"  # ASSUMED: the SNAP service code of Redision's order calls
_F, _S, _P, _U = Outcome.FAILED, Outcome.SUCCESS, Outcome.PENDING, Outcome.UNKNOWN
_C, _R, _K = FailureClass.CUSTOMER, FailureClass.PRODUCT, FailureClass.CONFIG

# (HTTP status, case) -> (outcome, failure class, SNAP meaning)
_SNAP: dict[tuple[str, str], tuple[Outcome, FailureClass | None, str]] = {
    ("200", "00"): (_S, None, "successful"),
    ("202", "00"): (_P, None, "request in progress"),
    ("400", "00"): (_F, _K, "bad request"),
    ("400", "01"): (_F, _K, "invalid field format"),
    ("400", "02"): (_F, _K, "invalid mandatory field"),
    ("401", "00"): (_F, _K, "unauthorized"),
    ("401", "01"): (_F, _K, "invalid token (B2B)"),
    ("403", "00"): (_F, _R, "transaction expired"),
    ("403", "01"): (_F, _K, "feature not allowed"),
    ("403", "02"): (_F, _C, "exceeds transaction amount limit"),
    ("403", "03"): (_F, _C, "suspected fraud"),
    ("403", "04"): (_F, _C, "activity count limit exceeded"),
    ("403", "05"): (_F, _C, "do not honor"),
    ("403", "06"): (_F, _R, "feature not allowed at this time"),  # the sandbox's out of stock
    ("403", "14"): (_F, _K, "insufficient funds"),
    ("403", "15"): (_F, _K, "transaction not permitted"),
    ("403", "18"): (_F, _C, "inactive card/account/customer"),
    ("404", "00"): (_U, None, "invalid transaction status"),
    ("404", "01"): (_U, None, "transaction not found"),  # see NOT_FOUND_CODES
    ("404", "02"): (_F, _R, "invalid routing"),
    ("404", "08"): (_F, _K, "invalid merchant"),
    ("404", "11"): (_F, _C, "invalid card/account/customer"),
    ("404", "12"): (_F, _C, "invalid bill"),
    ("404", "13"): (_F, _R, "invalid amount"),  # the price we guard with changed
    ("404", "14"): (_F, _C, "paid bill"),
    ("404", "16"): (_F, _K, "partner not found"),
    ("404", "18"): (_F, _R, "inconsistent request / SKU not found"),  # ASSUMED+: SKU not found or inactive
    ("405", "00"): (_F, _K, "requested function is not supported"),
    ("405", "01"): (_F, _K, "requested operation is not allowed"),
    ("409", "00"): (_U, None, "conflict: query the order"),
    ("409", "01"): (_U, None, "duplicate partnerReferenceNo: query the order"),
    ("429", "00"): (_U, None, "too many requests: query before buying elsewhere"),
    ("500", "00"): (_U, None, "general error"),
    ("500", "01"): (_U, None, "internal server error: retry"),
    ("500", "02"): (_U, None, "external server error"),
    ("504", "00"): (_U, None, "timeout"),
}
# responseCode -> (outcome, failure class, meaning). Any code not listed is UNKNOWN.
RESPONSE_CODES: dict[str, tuple[Outcome, FailureClass | None, str]] = {
    f"{http}{SERVICE}{case}": entry for (http, case), entry in _SNAP.items()
}
# the status query knows no transaction with this reference. UNKNOWN, because an in-flight order may still
# create it; the engine decides after its grace re-check (as for IAK rc 06).
NOT_FOUND_CODES = frozenset({f"404{SERVICE}01"})


def classify(code: str) -> tuple[Outcome, FailureClass | None, str]:
    """The outcome of any SNAP code: the table, else by its HTTP class (5xx UNKNOWN; other unlisted UNKNOWN)."""
    if code in RESPONSE_CODES:
        return RESPONSE_CODES[code]
    if code[:1] == "5":
        return _U, None, "server error (SNAP 5xx): the order may exist"
    return _U, None, "unmapped response code"
