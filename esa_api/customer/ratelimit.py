"""Fixed-window rate limits in Redis: INCR and EXPIRE in one MULTI pipeline, so every process and host shares
one count and a key never outlives its window. A 429 says when to come back (Retry-After).

If Redis cannot be reached the request is let through and logged: a limiter outage must not stop sales.
"""

from __future__ import annotations

import logging
import math
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from esa_api.customer.problems import Problem

log = logging.getLogger(__name__)
_PREFIX = "esa:ratelimit"


class RateLimiter:
    """Counts hits per (scope, identity) in fixed windows."""

    def __init__(self, redis_url: str) -> None:
        """`redis_url`: the shared Redis; empty disables limiting (logged once)."""
        self._client = aioredis.Redis.from_url(redis_url) if redis_url else None
        if self._client is None:
            log.warning("REDIS_URL is empty: customer API rate limits are off")

    async def hit(self, scope: str, identity: str, *, limit: int, window_s: int) -> None:
        """Count one request; Problem 429 with Retry-After when `identity` went over `limit` in this window.

        `scope`: what is limited ("customer", "address"); `identity`: who (customer id, client address).
        """
        await self.hit_all([(scope, identity, limit)], window_s=window_s)

    async def hit_all(self, hits: list[tuple[str, str, int]], *, window_s: int) -> None:
        """Count one request against several limits, (scope, identity, limit) each, in one round trip to
        Redis; Problem 429 for the first one exceeded."""
        hits = [h for h in hits if h[2] > 0]
        if self._client is None or not hits:
            return
        now = time.time()
        window = int(now // window_s)
        keys = [f"{_PREFIX}:{scope}:{identity}:{window}" for scope, identity, _ in hits]
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.incr(key)
                    pipe.expire(key, window_s + 1)
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("rate limiter unavailable (%s): request let through", type(exc).__name__)
            return
        for (scope, _, limit), count in zip(hits, replies[::2], strict=True):
            if int(count) > limit:
                retry_after = max(1, math.ceil((window + 1) * window_s - now))
                who = "you have" if scope == "customer" else "this network address has"
                raise Problem(
                    429,
                    "rate_limited",
                    f"{who} made more than {limit} requests in {window_s} s; try again in {retry_after} s",
                    headers={"Retry-After": str(retry_after)},
                    params={"retry_after": retry_after},
                )
