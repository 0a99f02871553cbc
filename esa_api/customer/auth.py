"""Who is calling: the bearer token names the customer; each call counts against their rate limit."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from esa_api.customer.config import CustomerApiConfig
from esa_api.customer.deps import get_config, get_limiter
from esa_api.customer.problems import Problem
from esa_api.customer.ratelimit import RateLimiter
from esa_domain.ordering.customers import InvalidCustomerToken, read_token

bearer = HTTPBearer(auto_error=False, description="The access token from POST /api/v1/auth/line")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="esa"'}


@dataclass(frozen=True)
class CurrentCustomer:
    id: int


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def limit_address(
    request: Request,
    cfg: CustomerApiConfig = Depends(get_config),
    limiter: RateLimiter = Depends(get_limiter),
) -> None:
    """The client address's limit, for the /api/v1 calls made without signing in (a signed-in call counts
    against it in `current_customer`)."""
    await limiter.hit("address", _address(request), limit=cfg.address_per_window, window_s=cfg.window_s)


async def current_customer(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    cfg: CustomerApiConfig = Depends(get_config),
    limiter: RateLimiter = Depends(get_limiter),
) -> CurrentCustomer:
    """The signed-in customer; 401 problem JSON without a valid token.

    Every call counts against the client address's limit, and a signed-in one against the customer's too,
    both in one round trip to Redis."""
    address = _address(request)
    try:
        if credentials is None:
            raise Problem(
                401,
                "unauthenticated",
                "sign in with LINE first (POST /api/v1/auth/line), then send 'Authorization: Bearer <token>'",
                headers=_CHALLENGE,
            )
        try:
            customer_id = read_token(credentials.credentials, cfg.token_secret)
        except InvalidCustomerToken as exc:
            raise Problem(401, exc.code, exc.message, headers=_CHALLENGE) from None
    except Problem:
        await limiter.hit("address", address, limit=cfg.address_per_window, window_s=cfg.window_s)
        raise
    await limiter.hit_all(
        [
            ("address", address, cfg.address_per_window),
            ("customer", str(customer_id), cfg.customer_per_window),
        ],
        window_s=cfg.window_s,
    )
    return CurrentCustomer(customer_id)
