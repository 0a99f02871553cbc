"""A worker carries out a customer message it just committed itself, in the same thread (no round trip through
Redis); anything it cannot do at once, and every other topic, goes to the broker's queue as before."""

from __future__ import annotations

from typing import Any

import pytest

from esa_domain.infra import topics
from workers.publisher import NAMESPACE, DramatiqPublisher, InlinePublisher, make_broker


@pytest.fixture
def queued(redis_url, redis_client):
    broker = make_broker(redis_url)

    def in_queue(queue: str) -> int:
        return int(redis_client.hlen(f"{NAMESPACE}:{queue}.msgs"))

    yield DramatiqPublisher(broker), in_queue
    broker.close()


def test_a_message_done_at_once_never_reaches_the_broker(queued):
    inner, in_queue = queued
    done: list[dict[str, Any]] = []
    publisher = InlinePublisher(inner, {topics.NOTIFY_CUSTOMER: done.append})

    publisher.publish(topics.NOTIFY_CUSTOMER, {"message_id": 7}, message_id="outbox-1", delay_ms=None)

    assert done == [{"message_id": 7}]
    assert in_queue("alerts") == 0


def test_a_message_that_cannot_be_done_now_goes_to_the_worker_queue_for_its_retries(queued):
    inner, in_queue = queued

    def line_down(payload: dict[str, Any]) -> None:
        raise RuntimeError("LINE answered HTTP 500")

    publisher = InlinePublisher(inner, {topics.NOTIFY_CUSTOMER: line_down})
    publisher.publish(topics.NOTIFY_CUSTOMER, {"message_id": 8}, message_id="outbox-2", delay_ms=None)

    assert in_queue("alerts") == 1


def test_other_topics_and_messages_due_later_go_through_the_broker(queued):
    inner, in_queue = queued
    done: list[dict[str, Any]] = []
    publisher = InlinePublisher(inner, {topics.NOTIFY_CUSTOMER: done.append})

    publisher.publish(topics.FULFILL_ITEM, {"item_id": 1}, message_id="outbox-3", delay_ms=None)
    publisher.publish(topics.NOTIFY_CUSTOMER, {"message_id": 9}, message_id="outbox-4", delay_ms=60_000)

    assert done == []
    assert in_queue("fulfillment") == 1
    assert in_queue("alerts") == 0  # the delayed one waits in the delay queue, not the ready one
    assert in_queue("alerts.DQ") == 1
