"""The worker process's runtime: built once per process, after the fork (engines must not cross a fork)."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any

import dramatiq

from esa_domain.adapters.ecpay import EcpayClient
from esa_domain.infra import topics
from esa_domain.infra.runtime import Runtime
from esa_domain.infra.settings import get_settings
from workers.broker import broker
from workers.publisher import DramatiqPublisher, InlinePublisher

log = logging.getLogger(__name__)

_local = threading.local()


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """The composition root's runtime, publishing on this process's broker (the one its actors listen on).

    A customer's LINE message and the e-invoice of an order a worker just settled are carried out by that same
    worker right after the commit (workers.publisher.InlinePublisher): neither costs a broker round trip."""
    publisher = InlinePublisher(
        DramatiqPublisher(broker),
        {topics.NOTIFY_CUSTOMER: notify_customer_now, topics.ISSUE_INVOICE: issue_invoice_now},
    )
    return Runtime.from_settings(get_settings(), publisher)


@lru_cache(maxsize=4)
def line_pusher(token: str, base_url: str):  # type: ignore[no-untyped-def]
    """One LINE pusher per process and configuration: its connection to LINE is kept between messages."""
    from esa_domain.adapters.line.push import LinePusher

    return LinePusher(token, base_url=base_url)


def notify_customer_now(payload: dict[str, Any]) -> str:
    """Push one customer message (esa_domain.ordering.notify.deliver); the actor notify_customer does the same."""
    from esa_domain.ordering.notify import deliver

    rt = runtime()
    s = rt.settings
    pusher = line_pusher(s.line_channel_access_token.get_secret_value(), s.line_api_base_url)
    status = deliver(rt.uow, int(payload["message_id"]), pusher, s.public_url)
    log.info("customer message %s: %s", payload["message_id"], status)
    return status


def ecpay_client() -> EcpayClient:
    """One ECPay client per worker thread; its 403 back-off is also persisted on the payment."""
    client = getattr(_local, "ecpay", None)
    if client is None:
        client = _local.ecpay = runtime().ecpay.client()
    return client


class BuildRuntimeAtBoot(dramatiq.Middleware):
    """Each worker process builds its runtime (engine, supplier adapters and their HTTP clients) as it boots,
    not inside its first messages: a configuration error shows at start, and no purchase waits for it."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: Any) -> None:
        runtime().fulfillment  # noqa: B018 (a cached property: built here, once)
        start_watchdog_timer(float(runtime().settings.watchdog_every_seconds))


def start_watchdog_timer(every_s: float) -> threading.Thread:
    """Run the watchdogs every `every_s` seconds in this process, on a daemon thread: if the scheduler (or its
    ticks) stop, any surviving worker process still notices that the jobs stopped and raises the alert."""
    from esa_domain.operations import watchdogs

    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                rt = runtime()
                watchdogs.watch(
                    rt.uow,
                    watchdogs.policy_from(rt.settings, list(rt.fulfillment.adapters)),
                    rt.settings.public_url,
                )
            except Exception:  # the database may be away for a while: try again at the next turn
                logging.getLogger(__name__).exception("watchdog timer run failed")

    thread = threading.Thread(target=loop, name="esa-watchdog", daemon=True)
    thread.start()
    return thread


def invoice_sent_before(reference: str) -> bool:
    """Mark an e-invoice request as leaving (Redis, 30 days); True when it was marked before: a retry asks ECPay
    what happened (GetIssue) before sending anything again."""
    return not broker.client.set(f"esa:einvoice:sent:{reference}", "1", nx=True, ex=30 * 86400)  # type: ignore[attr-defined]


def issue_invoice_now(payload: dict[str, Any]) -> str:
    """Issue one e-invoice at ECPay (esa_domain.invoicing.issuing.issue_invoice); the actor issue_invoice does the
    same. `payload`: the outbox row's {"invoice_id", "plan"} (the plan written with the settlement)."""
    from esa_domain.invoicing.issuing import issue_invoice

    rt = runtime()
    s = rt.settings
    status = issue_invoice(
        rt.uow, rt.invoice_client, int(payload["invoice_id"]), payload.get("plan"),
        notify_email=s.ecpay_invoice_notify_email, public_url=s.public_url, sent_before=invoice_sent_before,
    )  # fmt: skip
    log.info("invoice %s: %s", payload["invoice_id"], status)
    return status
