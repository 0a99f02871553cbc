"""Prometheus metrics of every ESA process (prometheus_client), with no personal data in any label.

Labels are fixed vocabularies only: route templates (never paths), status classes, verdicts, supplier codes,
operations, outcomes, queue and actor names. Never a customer, a target number, an order id or an amount.

Processes that fork several of themselves (dramatiq's --processes, uvicorn's --workers, Reflex's backend
workers) share one figure through prometheus_client's multiprocess mode: the launcher (`esa up`, `esa worker`,
`esa scheduler`, esa_admin/cli.py) gives each process kind an empty folder in PROMETHEUS_MULTIPROC_DIR before it
starts, every process writes its counters there (an mmap'd file, a few hundred nanoseconds per increment), and
whichever process is scraped adds them up. Without that variable each process counts for itself.

What the order path pays: a dict lookup and one or two increments per request, notification, published message
and supplier call. Figures that need the database or Redis (outbox backlog, queue depth, FX age, deposits,
breakers, transitions) are read on scrape, cached for a few seconds, by esa_domain/infra/state_metrics.py in the
scheduler, never per order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # the *_created series double the output and nobody graphs them

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_ENV):  # a folder named but not made would fail every increment (every request)
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)

# ESA's own metrics: a registry of ours (not prometheus_client's global one), so importing this module twice
# under different names in tests, or a library registering its own, never collides
REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SUPPLIER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0)

HTTP_REQUESTS = Counter(
    "esa_http_requests",
    "HTTP requests answered, by method, route template and status class.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "esa_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
ECPAY_NOTIFICATIONS = Counter(
    "esa_ecpay_notifications",
    "ECPay payment notifications (ReturnURL), by verdict (accepted, duplicate, not_paid, rejected, error).",
    ["verdict"],
    registry=REGISTRY,
)
ECPAY_QUERIES = Counter(
    "esa_ecpay_queries",
    "ECPay QueryTradeInfo checks of a payment by a worker, by verdict (accepted, not_paid, expired, unchanged ...).",
    ["verdict"],
    registry=REGISTRY,
)
ALERT_DELIVERIES = Counter(
    "esa_alert_deliveries",
    "Attempts to push an operator alert to LINE, by outcome (sent; failed: given up; queued: retried later).",
    ["outcome"],
    registry=REGISTRY,
)
SUPPLIER_CALLS = Counter(
    "esa_supplier_calls",
    "Calls to a supplier, by supplier, operation (purchase, check_status) and outcome "
    "(success, failed_customer, failed_product, failed_config, failed_supplier, pending, unknown).",
    ["supplier", "operation", "outcome"],
    registry=REGISTRY,
)
SUPPLIER_DURATION = Histogram(
    "esa_supplier_call_duration_seconds",
    "Time a supplier took to answer, by supplier and operation.",
    ["supplier", "operation"],
    buckets=_SUPPLIER_BUCKETS,
    registry=REGISTRY,
)
SUPPLIER_FALLBACKS = Counter(
    "esa_supplier_fallbacks",
    "Items moved on to the next supplier after a definite non-customer failure, by the supplier that failed.",
    ["supplier"],
    registry=REGISTRY,
)
OUTBOX_PUBLISHED = Counter(
    "esa_outbox_published",
    "Outbox rows handed to the broker, by topic and outcome (sent, failed: left for the sweeper).",
    ["topic", "outcome"],
    registry=REGISTRY,
)
SCHEDULER_TICKS = Counter(
    "esa_scheduler_ticks",
    "Periodic messages the scheduler enqueued, by actor.",
    ["actor"],
    registry=REGISTRY,
)

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request. `route` is the matched route's template, never the raw path."""
    key = (method, route, status // 100)
    children = _http_children.get(key)
    if children is None:
        m = method if method in _METHODS else "OTHER"
        children = _http_children[key] = (
            HTTP_REQUESTS.labels(m, route, f"{status // 100}xx"),
            HTTP_DURATION.labels(route),
        )
    children[0].inc()
    children[1].observe(seconds)


_published: dict[tuple[str, bool], Any] = {}


def count_published(topic: str, sent: bool) -> None:
    """One outbox row handed to the broker (sent) or left for the sweeper (not sent)."""
    child = _published.get((topic, sent))
    if child is None:
        child = _published[(topic, sent)] = OUTBOX_PUBLISHED.labels(topic[:40], "sent" if sent else "failed")
    child.inc()


def route_template(scope: dict[str, Any]) -> str:
    """The template of the route Starlette matched ('/api/v1/orders/{order_id}'), or 'unmatched'."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path)[:100] if path else "unmatched"


def outcome_label(outcome: Any) -> str:
    """A supplier outcome as one label: 'success', 'pending', 'unknown' or 'failed_<class>'."""
    o = str(getattr(outcome, "outcome", outcome)).lower()
    failure = getattr(outcome, "failure_class", None)
    if o == "failed" and failure is not None:
        return f"failed_{str(failure).lower()}"
    return o


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition(extra: Iterable[Any] = ()) -> tuple[bytes, str]:
    """The Prometheus text of this process kind (every process of it in multiprocess mode), plus `extra`
    collectors (read on scrape). Returns (body, content type)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        parts = [generate_latest(registry)]
    else:
        parts = [generate_latest(REGISTRY)]
    extras = list(extra)
    if extras:
        more = CollectorRegistry(auto_describe=False)
        for collector in extras:
            more.register(collector)
        parts.append(generate_latest(more))
    return b"".join(parts), CONTENT_TYPE_LATEST


def prepare_multiprocess_dir(path: str | os.PathLike[str]) -> str:
    """Empty (or create) a process kind's metrics folder before its processes start; returns it as a str.

    Files left by a previous run would otherwise be added to the new one's counters.
    """
    import shutil
    from pathlib import Path

    folder = Path(path)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return str(folder)


def mark_process_dead(pid: int | None = None) -> None:
    """Drop a finished process's live gauges from the multiprocess folder (counters stay, as they should)."""
    folder = multiprocess_dir()
    if folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid(), folder)
