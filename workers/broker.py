"""The dramatiq broker on Redis, with periodiq's middleware for the schedules. Imported first by every worker."""

from __future__ import annotations

import dramatiq
from periodiq import PeriodiqMiddleware

from esa_domain.infra.production import refuse_unsafe_production
from esa_domain.infra.settings import get_settings
from workers import observability
from workers.publisher import make_broker

# every worker and the scheduler import this first: production on the demo's defaults stops here
refuse_unsafe_production(get_settings())
broker = make_broker(get_settings().redis_url)
broker.add_middleware(
    PeriodiqMiddleware(skip_delay=120)
)  # a tick older than 2 minutes is skipped, not piled up
dramatiq.set_broker(broker)
observability.install(broker)  # logging, heartbeat and metrics of a worker or scheduler process
