"""Crash points of the customer's LINE messages: the web process SIGKILLed right after the PAID commit (that
commit writes no message: "paid" is said with the delivery, or on its own by the scheduler's tick when delivery
is slow) and the worker SIGKILLed right after orders were delivered (their messages and outbox rows committed,
never dispatched). After healing (a new worker, reconciliation, the scheduler's tick, the outbox sweeper) the
LINE simulator holds, for each customer, exactly one message per outcome: paid and delivered with its serial
in one message, or "paid" alone for an order a crash left in an operator's review."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from esa_domain.infra import outbox
from esa_domain.ordering.notify import PAID_ALONE_AFTER, queue_paid_for_slow_orders
from tests.proof.crash_app import AFTER_PAID_COMMIT
from tests.proof.harness import B, WebProcess, heal, notify, place, scalar
from tests.supplier_world import catalog
from tests.worker_process import WorkerProcess, wait_until


def _line_texts(world, user: str) -> list[str]:
    pushes = httpx.get(f"{world.line_url}/_sandbox/messages", params={"to": user}).json()
    return [p["messages"][0]["text"] for p in pushes]


def _user(db, payment_id: int) -> str:
    return str(
        scalar(
            db,
            "SELECT c.line_user_id FROM customers c JOIN payments p ON p.customer_id = c.id WHERE p.id = :p",
            p=payment_id,
        )
    )


def test_each_outcome_reaches_the_customer_once_through_crashes(db, world, rt, worker_env, tmp_path):
    catalog(db)
    orders = [place(db, [B.SUCCESS]) for _ in range(4)]
    victim, others = orders[0], orders[1:]

    # Given the web process dies right after the PAID commit, before dispatching anything
    web = WebProcess(worker_env, AFTER_PAID_COMMIT, tmp_path / "web.log").start()
    with pytest.raises(httpx.TransportError):
        notify(web.url, victim)
    assert web.died()
    assert scalar(db, "SELECT status FROM payments WHERE id = :p", p=victim.payment_id) == "PAID"
    assert (
        scalar(db, "SELECT count(*) FROM customer_messages WHERE payment_id = :p", p=victim.payment_id) == 0
    )

    # And a worker that is SIGKILLed as soon as the first orders are delivered (their messages just committed)
    worker = WorkerProcess(worker_env, log_path=tmp_path / "worker.log").start()
    for order in others:
        assert notify(world.api_url, order).text == "1|OK"
    delivered = "SELECT count(*) FROM customer_messages WHERE kind = 'delivered' AND payment_id = ANY(:ids)"
    ids = [o.payment_id for o in others]
    assert wait_until(lambda: scalar(db, delivered, ids=ids) >= 1, timeout=30)
    worker.kill()

    # When everything heals (ECPay's re-sent notice, a new worker, reconciliation, the sweeper)
    assert notify(world.api_url, victim).text == "1|OK"  # a duplicate: nothing more
    heal(db, rt, worker_env, tmp_path / "worker2.log", orders)
    with rt.uow() as uow:  # the scheduler's tick, a while later: orders still delivering hear "paid"
        later = datetime.now(UTC) + PAID_ALONE_AFTER + timedelta(seconds=1)
        queue_paid_for_slow_orders(uow.session, now=later)
        uow.commit()
    with WorkerProcess(worker_env, log_path=tmp_path / "worker3.log"):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            outbox.sweep(db, rt.publisher, older_than=timedelta(0))  # type: ignore[arg-type]
            waiting = scalar(
                db, "SELECT count(*) FROM customer_messages WHERE status = 'QUEUED' AND payment_id = ANY(:ids)",
                ids=[o.payment_id for o in orders],
            ) + scalar(
                db, "SELECT count(*) FROM invoices WHERE status = 'PENDING' AND payment_id = ANY(:ids)",
                ids=[o.payment_id for o in orders],
            )  # fmt: skip
            if waiting == 0:
                break
            time.sleep(0.5)

    # Then each customer got exactly one message about the order: paid and delivered with the serial, or "paid,
    # on its way" for an item a crash left for an operator's review (no delivery yet); and the e-invoice's number
    # exactly once, in that message or (when the delivered one left before the invoice was issued, as a heal
    # running both at once can make it) in one message of its own
    for order in orders:
        texts = _line_texts(world, _user(db, order.payment_id))
        status = scalar(db, "SELECT status FROM payments WHERE id = :p", p=order.payment_id)
        serial = scalar(db, "SELECT artifact FROM payment_items WHERE payment_id = :p", p=order.payment_id)
        invoice_no = scalar(
            db,
            "SELECT invoice_no FROM invoices WHERE payment_id = :p AND status = 'ISSUED'",
            p=order.payment_id,
        )
        assert status in ("SUCCESS", "PAID"), status
        about_order = [t for t in texts if "sudah kami terima" in t]
        invoice_alone = [t for t in texts if t.startswith("Faktur elektronik")]
        assert len(about_order) == 1 and len(texts) == 1 + len(invoice_alone), (status, texts)
        if status == "SUCCESS":
            assert "sudah terkirim" in about_order[0] and str(serial) in about_order[0]
            assert invoice_no is not None and sum(invoice_no in t for t in texts) == 1, texts
        else:
            assert "sedang dikirim" in about_order[0] and not invoice_alone
    delivered = scalar(db, "SELECT count(*) FROM payments WHERE id = ANY(:ids) AND status = 'SUCCESS'",
                       ids=[o.payment_id for o in orders])  # fmt: skip
    assert delivered >= 1  # the worker was killed after a delivery committed: at least that one is SUCCESS
