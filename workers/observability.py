"""Logs, metrics and heartbeats of the worker and scheduler processes, installed on the broker by workers.broker.

- LogContext: around each message, the log fields its sender bound (the web request's id, the payment) and
  the message's own ids (item_id, attempt_id, payment_id, alert_id), so every line the message writes says
  what it concerns.
- Heartbeat: each worker process beats in Redis while its worker threads live (esa_domain/infra/heartbeat.py).
- dramatiq's own Prometheus middleware (message counts, errors, retries, dead letters, durations, in progress)
  when the launcher gave this worker a metrics folder and port (esa_admin/cli.py); its exposition process
  serves every counter in that folder, ESA's too (esa_domain/infra/metrics.py), on ESA_WORKER_METRICS_PORT.
  dramatiq's middleware rather than a hand-made one: it already counts every message outcome in
  prometheus_client's multiprocess mode and runs the exposition server as a dramatiq fork process.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import dramatiq

from esa_domain.infra import logging_setup

_MESSAGE_IDS = ("item_id", "attempt_id", "payment_id", "alert_id", "refund_id")


def process_kind() -> str | None:
    """'worker' or 'scheduler' in a real worker or scheduler process; None when imported elsewhere (tests)."""
    kind = os.environ.get("ESA_PROCESS_KIND")
    if kind in ("worker", "scheduler"):
        return kind
    program = sys.argv[0] if sys.argv else ""
    if "periodiq" in program:
        return "scheduler"
    if "dramatiq" in program:  # `dramatiq ...` or `python -m dramatiq ...`, in each forked worker process
        return "worker"
    return None


class LogContext(dramatiq.Middleware):
    """Binds a message's log fields for the time it is processed (per worker thread)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        fields: dict[str, Any] = dict(message.options.get("esa_log") or {})
        kwargs = message.kwargs or {}
        for name in _MESSAGE_IDS:
            if name in kwargs:
                fields[name] = kwargs[name]
        fields["actor"] = message.actor_name
        self._local.token = logging_setup.enter(fields)

    def after_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.Message, *, result: Any = None, exception: Any = None
    ) -> None:
        token = getattr(self._local, "token", None)
        if token is not None:
            self._local.token = None
            logging_setup.leave(token)

    after_skip_message = after_process_message


class WorkerHeartbeat(dramatiq.Middleware):
    """Starts the process's heartbeat once its worker runs; withdraws it on a clean shutdown."""

    def __init__(self) -> None:
        self.heartbeat: Any = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        from esa_domain.infra.heartbeat import Heartbeat
        from esa_domain.infra.settings import get_settings

        def healthy() -> bool:
            threads = [*getattr(worker, "workers", []), *getattr(worker, "consumers", {}).values()]
            return bool(threads) and all(t.is_alive() for t in threads)

        self.heartbeat = Heartbeat(broker.client, "worker", get_settings().heartbeat_seconds, healthy).start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()


class CountScheduledTicks(dramatiq.Middleware):
    """In the scheduler: one count per periodic message enqueued."""

    def after_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message, delay: Any) -> None:
        from esa_domain.infra.metrics import SCHEDULER_TICKS

        SCHEDULER_TICKS.labels(message.actor_name).inc()


def install(broker: dramatiq.Broker) -> None:
    """Configure this process's logging and add the middlewares its kind needs (nothing outside a worker or
    the scheduler: tests that import the actors keep their own logging)."""
    kind = process_kind()
    if kind is None:
        return
    logging_setup.configure_logging(kind)
    if kind == "scheduler":
        broker.add_middleware(CountScheduledTicks())
        return
    # first in, last out: every other middleware's lines about the message carry its fields too
    broker.add_middleware(LogContext(), before=type(broker.middleware[0]))
    broker.add_middleware(WorkerHeartbeat())
    # dramatiq's own (lower-case) variables, set by the launcher with the folder
    if os.environ.get("dramatiq_prom_port") and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # noqa: SIM112
        from dramatiq.middleware.prometheus import Prometheus

        broker.add_middleware(Prometheus())
