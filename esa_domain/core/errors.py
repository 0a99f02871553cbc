"""Errors a person will read. Each has a stable `code` (API clients branch on it) and a message saying what was
wrong and what to do."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"
    http_status = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(DomainError):
    code = "invalid_request"
    http_status = 422


class UnknownProduct(DomainError):
    code = "unknown_product"
    http_status = 422


class ProductUnavailable(DomainError):
    code = "product_unavailable"
    http_status = 409


class InvalidTarget(DomainError):
    code = "invalid_target"
    http_status = 422


class PromoError(DomainError):
    code = "promo_invalid"
    http_status = 422


class PromoUnknown(PromoError):
    code = "promo_unknown"


class PromoExpired(PromoError):
    code = "promo_expired"


class PromoNotStarted(PromoError):
    code = "promo_not_started"


class PromoExhausted(PromoError):
    code = "promo_exhausted"
    http_status = 409


class PromoAlreadyUsed(PromoError):
    code = "promo_already_used"
    http_status = 409


class PromoMinimumNotMet(PromoError):
    code = "promo_minimum_not_met"


class StaleRate(DomainError):
    code = "fx_rate_stale"
    http_status = 503


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"
    http_status = 409


class NotFoundError(DomainError):
    code = "not_found"
    http_status = 404
