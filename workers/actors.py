"""One actor per outbox topic (esa_domain.infra.topics). Each is idempotent by state: a duplicate does nothing.

Queues: fulfillment (purchases, status checks, refunds), reconciliation, catalog, alerts. Retries are bounded
with exponential back-off; time limits stop a stuck call (the reconciler recovers what a killed call left).
"""

from __future__ import annotations

import logging

import dramatiq

from esa_domain.fulfillment import engine as fulfillment
from esa_domain.infra import metrics
from esa_domain.payments import accept as payments
from workers.broker import broker  # sets the broker before any actor is declared
from workers.context import (
    BuildRuntimeAtBoot,
    ecpay_client,
    invoice_sent_before,
    issue_invoice_now,
    line_pusher,
    notify_customer_now,
    runtime,
)

log = logging.getLogger(__name__)
broker.add_middleware(BuildRuntimeAtBoot())

RETRIES = {"max_retries": 5, "min_backoff": 2_000, "max_backoff": 300_000}


@dramatiq.actor(queue_name="fulfillment", time_limit=120_000, **RETRIES)
def fulfill_item(item_id: int) -> None:
    status = fulfillment.advance_item(runtime().fulfillment, item_id, cause="paid: fulfil")
    log.info("item %s: %s", item_id, status)


@dramatiq.actor(queue_name="fulfillment", time_limit=120_000, **RETRIES)
def check_attempt(attempt_id: int) -> None:
    status = fulfillment.check_attempt(runtime().fulfillment, attempt_id)
    log.info("attempt %s: item %s", attempt_id, status)


@dramatiq.actor(queue_name="fulfillment", time_limit=120_000, **RETRIES)
def refund_payment(payment_id: int) -> None:
    # requests the refund row (idempotent by its unique key); the DoAction leaves from send_refund
    from esa_domain.payments.refunds import refund_payment as refund

    rt = runtime()
    log.info("refund of payment %s: %s", payment_id, refund(rt.uow, payment_id, rt.ecpay))


@dramatiq.actor(queue_name="fulfillment", time_limit=120_000, **RETRIES)
def send_refund(refund_id: int) -> None:
    # retries are safe: a SENT refund is only resumed after asking ECPay what happened to it
    from esa_domain.payments.refunds import send_refund as send

    rt = runtime()
    status = send(
        rt.uow, refund_id, rt.ecpay, ecpay_client(), resume_after=rt.reconcile_policy.refund_resume_after
    )
    log.info("refund %s: %s", refund_id, status)


@dramatiq.actor(queue_name="reconciliation", time_limit=60_000, **RETRIES)
def check_payment(payment_id: int) -> None:
    rt = runtime()
    verdict = payments.check_payment(rt.uow, payment_id, rt.ecpay, ecpay_client())
    metrics.ECPAY_QUERIES.labels(str(verdict).replace(" ", "_")).inc()
    log.info("payment %s: %s", payment_id, verdict)


@dramatiq.actor(queue_name="alerts", time_limit=30_000, max_retries=8, min_backoff=5_000, max_backoff=600_000)
def send_alert(alert_id: int) -> None:
    from esa_domain.operations.alert_delivery import send_alert as deliver

    rt = runtime()
    s = rt.settings
    pusher = line_pusher(s.line_channel_access_token.get_secret_value(), s.line_api_base_url)
    status = deliver(rt.uow, alert_id, pusher, s.line_alert_to)
    metrics.ALERT_DELIVERIES.labels(status).inc()
    log.info("alert %s: %s", alert_id, status)


@dramatiq.actor(queue_name="alerts", time_limit=30_000, max_retries=8, min_backoff=5_000, max_backoff=600_000)
def notify_customer(message_id: int) -> None:
    notify_customer_now({"message_id": message_id})


@dramatiq.actor(queue_name="fulfillment", time_limit=60_000, **RETRIES)
def issue_invoice(invoice_id: int, plan: dict | None = None) -> None:
    # the first try sends the plan written with the payment's settlement; a retry or the heal asks first
    issue_invoice_now({"invoice_id": invoice_id, "plan": plan})


@dramatiq.actor(queue_name="fulfillment", time_limit=60_000, **RETRIES)
def adjust_invoice(adjustment_id: int, resume: bool = False) -> None:
    from esa_domain.invoicing.issuing import adjust_invoice as adjust

    rt = runtime()
    status = adjust(
        rt.uow, rt.invoice_client, adjustment_id, public_url=rt.settings.public_url,
        notify_email=rt.settings.ecpay_invoice_notify_email, sent_before=invoice_sent_before, resume=resume,
    )  # fmt: skip
    log.info("invoice adjustment %s: %s", adjustment_id, status)


@dramatiq.actor(queue_name="catalog", time_limit=600_000, max_retries=3, min_backoff=30_000)
def sync_catalog(supplier_code: str) -> None:
    from esa_domain.catalog.sync import sync_supplier_catalog

    rt = runtime()
    adapter = rt.fulfillment.adapters.get(supplier_code)
    if adapter is None:
        log.warning("catalog sync for %s skipped: that supplier is not configured", supplier_code)
        return
    with _one_sync_per_supplier(supplier_code):
        summary = sync_supplier_catalog(rt.uow, supplier_code, adapter, public_url=rt.settings.public_url)
    log.info("catalog sync %s: %s", supplier_code, summary)


def _one_sync_per_supplier(supplier_code: str):  # type: ignore[no-untyped-def]
    """Bounded concurrency toward each supplier: one sync at a time across every worker and host."""
    from dramatiq.rate_limits import ConcurrentRateLimiter
    from dramatiq.rate_limits.backends import RedisBackend

    from workers.broker import broker as b

    backend = RedisBackend(client=b.client)
    return ConcurrentRateLimiter(backend, f"catalog-sync:{supplier_code}", limit=1, ttl=600_000).acquire(
        raise_on_failure=True
    )
