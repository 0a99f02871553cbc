"""`python -m workers.scheduler`: periodiq's scheduler with ESA's logging, metrics server and heartbeat.

`esa scheduler` and `esa up` run this instead of bare `periodiq workers.broker workers.schedules`, which it then
runs in this same process. On ESA_SCHEDULER_METRICS_PORT (0: none) it serves its own counters (ticks sent) and
the system's figures read on scrape (esa_domain/infra/state_metrics.py: outbox, queues, FX age, breakers,
deposits, transitions): exactly one scheduler runs, so those are counted once.
"""

from __future__ import annotations

import logging
import os
import sys
import threading


def main() -> None:
    os.environ["ESA_PROCESS_KIND"] = "scheduler"
    from esa_domain.infra import metrics
    from esa_domain.infra.db import default_engine
    from esa_domain.infra.heartbeat import Heartbeat
    from esa_domain.infra.settings import get_settings
    from esa_domain.infra.state_metrics import StateCollector
    from workers.broker import broker  # logging configured here (workers.observability)

    settings = get_settings()
    if settings.scheduler_metrics_port:
        from prometheus_client import start_http_server

        metrics.REGISTRY.register(StateCollector(default_engine(), broker.client))  # type: ignore[attr-defined]
        try:
            start_http_server(
                settings.scheduler_metrics_port, settings.metrics_host, registry=metrics.REGISTRY
            )
        except OSError as exc:  # the port is taken: schedule anyway, a missing scrape target is its own alert
            logging.getLogger(__name__).error(
                "scheduler metrics not served on %s:%s: %s (ESA_SCHEDULER_METRICS_PORT)",
                settings.metrics_host,
                settings.scheduler_metrics_port,
                exc,
            )
    main_thread = threading.main_thread()
    Heartbeat(broker.client, "scheduler", settings.heartbeat_seconds, main_thread.is_alive).start()  # type: ignore[attr-defined]

    from periodiq import entrypoint

    sys.argv = ["periodiq", "workers.broker", "workers.schedules"]
    entrypoint()


if __name__ == "__main__":
    main()
