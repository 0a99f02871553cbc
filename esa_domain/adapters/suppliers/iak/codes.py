"""IAK's response codes, as the outcome each one means; a code absent is UNKNOWN.

Sources (iak-id/iak-api-reference-docs): docs/prepaid/response-code.md and docs/postpaid/response-code.md. The
docs' "Status" column says Success / Pending / Failed; a documented "Failed" moves to another supplier only when
it is definite. Where a code's wording leaves room for a payment that went through (postpaid 11 "duplicate ref
id", 91 "database connection error", 92 "general error ... undefined yet"), it is UNKNOWN and a status check
settles it, whatever the Status column says.
"""

from __future__ import annotations

from esa_domain.adapters.suppliers.base import FailureClass, Outcome

_P, _C, _K = FailureClass.PRODUCT, FailureClass.CUSTOMER, FailureClass.CONFIG
_U = (Outcome.UNKNOWN, None)
# prepaid rc -> (outcome, failure class); anything absent is UNKNOWN.
RC_OUTCOMES: dict[str, tuple[Outcome, FailureClass | None]] = {
    "00": (Outcome.SUCCESS, None),
    "39": (Outcome.PENDING, None),
    "201": _U,  # UNDEFINED RESPONSE CODE (Pending)
    "06": _U,  # TRANSACTION NOT FOUND: see NOT_FOUND_CODES
    # FAILED, out of stock / limits / maintenance at IAK: another supplier may deliver
    **{rc: (Outcome.FAILED, _P) for rc in ("07", "10", "20", "106", "110", "121", "202", "207")},
    # FAILED because of the destination (12: the e-wallet's balance limit): no supplier can deliver
    **{rc: (Outcome.FAILED, _C) for rc in ("12", "13", "14", "16", "131", "141", "142", "203", "206")},
    # FAILED because of our account or request (deposit, IP, suspension, format, URL, command, sign)
    **{rc: (Outcome.FAILED, _K) for rc in ("17", "102", "107", "117", "118", "204", "205")},
}
# Postpaid answers carry `response_code`: its own table (docs/postpaid/response-code.md; e.g. 10 there is "bill
# not available", a customer matter, where prepaid 10 is a daily limit).
POSTPAID_RC_OUTCOMES: dict[str, tuple[Outcome, FailureClass | None]] = {
    "00": (Outcome.SUCCESS, None),
    "39": (Outcome.PENDING, None),
    "05": _U,  # UNDEFINED ERROR (Pending)
    "06": _U,  # INQUIRY ID NOT FOUND: see NOT_FOUND_CODES
    "11": _U,  # DUPLICATE REF ID: this reference was used already, perhaps by our own payment
    "91": _U,  # DATABASE CONNECTION ERROR: at IAK, during our payment
    "92": _U,  # GENERAL ERROR: "the received response code is undefined yet"
    "103": _U,  # TIMEOUT on payment: it may still have been paid
    "105": _U,  # MISC ERROR / BILLER SYSTEM ERROR: the biller erred while holding our payment
    "201": _U,  # UNDEFINED RESPONSE CODE (Pending)
    # definite failures where nothing was paid and another supplier may pay: 04 the inquiry (billing id)
    # expired (the adapter already made one fresh inquiry under another ref_id); 37/38 payment failed
    **{
        rc: (Outcome.FAILED, _P)
        for rc in (
            "02",
            "04",
            "07",
            "09",
            "20",
            "33",
            "37",
            "38",
            "42",
            "93",
            "94",
            "106",
            "109",
            "110",
        )
    },
    # the bill or the customer number: no supplier can pay it
    **{
        rc: (Outcome.FAILED, _C)
        for rc in (
            "01",
            "08",
            "10",
            "12",
            "13",
            "14",
            "15",
            "16",
            "30",
            "31",
            "32",
            "34",
            "35",
            "36",
            "40",
            "41",
            "108",
        )
    },
    # our account or request
    **{rc: (Outcome.FAILED, _K) for rc in ("03", "17", "100", "101", "102", "107", "117", "118", "205")},
}
# "no such transaction": UNKNOWN, because an in-flight request may still create it; the engine decides
# after its grace re-check (shared/specs/suppliers.md, rc 06).
NOT_FOUND_CODES = frozenset({"06"})
# Postpaid check-status `status` field (docs/postpaid/core/check-status.md): 0 payment request not received,
# 1 success, 2 payment failed, 3 being processed.
POSTPAID_STATUS: dict[str, tuple[Outcome, FailureClass | None]] = {
    "0": (Outcome.FAILED, _P),
    "1": (Outcome.SUCCESS, None),
    "2": (Outcome.FAILED, _P),
    "3": (Outcome.PENDING, None),
}
# On a status check these codes mean the check itself was refused, not that the transaction failed.
CHECK_REFUSED_CODES = frozenset({"03", "100", "101", "102", "107", "117", "118", "204", "205"})
