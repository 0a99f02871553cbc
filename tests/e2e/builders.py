"""Demo-like order records for the dashboard tests: orders in every interesting state, with their history,
gateway events, supplier attempts and exchanges, built through the real domain code where it exists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select, update
from sqlmodel import Session

from esa_domain.core.states import ItemStatus, PaymentStatus
from esa_domain.core.transitions import transition_item, transition_payment
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import (
    Alert,
    GatewayEvent,
    ItemAttempt,
    Payment,
    PaymentItem,
    SupplierExchange,
)
from esa_domain.operations.operators import create_operator
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from tests import factories

PASSWORD = "demo-password-1"


def operators(engine: Engine) -> dict[str, int]:
    """admin / ops / viewer accounts, all with PASSWORD."""
    ids = {}
    with UnitOfWork(engine) as uow:
        for name, role in (("admin", "admin"), ("ops", "operator"), ("viewer", "viewer")):
            ids[name] = create_operator(uow.session, name, PASSWORD, role=role, display_name=name.title()).id
        uow.commit()
    return ids


def order(
    engine: Engine, customer_id: int, lines: list[tuple[str, str]], *, age: timedelta = timedelta(0)
) -> int:
    with UnitOfWork(engine) as uow:
        placed = place_order(
            uow,
            OrderRequest(
                customer_id, uuid.uuid4().hex, tuple(OrderLine(code, target) for code, target in lines)
            ),
        )
        uow.commit()
    if age:
        with Session(engine) as s:
            s.execute(
                update(Payment)
                .where(Payment.id == placed.payment_id)
                .values(created_at=Payment.created_at - age, expires_at=Payment.expires_at - age)
            )
            s.execute(
                update(PaymentItem)
                .where(PaymentItem.payment_id == placed.payment_id)
                .values(created_at=PaymentItem.created_at - age)
            )
            s.commit()
    return placed.payment_id


def pay(engine: Engine, payment_id: int, *, at: datetime | None = None) -> None:
    at = at or datetime.now(UTC)
    with Session(engine) as s:
        p = s.get(Payment, payment_id)
        s.add(
            GatewayEvent(
                payment_id=payment_id,
                merchant_trade_no=p.merchant_trade_no,
                kind="notification",
                fields={
                    "MerchantTradeNo": p.merchant_trade_no,
                    "RtnCode": "1",
                    "TradeAmt": str(p.amount_twd),
                    "PaymentType": "Credit_CreditCard",
                    "TradeNo": "2401011234567890",
                },
                verified=True,
                outcome="accepted",
                remote_addr="175.99.72.1",
            )
        )
        transition_payment(
            s,
            payment_id,
            PaymentStatus.PAID,
            cause=f"ECPay notification: paid NT${p.amount_twd}",
            actor="ecpay",
            values={"paid_at": at, "paid_amount_twd": p.amount_twd, "payment_method": "Credit_CreditCard"},
        )
        s.commit()


def attempt(
    engine: Engine, item_id: int, supplier_id: int, state: str, *, message: str = "", cost_idr: int = 10200
) -> int:
    """An attempt with one purchase exchange (request and response JSON, secrets already absent)."""
    with Session(engine) as s:
        a = ItemAttempt(
            item_id=item_id,
            supplier_id=supplier_id,
            reference=f"ESA-{uuid.uuid4().hex[:12]}",
            state=state,
            message=message or None,
            cost_idr=cost_idr,
            cost_twd=Decimal(cost_idr) * Decimal("0.002"),
            request_json={
                "ref_id": "ESA-x",
                "customer_id": "081234567890",
                "product_code": "htelkomsel10000",
                "sign": "[redacted]",
            },
            response_json={"data": {"status": 0 if state == "SUCCESS" else 1, "message": message or state}},
            latency_ms=420,
            finished_at=datetime.now(UTC) if state in ("SUCCESS", "FAILED") else None,
        )
        s.add(a)
        s.flush()
        s.add(
            SupplierExchange(
                supplier_id=supplier_id,
                attempt_id=a.id,
                operation="purchase",
                method="POST",
                url="http://127.0.0.1:8100/iak/api/top-up",
                request_json=a.request_json,
                response_json=a.response_json,
                http_status=200,
                latency_ms=420,
            )
        )
        s.commit()
        return a.id


def move_item(engine: Engine, item_id: int, *path: ItemStatus, cause: str = "worker", **values) -> None:
    with Session(engine) as s:
        for i, to in enumerate(path):
            transition_item(
                s,
                item_id,
                to,
                cause=cause,
                actor="system:fulfillment",
                values=values if i == len(path) - 1 else None,
            )
        s.commit()


def item_ids(engine: Engine, payment_id: int) -> list[int]:
    with Session(engine) as s:
        stmt = select(PaymentItem.id).where(PaymentItem.payment_id == payment_id).order_by(PaymentItem.id)
        return list(s.execute(stmt).scalars())


def demo(engine: Engine) -> dict:
    """A catalog, operators, and orders in the states each page shows: delivered, pending, expired, stuck,
    needs review, failed (refundable), with an alert."""
    cat = factories.catalog(engine)
    ops = operators(engine)
    cust = factories.customer(engine, "U4af4980629a1b2c3d4e5f60718293a4b")
    other = factories.customer(engine, "U0000000000000000000000000000beef")
    iak, lapak = cat["iak"].id, cat["lapak"].id

    delivered = order(
        engine, cust.id, [("TSEL10", "081234567890"), ("PLN20", "12345678901")], age=timedelta(days=2)
    )
    pay(engine, delivered)
    for item_id in item_ids(engine, delivered):
        attempt(engine, item_id, iak, "SUCCESS", message="SUKSES")
        move_item(engine, item_id, ItemStatus.PROCESSING, ItemStatus.SUCCESS, artifact="SN 0412-8812-0931")
    with Session(engine) as s:
        transition_payment(
            s, delivered, PaymentStatus.SUCCESS, cause="all items delivered", actor="system:fulfillment"
        )
        s.commit()

    waiting = order(engine, other.id, [("TSEL10", "081298765432")])
    expired = order(
        engine,
        other.id,
        [("TSEL10", "081311112222")],
        age=timedelta(hours=2),
    )

    stuck = order(engine, cust.id, [("TSEL10", "085212345678")], age=timedelta(minutes=40))
    pay(engine, stuck, at=datetime.now(UTC) - timedelta(minutes=35))

    review = order(engine, cust.id, [("TSEL10", "081377778888")], age=timedelta(hours=3))
    pay(engine, review, at=datetime.now(UTC) - timedelta(hours=3))
    (review_item,) = item_ids(engine, review)
    attempt(engine, review_item, iak, "UNKNOWN", message="timeout after 30 s")
    move_item(
        engine,
        review_item,
        ItemStatus.PROCESSING,
        ItemStatus.SUPPLIER_PENDING,
        ItemStatus.NEEDS_REVIEW,
        cause="supplier answer unknown past its deadline",
    )

    failed = order(engine, other.id, [("TSEL10", "081355556666")], age=timedelta(hours=1))
    pay(engine, failed)
    (failed_item,) = item_ids(engine, failed)
    attempt(engine, failed_item, lapak, "FAILED", message="product out of stock", cost_idr=10100)
    attempt(engine, failed_item, iak, "FAILED", message="nomor tidak valid")
    move_item(engine, failed_item, ItemStatus.PROCESSING, ItemStatus.FAILED, failure_reason="invalid number")
    with Session(engine) as s:
        transition_payment(
            s, failed, PaymentStatus.FAILED, cause="no item delivered", actor="system:fulfillment"
        )
        s.add(
            Alert(
                dedupe_key=f"needs_review:payment:{review}",
                payment_id=review,
                condition="needs_review",
                title="Item needs review",
                body="Supplier answer unknown past deadline",
                link=f"/orders/{review}",
                retry_key=uuid.uuid4().hex,
                status="sent",
                sent_at=datetime.now(UTC),
            )
        )
        s.commit()
    return {
        "catalog": cat,
        "operators": ops,
        "customer": cust,
        "delivered": delivered,
        "waiting": waiting,
        "expired": expired,
        "stuck": stuck,
        "review": review,
        "review_item": review_item,
        "failed": failed,
    }
