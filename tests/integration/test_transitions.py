"""The state machines on real PostgreSQL: compare-and-set with history, never outside the tables."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import Session

from esa_domain.core.states import ITEM_TRANSITIONS, PAYMENT_TRANSITIONS, ItemStatus, PaymentStatus
from esa_domain.core.transitions import Applied, IllegalTransition, transition_item, transition_payment
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import PaymentHistory, PaymentItem
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from tests import factories


def _order(engine, key="k1") -> int:
    cust = factories.customer(engine, f"U-{key}")
    with UnitOfWork(engine) as uow:
        placed = place_order(uow, OrderRequest(cust.id, key, (OrderLine("TSEL10", "081234567890"),)))
    return placed.payment_id


def _history(engine, payment_id):
    with Session(engine) as s:
        return (
            s.exec(
                select(PaymentHistory)
                .where(PaymentHistory.payment_id == payment_id)
                .order_by(PaymentHistory.id)
            )
            .scalars()
            .all()
        )


def test_transition_writes_history_in_the_same_transaction(db):
    factories.catalog(db)
    pid = _order(db)
    with UnitOfWork(db) as uow:
        result = transition_payment(
            uow.session, pid, PaymentStatus.PAID, cause="ecpay RtnCode=1", actor="ecpay"
        )
        uow.rollback()  # the history row must vanish with the status change
    assert result.applied
    assert [h.to_status for h in _history(db, pid) if h.item_id is None] == ["PENDING"]
    with UnitOfWork(db) as uow:
        transition_payment(uow.session, pid, PaymentStatus.PAID, cause="ecpay RtnCode=1", actor="ecpay")
        uow.commit()
    rows = [h for h in _history(db, pid) if h.item_id is None]
    assert [(h.from_status, h.to_status, h.actor) for h in rows] == [
        (None, "PENDING", "system:orders"),
        ("PENDING", "PAID", "ecpay"),
    ]


def test_illegal_transition_raises_and_writes_nothing(db):
    factories.catalog(db)
    pid = _order(db)
    with UnitOfWork(db) as uow, pytest.raises(IllegalTransition, match="PENDING -> SUCCESS"):
        transition_payment(
            uow.session, pid, PaymentStatus.SUCCESS, cause="x", actor="t", from_={PaymentStatus.PENDING}
        )
    with UnitOfWork(db) as uow, pytest.raises(IllegalTransition, match="nothing may move to PENDING"):
        transition_payment(uow.session, pid, PaymentStatus.PENDING, cause="x", actor="t")
    assert len([h for h in _history(db, pid) if h.item_id is None]) == 1


def test_already_applied_transition_is_a_reported_noop(db):
    factories.catalog(db)
    pid = _order(db)
    for expected in (Applied.APPLIED, Applied.ALREADY):
        with UnitOfWork(db) as uow:
            r = transition_payment(uow.session, pid, PaymentStatus.PAID, cause="paid", actor="ecpay")
            uow.commit()
        assert r.result is expected and r.current == "PAID"
    with UnitOfWork(db) as uow:
        r = transition_payment(
            uow.session, pid, PaymentStatus.EXPIRED, cause="window over", actor="reconciler"
        )
        uow.commit()
    assert r.result is Applied.SUPERSEDED and r.current == "PAID"


def test_twenty_concurrent_attempts_write_exactly_one_history_row(db):
    factories.catalog(db)
    pid = _order(db)
    barrier = threading.Barrier(20)

    def attempt(_):
        with UnitOfWork(db) as uow:
            barrier.wait()
            r = transition_payment(uow.session, pid, PaymentStatus.PAID, cause="notification", actor="ecpay")
            uow.commit()
            return r.result

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(attempt, range(20)))
    assert results.count(Applied.APPLIED) == 1
    assert results.count(Applied.ALREADY) == 19
    paid_rows = [h for h in _history(db, pid) if h.to_status == "PAID"]
    assert len(paid_rows) == 1


_payment_targets = st.sampled_from(list(PaymentStatus))
_item_targets = st.sampled_from(list(ItemStatus))
_events = st.lists(
    st.tuples(st.sampled_from(["payment", "item"]), st.integers(0, len(PaymentStatus) - 1), st.booleans()),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=_events)
def test_random_event_sequences_never_leave_the_tables(db, events):
    factories.catalog(db) if not _has_catalog(db) else None
    pid = _order(db, key=f"h{_next()}")
    with Session(db) as s:
        item_id = s.exec(select(PaymentItem.id).where(PaymentItem.payment_id == pid)).scalar_one()
    for entity, idx, with_from in events:
        table = PAYMENT_TRANSITIONS if entity == "payment" else ITEM_TRANSITIONS
        states = list(PaymentStatus) if entity == "payment" else list(ItemStatus)
        to = states[idx % len(states)]
        fn = transition_payment if entity == "payment" else transition_item
        row = pid if entity == "payment" else item_id
        from_ = {s for s in states if to in table[s]} if with_from else None
        with UnitOfWork(db) as uow:
            try:
                fn(uow.session, row, to, cause="fuzz", actor="hypothesis", from_=from_)
                uow.commit()
            except IllegalTransition:
                pass
    history = _history(db, pid)
    for entity_rows, table in (
        ([h for h in history if h.item_id is None], PAYMENT_TRANSITIONS),
        ([h for h in history if h.item_id is not None], ITEM_TRANSITIONS),
    ):
        previous = None
        for h in entity_rows:
            if h.from_status is not None:
                assert h.to_status in table[h.from_status], f"{h.from_status} -> {h.to_status} left the table"
            assert h.from_status == previous, "history must chain: each row starts where the last ended"
            previous = h.to_status


_counter = iter(range(10**9))


def _next() -> int:
    return next(_counter)


def _has_catalog(engine) -> bool:
    from esa_domain.models import Product

    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(Product)).scalar_one() > 0
