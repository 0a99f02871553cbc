"""The error answers each route documents in the OpenAPI document (all RFC 9457 problem JSON)."""

from __future__ import annotations

from typing import Any

from esa_api.customer.problems import MEDIA_TYPE
from esa_api.customer.schemas import ProblemOut

_TEXT = {
    400: "The request is malformed",
    401: "Not signed in, or the token expired: sign in again",
    404: "No such order among yours",
    409: "Conflicts with the current state (idempotency key reuse, order no longer payable, promo used up)",
    422: "A field is wrong; `field` says which",
    429: "Too many requests; see Retry-After",
    503: "A dependency is unavailable (LINE, a stale FX rate); try later",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status answered with problem JSON."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, 400, 422, 429}):
        out[status] = {
            "model": ProblemOut,
            "description": _TEXT[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemOut"}}},
        }
    return out
