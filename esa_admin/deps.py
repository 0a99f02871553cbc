"""What the dashboard's event handlers need from the outside: the engine and the outbox publisher."""

from __future__ import annotations

from functools import lru_cache

from esa_domain.infra.db import UnitOfWork, default_engine
from esa_domain.infra.outbox import Publisher
from esa_domain.infra.settings import get_settings


@lru_cache
def publisher() -> Publisher | None:
    """The broker publisher when REDIS_URL is set; otherwise None and the outbox sweeper sends the rows."""
    url = get_settings().redis_url
    if not url:
        return None
    from workers.publisher import DramatiqPublisher, make_broker

    return DramatiqPublisher(make_broker(url))


def unit_of_work() -> UnitOfWork:
    """A unit of work on the app's database that publishes its outbox rows after commit."""
    return UnitOfWork(default_engine(), publisher())
