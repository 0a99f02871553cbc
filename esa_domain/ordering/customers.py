"""Customers: found or created by their LINE user id, and short-lived bearer tokens for the Mini App.

Tokens are HMAC-SHA256 signed (`c1.<customer id>.<expiry>.<signature>`), not stored: no table or migration is
needed, a request is authenticated without a database read, and the short lifetime (30 minutes by default)
bounds what a leaked token can do. The trade-off: a token cannot be revoked before it expires, except by
rotating the secret (which signs every customer out).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session

from esa_domain.core.errors import DomainError
from esa_domain.models import Customer

TOKEN_VERSION = "c1"
DEFAULT_TOKEN_TTL = timedelta(minutes=30)


class InvalidCustomerToken(DomainError):
    code = "unauthenticated"
    http_status = 401


def find_or_create_customer(session: Session, line_user_id: str, display_name: str = "") -> Customer:
    """The customer with this LINE user id, created on first sign-in; the display name follows LINE's.

    `line_user_id`: the `sub` of a verified LINE ID token. An upsert, so two concurrent first sign-ins of the
    same person make one customer. Flushes only: the caller's unit of work commits.
    """
    stmt = (
        insert(Customer)
        .values(line_user_id=line_user_id, display_name=display_name[:120])
        .on_conflict_do_update(index_elements=["line_user_id"], set_={"display_name": display_name[:120]})
        .returning(Customer.id)
    )
    customer_id = session.execute(stmt).scalar_one()
    customer = session.get(Customer, customer_id, populate_existing=True)
    assert customer is not None
    return customer


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _signature(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def issue_token(
    customer_id: int, secret: bytes, *, ttl: timedelta = DEFAULT_TOKEN_TTL, now: datetime | None = None
) -> tuple[str, datetime]:
    """A bearer token for `customer_id` and when it expires.

    `secret`: the server-side signing key (at least 32 bytes); `ttl`: how long the token is accepted.
    """
    if len(secret) < 32:
        raise ValueError("the customer token secret must be at least 32 bytes")
    expires_at = (now or datetime.now(UTC)) + ttl
    payload = f"{TOKEN_VERSION}.{customer_id}.{int(expires_at.timestamp())}"
    return f"{payload}.{_signature(secret, payload)}", expires_at


def read_token(token: str, secret: bytes, *, now: datetime | None = None) -> int:
    """The customer id a token was issued for; InvalidCustomerToken if it is forged, malformed or expired."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != TOKEN_VERSION or not parts[1].isdigit() or not parts[2].isdigit():
        raise InvalidCustomerToken("the access token is malformed: sign in again")
    payload = ".".join(parts[:3])
    # constant-time comparison: the signature must not be guessable byte by byte
    if not hmac.compare_digest(_signature(secret, payload), parts[3]):
        raise InvalidCustomerToken("the access token is not valid: sign in again")
    if int(parts[2]) <= (now or datetime.now(UTC)).timestamp():
        raise InvalidCustomerToken("the access token has expired: sign in again")
    return int(parts[1])
