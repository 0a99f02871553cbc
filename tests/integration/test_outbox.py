"""The outbox on real PostgreSQL and a real Redis broker: nothing is lost between commit and dispatch."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from sqlalchemy import select, text
from sqlmodel import Session

from esa_domain.infra import outbox
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import OutboxMessage
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from tests import factories


class RedisListPublisher:
    """Publishes to a real Redis list, as a broker would; `fail` simulates the broker being down."""

    def __init__(self, client, fail: bool = False) -> None:
        self.client, self.fail = client, fail

    def publish(self, topic, payload, *, message_id, delay_ms):
        if self.fail:
            raise ConnectionError("broker down")
        self.client.rpush(
            "esa-test-queue", json.dumps({"topic": topic, "payload": payload, "id": message_id})
        )


def _queued(client) -> list[dict]:
    return [json.loads(m) for m in client.lrange("esa-test-queue", 0, -1)]


def _order(db, publisher):
    factories.catalog(db)
    cust = factories.customer(db)
    with UnitOfWork(db, publisher) as uow:
        return place_order(uow, OrderRequest(cust.id, "k", (OrderLine("TSEL10", "081234567890"),)))


def _side_effect(db, publisher, payload=None) -> dict:
    """Commit one immediate side effect (as the PAID transition commits its fulfill_item rows)."""
    payload = payload or {"item_id": 7}
    with UnitOfWork(db, publisher) as uow:
        outbox.record(uow.session, "fulfill_item", payload)
        uow.commit()
    return payload


def _row(db) -> OutboxMessage:
    with Session(db) as s:
        return s.exec(select(OutboxMessage)).scalars().one()


def _wait_marked(db, seconds: float = 5.0) -> OutboxMessage:
    deadline = time.monotonic() + seconds
    while (row := _row(db)).dispatch_attempts == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return row


def test_outbox_row_is_dispatched_right_after_commit(db, redis_client):
    payload = _side_effect(db, RedisListPublisher(redis_client))
    # the message is on the broker when the unit of work's commit returns...
    assert _queued(redis_client) == [{"topic": "fulfill_item", "payload": payload, "id": "outbox-1"}]
    # ...and the row is marked dispatched by the process's background marker moments later
    row = _wait_marked(db)
    assert row.dispatched_at is not None and row.dispatch_attempts == 1
    assert outbox.sweep(db, RedisListPublisher(redis_client), older_than=timedelta(0)) == 0


def test_crash_between_commit_and_dispatch_loses_no_row(db, redis_client):
    # Given a side effect committed by a process that died before dispatching (no publisher ran)
    payload = _side_effect(db, publisher=None)
    assert _queued(redis_client) == []
    # When the sweeper runs in another process
    sent = outbox.sweep(db, RedisListPublisher(redis_client), older_than=timedelta(0))
    # Then the side effect leaves exactly once, and a second sweep sends nothing more
    assert sent == 1
    assert outbox.sweep(db, RedisListPublisher(redis_client), older_than=timedelta(0)) == 0
    assert [m["payload"] for m in _queued(redis_client)] == [payload]


def test_broker_down_at_commit_leaves_the_row_for_the_sweeper(db, redis_client):
    _side_effect(db, RedisListPublisher(redis_client, fail=True))
    row = _wait_marked(db)
    assert row.dispatched_at is None and row.dispatch_attempts == 1
    assert outbox.sweep(db, RedisListPublisher(redis_client), older_than=timedelta(0)) == 1
    assert len(_queued(redis_client)) == 1


def test_sweeper_leaves_fresh_rows_to_the_committing_process(db, redis_client):
    _side_effect(db, publisher=None)
    assert outbox.sweep(db, RedisListPublisher(redis_client), older_than=timedelta(minutes=5)) == 0


def test_a_check_due_at_the_end_of_the_payment_window_waits_in_the_outbox_until_it_comes_due(db, redis_client):
    # the order's ECPay check is due in 31 minutes: it is not handed to the broker's delay queue at once
    placed = _order(db, RedisListPublisher(redis_client))
    assert _queued(redis_client) == []
    assert outbox.sweep(db, RedisListPublisher(redis_client), older_than=timedelta(0)) == 0
    # a minute before it is due, the sweeper sends it, with the rest of its delay; once
    with db.begin() as conn:
        conn.execute(text("UPDATE outbox SET available_at = now() + interval '50 seconds'"))
    assert outbox.sweep(db, RedisListPublisher(redis_client), older_than=timedelta(0)) == 1
    assert outbox.sweep(db, RedisListPublisher(redis_client), older_than=timedelta(0)) == 0
    assert _queued(redis_client) == [
        {"topic": "check_payment", "payload": {"payment_id": placed.payment_id}, "id": "outbox-1"}
    ]
    assert _row(db).dispatched_at is not None
