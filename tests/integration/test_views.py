"""The dashboard's read models and operator use cases on real PostgreSQL, against demo-like records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlmodel import Session

from esa_domain.infra import topics
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import (
    FxRate,
    Operator,
    OperatorAction,
    OutboxMessage,
    Payment,
    PaymentItem,
    Product,
    Refund,
)
from esa_domain.operations.actions import (
    ActionRefused,
    refund,
    resolve_review,
    retry_fulfillment,
    set_fx_rate,
    update_product,
)
from esa_domain.operations.policy import ReconcilePolicy
from esa_domain.views import alerts, catalog, overview, stuck, timeline
from esa_domain.views.orders import TAIPEI, OrderFilter, search_orders
from esa_domain.views.routes import order_url
from tests.e2e import builders


@pytest.fixture
def demo(db):
    return builders.demo(db)


def _op(engine, name: str) -> Operator:
    with Session(engine) as s:
        return s.execute(select(Operator).where(Operator.username == name)).scalar_one()


def _actions(engine, payment_id=None) -> list[OperatorAction]:
    with Session(engine) as s:
        stmt = select(OperatorAction).order_by(OperatorAction.id)
        if payment_id is not None:
            stmt = stmt.where(OperatorAction.payment_id == payment_id)
        return list(s.execute(stmt).scalars())


def _outbox(engine, topic: str) -> list[dict]:
    with Session(engine) as s:
        return [
            m.payload for m in s.execute(select(OutboxMessage).where(OutboxMessage.topic == topic)).scalars()
        ]


def test_order_url_is_the_dashboard_route_of_the_payment():
    assert order_url(42) == "/orders/42"
    assert order_url(42, "https://ops.example.com/") == "https://ops.example.com/orders/42"


def test_orders_search_finds_by_trade_no_line_id_target_and_id(db, demo):
    with Session(db) as s:
        mtn = s.get(Payment, demo["review"]).merchant_trade_no
        assert [r.id for r in search_orders(s, OrderFilter(q=mtn)).rows] == [demo["review"]]
        assert [r.id for r in search_orders(s, OrderFilter(q="081377778888")).rows] == [demo["review"]]
        assert [r.id for r in search_orders(s, OrderFilter(q=str(demo["failed"]))).rows] == [demo["failed"]]
        by_customer = search_orders(s, OrderFilter(q=demo["customer"].line_user_id)).rows
        assert {r.id for r in by_customer} == {demo["delivered"], demo["stuck"], demo["review"]}
        assert [r.id for r in search_orders(s, OrderFilter(status="FAILED")).rows] == [demo["failed"]]
        assert search_orders(s, OrderFilter(q="nothing-like-this")).rows == []


def test_orders_pages_by_keyset_newest_first_without_gaps_or_repeats(db, demo):
    with Session(db) as s:
        seen, after = [], None
        while True:
            page = search_orders(s, OrderFilter(), after=after, limit=2)
            seen += [r.id for r in page.rows]
            if page.next_cursor is None:
                break
            after = page.next_cursor
        everything = search_orders(s, OrderFilter(), limit=100).rows
    assert seen == [r.id for r in everything] and len(seen) == 6
    assert [r.created_at for r in everything] == sorted((r.created_at for r in everything), reverse=True)


def test_orders_filter_by_taipei_date_range(db, demo):
    today = datetime.now(UTC).astimezone(TAIPEI).date()
    with Session(db) as s:
        old = search_orders(s, OrderFilter(date_to=today - timedelta(days=2))).rows
        assert [r.id for r in old] == [demo["delivered"]]


def test_timeline_merges_history_gateway_attempts_exchanges_and_alerts(db, demo):
    with Session(db) as s:
        entries = timeline.order_timeline(s, demo["review"])
    kinds = [e.kind for e in entries]
    assert {"transition", "gateway", "attempt", "exchange", "alert"} <= set(kinds)
    assert entries == sorted(entries, key=lambda e: e.at)
    attempt = next(e for e in entries if e.kind == "attempt")
    assert '"sign": "[redacted]"' in attempt.request and attempt.level == "warn"
    assert any("SUPPLIER_PENDING → NEEDS_REVIEW" in e.title for e in entries)


def test_stuck_lists_expired_pending_idle_paid_and_needs_review(db, demo):
    now = datetime.now(UTC)
    with Session(db) as s:
        rows = stuck.stuck_payments(s, now=now, policy=ReconcilePolicy())
        count = overview.stuck_count(s, now=now, policy=ReconcilePolicy())
    found = {(r.payment_id, r.condition) for r in rows}
    assert found == {
        (demo["expired"], "payment_unconfirmed"),
        (demo["stuck"], "paid_not_delivered"),
        (demo["review"], "item_needs_review"),
    }
    assert count == len(rows)
    assert all(r.link == f"/orders/{r.payment_id}" for r in rows)
    assert next(r for r in rows if r.condition == "paid_not_delivered").age_minutes >= 30


def test_overview_counts_volume_success_rate_and_margin(db, demo):
    now = datetime.now(UTC)
    with Session(db) as s:
        week = overview.kpis(s, since=overview.period_start(now, 7), until=now + timedelta(minutes=1))
        series = overview.daily_series(s, now=now, days=7)
        health = {h.code: h for h in overview.supplier_health(s, since=now - timedelta(days=7))}
    assert week.orders == 6 and week.paid == 4
    # delivered (25 + 45) + stuck 25 + review 25 + failed 25
    assert week.paid_volume_twd == 145
    assert week.success_rate_pct == Decimal(
        "50.0"
    )  # finished: delivered (SUCCESS) and failed; review is PAID
    assert week.margin_twd > 0
    assert len(series) == 7 and sum(p.orders for p in series) == 6
    assert health["iak"].succeeded == 2 and health["iak"].failed == 1 and health["lapakgaming"].failed == 1


def test_product_costs_mark_the_cheapest_usable_offer_and_flag_below_cost(db, demo):
    with Session(db) as s:
        rows = {p.code: p for p in catalog.product_costs(s)}
        below = {p.code: p for p in catalog.product_costs(s, rate=Decimal("0.003"))}
    pulsa = rows["TSEL10"]
    cheapest = [o.supplier_code for o in pulsa.offers if o.cheapest]
    # lapak: 10100 * 0.002 + 1 = 21.2; iak: 10200 * 0.002 = 20.4
    assert cheapest == ["iak"] and pulsa.best_cost_twd == Decimal("20.4000")
    assert pulsa.margin_twd == Decimal("4.6000") and not pulsa.below_cost
    assert below["PLN20"].below_cost  # 20300 * 0.003 = 60.9 > NT$45


def test_retry_fulfillment_writes_outbox_and_audit_together_and_viewer_is_refused(db, demo):
    with UnitOfWork(db) as uow, pytest.raises(PermissionError, match="needs the 'operator' role"):
        retry_fulfillment(uow, _op(db, "viewer"), demo["stuck"], "customer waiting")
    assert _actions(db, demo["stuck"]) == []
    with UnitOfWork(db) as uow:
        ids = retry_fulfillment(uow, _op(db, "ops"), demo["stuck"], "customer waiting")
    assert {"item_id": ids[0]} in _outbox(db, topics.FULFILL_ITEM)
    (audit,) = _actions(db, demo["stuck"])
    assert audit.action == "retry_fulfillment" and audit.reason == "customer waiting"
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="only a PAID payment"):
        retry_fulfillment(uow, _op(db, "ops"), demo["delivered"], "again")


def test_resolving_the_last_review_item_as_failed_finishes_the_payment_and_starts_the_refund(db, demo):
    with UnitOfWork(db) as uow:
        assert (
            resolve_review(uow, _op(db, "ops"), demo["review_item"], False, "supplier confirmed fail")
            == "FAILED"
        )
    with Session(db) as s:
        assert s.get(Payment, demo["review"]).status == "FAILED"  # the refund actor claims it from here
        assert s.get(PaymentItem, demo["review_item"]).failure_reason == "operator: supplier confirmed fail"
    assert _outbox(db, topics.REFUND_PAYMENT) == [{"payment_id": demo["review"]}]
    assert [a.action for a in _actions(db, demo["review"])] == ["resolve_review"]
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="not NEEDS_REVIEW"):
        resolve_review(uow, _op(db, "ops"), demo["review_item"], True, "twice")


def test_resolving_a_review_as_delivered_keeps_the_serial_and_succeeds_the_payment(db, demo):
    with UnitOfWork(db) as uow:
        resolve_review(uow, _op(db, "ops"), demo["review_item"], True, "IAK portal shows success", "SN 99")
    with Session(db) as s:
        assert s.get(Payment, demo["review"]).status == "SUCCESS"
        assert s.get(PaymentItem, demo["review_item"]).artifact == "SN 99"
    assert _outbox(db, topics.REFUND_PAYMENT) == []


def test_refund_of_a_failed_payment_starts_its_refund_and_an_unpaid_one_is_refused(db, demo):
    # paid by card but no ECPay TradeNo is known: DoAction cannot refund it, so it is an operator's task
    with UnitOfWork(db) as uow:
        assert refund(uow, _op(db, "ops"), demo["failed"], "nothing delivered") == "NEEDS_REVIEW"
    with Session(db) as s:
        (row,) = s.execute(select(Refund).where(Refund.payment_id == demo["failed"])).scalars()
    assert (row.status, row.purpose, row.method, row.reason) == ("MANUAL", "undelivered", "manual", "nothing delivered")
    assert [a.action for a in _actions(db, demo["failed"])] == ["refund"]
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="cannot be refunded"):
        refund(uow, _op(db, "ops"), demo["waiting"], "customer asked")


def test_manual_fx_rate_is_admin_only_and_audited(db, demo):
    with UnitOfWork(db) as uow, pytest.raises(PermissionError, match="'admin' role"):
        set_fx_rate(uow, _op(db, "ops"), "0.0021", "bank rate")
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="implausible"):
        set_fx_rate(uow, _op(db, "admin"), "500", "inverse by mistake")
    with UnitOfWork(db) as uow:
        set_fx_rate(uow, _op(db, "admin"), "0.0021", "bank rate")
    with Session(db) as s:
        latest = catalog.rate_history(s)[0]
        assert (latest.rate, latest.source, latest.set_by) == (Decimal("0.002100000000"), "manual", "admin")
        assert s.execute(select(FxRate).where(FxRate.source == "manual")).scalar_one().set_by_operator_id
    assert [(a.action, a.subject) for a in _actions(db)] == [("set_fx_rate", "fx:IDR/TWD")]


def test_catalog_edit_is_audited_with_before_and_after(db, demo):
    pid = demo["catalog"]["pulsa"].id
    with UnitOfWork(db) as uow:
        update_product(uow, _op(db, "admin"), pid, "supplier price rise", price_twd=27, active=False)
    with Session(db) as s:
        p = s.get(Product, pid)
        assert (p.price_twd, p.active, p.disabled_reason) == (27, False, "supplier price rise")
    (a,) = _actions(db)
    assert a.detail["before"] == {"price_twd": 25, "active": True}
    assert a.detail["after"] == {"price_twd": 27, "active": False}


def test_suppliers_show_circuit_state_and_alerts_page(db, demo):
    now = datetime.now(UTC)
    with Session(db) as s:
        sup = s.get(type(demo["catalog"]["iak"]), demo["catalog"]["iak"].id)
        sup.consecutive_failures, sup.circuit_open_until = 5, now + timedelta(minutes=5)
        s.add(sup)
        s.commit()
        rows = {r.code: r for r in catalog.suppliers(s, now=now)}
        page, nxt = alerts.alerts(s)
    assert rows["iak"].circuit == "open" and rows["lapakgaming"].circuit == "closed"
    assert rows["iak"].offers == 3
    assert [a.payment_id for a in page] == [demo["review"]] and nxt is None
