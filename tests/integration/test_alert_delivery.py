"""Alert delivery to the LINE sandbox over real HTTP, on real PostgreSQL."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session

from esa_domain.adapters.line.push import LinePusher, PushUnavailable
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert
from esa_domain.operations.alert_delivery import send_alert
from esa_domain.operations.alerts import raise_alert
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from sandbox.line import LineSandboxConfig, create_line_sandbox
from tests import factories
from tests.servers import free_port

TOKEN = "test-channel-access-token"
OPERATORS = "Cgroup0000000000000000000000000001"


@pytest.fixture
def line_url(run_asgi) -> str:
    return run_asgi(create_line_sandbox(LineSandboxConfig(channel_access_token=TOKEN)))


def _uow(db):
    return lambda: UnitOfWork(db)


def _alert(db) -> Alert:
    factories.catalog(db)
    cust = factories.customer(db)
    with UnitOfWork(db) as uow:
        placed = place_order(uow, OrderRequest(cust.id, "k1", (OrderLine("TSEL10", "081234567890"),)))
    with UnitOfWork(db) as uow:
        alert_id = raise_alert(
            uow.session,
            condition="refund_unknown",
            payment_id=placed.payment_id,
            public_url="https://esa.example",
            title=f"Refund on order {placed.payment_id}: outcome unknown",
            body="Check ECPay's back office.",
        )
        uow.commit()
    return _get(db, alert_id)


def _get(db, alert_id: int) -> Alert:
    with Session(db) as s:
        return s.get(Alert, alert_id)


def _messages(line_url: str) -> list[dict]:
    return httpx.get(line_url + "/_sandbox/messages").json()


def test_queued_alert_is_pushed_once_as_a_flex_bubble_with_an_open_order_button(db, line_url):
    alert = _alert(db)
    pusher = LinePusher(TOKEN, base_url=line_url)
    assert send_alert(_uow(db), alert.id, pusher, OPERATORS) == "sent"
    assert send_alert(_uow(db), alert.id, pusher, OPERATORS) == "sent"  # a duplicate message
    pushes = _messages(line_url)
    assert len(pushes) == 1
    push = pushes[0]
    assert (push["to"], push["retry_key"]) == (OPERATORS, alert.retry_key)
    flex = push["messages"][0]
    assert flex["type"] == "flex" and flex["altText"].startswith(alert.title)
    texts = [c["text"] for c in flex["contents"]["body"]["contents"]]
    assert texts == [alert.title, "Check ECPay's back office."]
    action = flex["contents"]["footer"]["contents"][0]["action"]
    assert action == {"type": "uri", "label": "Open order", "uri": alert.link}
    assert alert.link == f"https://esa.example/orders/{alert.payment_id}"
    sent = _get(db, alert.id)
    assert sent.status == "sent" and sent.sent_at is not None and sent.error is None


def test_try_whose_answer_was_lost_is_marked_sent_without_a_second_message(db, line_url):
    # Given LINE accepted an earlier try with this alert's retry key (its answer never reached us)
    alert = _alert(db)
    earlier = httpx.post(
        line_url + "/v2/bot/message/push",
        headers={"Authorization": f"Bearer {TOKEN}", "X-Line-Retry-Key": alert.retry_key},
        json={"to": OPERATORS, "messages": [{"type": "text", "text": alert.title}]},
    )
    assert earlier.status_code == 200
    # When the actor retries, Then LINE answers 409 and the alert is sent, once
    assert send_alert(_uow(db), alert.id, LinePusher(TOKEN, base_url=line_url), OPERATORS) == "sent"
    assert len(_messages(line_url)) == 1
    assert "409" in _get(db, alert.id).error


def test_transient_failure_records_the_error_and_raises_then_the_retry_delivers(db, line_url):
    alert = _alert(db)
    httpx.post(line_url + "/_sandbox/push_failures", json={"status": 500, "count": 1}).raise_for_status()
    pusher = LinePusher(TOKEN, base_url=line_url)
    with pytest.raises(PushUnavailable):
        send_alert(_uow(db), alert.id, pusher, OPERATORS)
    failed_once = _get(db, alert.id)
    assert failed_once.status == "queued" and "HTTP 500" in failed_once.error
    assert send_alert(_uow(db), alert.id, pusher, OPERATORS) == "sent"
    assert [p["retry_key"] for p in _messages(line_url)] == [alert.retry_key]


def test_unreachable_line_is_transient(db):
    alert = _alert(db)
    pusher = LinePusher(TOKEN, base_url=f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(PushUnavailable):
        send_alert(_uow(db), alert.id, pusher, OPERATORS)
    assert _get(db, alert.id).status == "queued"


def test_wrong_token_fails_the_alert_for_good_without_leaking_the_token(db, line_url):
    alert = _alert(db)
    wrong = "not-the-channel-token-123"
    assert send_alert(_uow(db), alert.id, LinePusher(wrong, base_url=line_url), OPERATORS) == "failed"
    failed = _get(db, alert.id)
    assert "HTTP 401" in failed.error and wrong not in failed.error
    assert _messages(line_url) == []
    assert wrong not in repr(LinePusher(wrong, base_url=line_url))


def test_alert_without_a_recipient_stays_queued_with_a_clear_error(db, line_url):
    alert = _alert(db)
    assert send_alert(_uow(db), alert.id, LinePusher(TOKEN, base_url=line_url), "") == "queued"
    assert "LINE_ALERT_TO" in _get(db, alert.id).error
