"""The worker process's runtime: built once per process, after the fork (engines must not cross a fork)."""

from __future__ import annotations

import threading
from functools import lru_cache

from sqlalchemy import Engine, create_engine

from esa_domain.ecpay import EcpayClient
from esa_domain.runtime import Runtime
from esa_domain.settings import get_settings
from workers.broker import broker
from workers.publisher import DramatiqPublisher

_local = threading.local()


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    settings = get_settings()
    return Runtime(settings, worker_engine(settings.sqlalchemy_url), DramatiqPublisher(broker))


def worker_engine(url: str) -> Engine:
    """esa_domain.db.make_engine's engine without the pre-ping: a worker checks out a connection twice per
    purchase, and a ping is a round trip each time. A connection that died with a PostgreSQL restart fails
    its statement instead; SQLAlchemy then drops the pool's stale connections and dramatiq retries the
    message, which is idempotent by state."""
    if not url.startswith("postgresql"):
        raise ValueError(
            "DATABASE_URL must be a PostgreSQL URL (postgresql://user@host/db); ESA runs on PostgreSQL only"
        )
    return create_engine(
        url,
        pool_pre_ping=False,
        pool_size=10,
        max_overflow=20,
        connect_args={"options": "-c timezone=UTC"},  # as make_engine: one clock for every row
    )


def ecpay_client() -> EcpayClient:
    """One ECPay client per worker thread; its 403 back-off is also persisted on the payment."""
    client = getattr(_local, "ecpay", None)
    if client is None:
        client = _local.ecpay = runtime().ecpay.client()
    return client
