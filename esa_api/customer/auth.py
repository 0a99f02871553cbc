"""Who is calling: the bearer token names the customer; each call counts against their rate limit."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from esa_api.customer.config import CustomerApiConfig
from esa_api.customer.deps import get_config, get_limiter
from esa_api.customer.problems import Problem
from esa_api.customer.ratelimit import RateLimiter
from esa_domain.customers import InvalidCustomerToken, read_token

bearer = HTTPBearer(auto_error=False, description="The access token from POST /api/v1/auth/line")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="esa"'}


@dataclass(frozen=True)
class CurrentCustomer:
    id: int


async def limit_address(
    request: Request,
    cfg: CustomerApiConfig = Depends(get_config),
    limiter: RateLimiter = Depends(get_limiter),
) -> None:
    """Every /api/v1 call counts against the client address's limit."""
    address = request.client.host if request.client else "unknown"
    await limiter.hit("address", address, limit=cfg.address_per_window, window_s=cfg.window_s)


async def current_customer(
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    cfg: CustomerApiConfig = Depends(get_config),
    limiter: RateLimiter = Depends(get_limiter),
) -> CurrentCustomer:
    """The signed-in customer; 401 problem JSON without a valid token."""
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
    await limiter.hit("customer", str(customer_id), limit=cfg.customer_per_window, window_s=cfg.window_s)
    return CurrentCustomer(customer_id)
