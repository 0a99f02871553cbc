"""Request-scoped access to the customer API's config, verifier and rate limiter (built once per app).

The dependencies are `async def` although they never await: FastAPI runs a plain `def` dependency in the
thread pool, a thread hand-off (and a GIL hand-back) per dependency per request for an attribute lookup.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from esa_api.customer.config import CustomerApiConfig
from esa_api.customer.ratelimit import RateLimiter
from esa_api.deps import runtime_for
from esa_domain.adapters.line.login import LiffVerifier


def config_for(app: Any) -> CustomerApiConfig:
    """The app's config: installed by a test on `app.state.customer_config`, else the runtime's."""
    state = app.state
    if getattr(state, "customer_config", None) is None:
        state.customer_config = runtime_for(app).customer_api
    return state.customer_config


async def get_config(request: Request) -> CustomerApiConfig:
    return config_for(request.app)


async def get_verifier(request: Request) -> LiffVerifier:
    state = request.app.state
    if getattr(state, "liff_verifier", None) is None:
        cfg = config_for(request.app)
        state.liff_verifier = LiffVerifier(cfg.line_login_base_url, cfg.line_channel_id)
    return state.liff_verifier


async def get_limiter(request: Request) -> RateLimiter:
    state = request.app.state
    if getattr(state, "rate_limiter", None) is None:
        state.rate_limiter = RateLimiter(runtime_for(request.app).settings.redis_url)
    return state.rate_limiter
