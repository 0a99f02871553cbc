"""Sending outbox rows to dramatiq's Redis broker without importing the actors (the web app uses this too)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from esa_domain.infra import logging_setup, topics

NAMESPACE = "esa"

QUEUE_OF: dict[str, str] = {
    topics.FULFILL_ITEM: "fulfillment",
    topics.CHECK_ATTEMPT: "fulfillment",
    topics.REFUND_PAYMENT: "fulfillment",
    topics.SEND_REFUND: "fulfillment",
    topics.CHECK_PAYMENT: "reconciliation",
    topics.SEND_ALERT: "alerts",
    topics.NOTIFY_CUSTOMER: "alerts",
    topics.SYNC_CATALOG: "catalog",
    topics.ISSUE_INVOICE: "fulfillment",  # e-invoices (issue 19): one ECPay call each, beside the refunds
    topics.ADJUST_INVOICE: "fulfillment",
}


def make_broker(redis_url: str) -> RedisBroker:
    if not redis_url:
        raise RuntimeError("REDIS_URL is not set: run through `esa up`, or point REDIS_URL at Redis")
    return RedisBroker(url=redis_url, namespace=NAMESPACE)


class DramatiqPublisher:
    """Implements esa_domain.infra.outbox.Publisher on a dramatiq broker."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def publish(self, topic: str, payload: dict[str, Any], *, message_id: str, delay_ms: int | None) -> None:
        queue = QUEUE_OF.get(topic)
        if queue is None:
            raise ValueError(f"no queue for outbox topic {topic!r}: add it to workers.publisher.QUEUE_OF")
        options: dict[str, Any] = {"outbox_id": message_id}
        carried = logging_setup.carried()  # the request id (and payment) the worker's log lines will carry
        if carried:
            options["esa_log"] = carried
        message = dramatiq.Message(
            queue_name=queue, actor_name=topic, args=(), kwargs=payload, options=options
        )
        self.broker.enqueue(message, delay=delay_ms)


log = logging.getLogger(__name__)


class InlinePublisher:
    """A worker's publisher: the topics in `inline` are carried out right here, in the thread that committed
    them, instead of a round trip through Redis to another worker; every other topic goes to the broker.

    For the customer's LINE message of an order that a worker has just settled: no broker message, no second
    worker picking it up, the pusher's connection to LINE already open. The outbox row stays the safety net:
    it is marked dispatched only after the handler returned, so if the process dies mid-way the sweeper sends
    it to the actor (LINE's retry key makes a second push of the same message one message). A handler that
    raises (LINE unavailable) hands its row to the broker, and the actor retries it with back-off. Rows due
    later (a reminder) always go through the broker.
    """

    def __init__(
        self, inner: DramatiqPublisher, inline: Mapping[str, Callable[[dict[str, Any]], Any]]
    ) -> None:
        self.inner = inner
        self.inline = dict(inline)

    def publish(self, topic: str, payload: dict[str, Any], *, message_id: str, delay_ms: int | None) -> None:
        handler = self.inline.get(topic)
        if handler is not None and not delay_ms:
            try:
                handler(payload)
                return
            except Exception as exc:
                log.info("%s %s not done at once (%s); handed to the worker queue", topic, message_id, exc)
        self.inner.publish(topic, payload, message_id=message_id, delay_ms=delay_ms)
