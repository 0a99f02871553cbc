"""E-invoices (issue 19) on real PostgreSQL, against the ECPay payment sandbox (refunds) and the e-invoice
simulator over real HTTP: every invoice, allowance and invalidation counted from the simulator's ledger (what
ECPay made), never from our own record alone."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from esa_domain.adapters.ecpay import EcpayClient
from esa_domain.adapters.ecpay_invoice.client import EcpayInvoiceClient, InvoiceUnavailable
from esa_domain.core.states import ItemStatus
from esa_domain.infra import topics
from esa_domain.infra.db import UnitOfWork
from esa_domain.invoicing import issuing
from esa_domain.invoicing.views import daily_invoices, invoice_for_payment, invoice_timeline
from esa_domain.models import (
    Alert,
    CustomerMessage,
    Invoice,
    InvoiceAllowance,
    InvoiceExchange,
    InvoiceHistory,
)
from esa_domain.operations.actions import refund
from esa_domain.operations.daily_close import business_day
from esa_domain.ordering import notify
from sandbox import ecpay_invoice as einvoice
from sandbox.ecpay import create_ecpay_sandbox
from tests.integration.test_refunds import (
    IV,
    KEY,
    MID,
    _config,
    _finish_items,
    _operator,
    _paid_order,
    _send_requested,
)

NOTIFY = "invoices@esa.example"
BOTH = {"TSEL10": ItemStatus.SUCCESS, "PLN20": ItemStatus.SUCCESS}


@pytest.fixture
def ecpay_url(run_asgi) -> str:
    return run_asgi(create_ecpay_sandbox(merchant_id=MID, hash_key=KEY, hash_iv=IV))


@pytest.fixture
def invoices(run_asgi):
    """The e-invoice simulator, its URL and a client on it."""
    sim = einvoice.InvoiceSimulator()
    url = run_asgi(einvoice.create_app(sim))
    client = EcpayInvoiceClient(url, einvoice.MERCHANT_ID, einvoice.HASH_KEY, einvoice.HASH_IV, timeout=5)
    yield sim, url, client
    client.close()


class Marker:
    """What the worker keeps in Redis: the references whose request left once."""

    def __init__(self) -> None:
        self.sent: set[str] = set()

    def __call__(self, reference: str) -> bool:
        before = reference in self.sent
        self.sent.add(reference)
        return before


def _uow(db):
    return lambda: UnitOfWork(db)


def run_invoice_outbox(db, client, marker=issuing.never_sent) -> list[str]:
    """What the issue_invoice / adjust_invoice workers do with the invoice messages waiting in the outbox."""
    with Session(db) as s:
        rows = s.execute(
            text(
                "SELECT id, topic, payload FROM outbox WHERE topic IN (:a, :b) AND dispatched_at IS NULL ORDER BY id"
            ),
            {"a": topics.ISSUE_INVOICE, "b": topics.ADJUST_INVOICE},
        ).all()
        s.execute(
            text("UPDATE outbox SET dispatched_at = now() WHERE id = ANY(:ids)"),
            {"ids": [r.id for r in rows]},
        )
        s.commit()
    done = []
    for row in rows:
        p = dict(row.payload)
        if row.topic == topics.ISSUE_INVOICE:
            done.append(
                issuing.issue_invoice(
                    _uow(db), client, p["invoice_id"], p.get("plan"), notify_email=NOTIFY, sent_before=marker
                )
            )
        else:
            done.append(
                issuing.adjust_invoice(
                    _uow(db), client, p["adjustment_id"], resume=p.get("resume", False), sent_before=marker
                )
            )
    return done


def _ledger(sim) -> list[dict]:
    return sim.ledger()["invoices"]


def _invoice(db, payment_id: int) -> Invoice:
    with Session(db) as s:
        return s.exec(select(Invoice).where(Invoice.payment_id == payment_id)).one()


def _adjustments(db, payment_id: int) -> list[InvoiceAllowance]:
    with Session(db) as s:
        q = (
            select(InvoiceAllowance)
            .where(InvoiceAllowance.payment_id == payment_id)
            .order_by(InvoiceAllowance.id)
        )
        return list(s.exec(q).all())


def _refund_and_confirm(db, ecpay_url, payment_id: int, amount: int | None, reason: str) -> None:
    op = _operator(db, f"ops{datetime.now(UTC).timestamp()}"[:30])
    with UnitOfWork(db) as uow:
        refund(uow, op, payment_id, reason, amount)
    client = EcpayClient(ecpay_url, MID, KEY, IV)
    statuses = _send_requested(db, payment_id, _config(ecpay_url), client)
    assert statuses[-1] == "CONFIRMED"


def _order(db, ecpay_url, **kw):
    """test_refunds' paid order, with its payment time as a notification records it (the daily close's key)."""
    placed = _paid_order(db, ecpay_url, **kw)
    with Session(db) as s:
        s.execute(text("UPDATE payments SET paid_at = now() WHERE id = :p"), {"p": placed.payment_id})
        s.commit()
    return placed


def _set_carrier(db, payment_id: int, kind: str, value: str | None) -> None:
    with Session(db) as s:
        s.execute(
            text("UPDATE payments SET invoice_carrier_kind = :k, invoice_carrier_value = :v WHERE id = :p"),
            {"k": kind, "v": value, "p": payment_id},
        )
        s.commit()


def test_delivered_then_partly_refunded_then_the_rest_one_invoice_one_allowance_then_the_final_one(
    db, ecpay_url, invoices
):
    sim, _, client = invoices
    # Given a delivered card order of NT$70 (TSEL10 NT$25 + PLN20 NT$45) with a mobile barcode
    placed = _order(db, ecpay_url)
    _set_carrier(db, placed.payment_id, "mobile", "/ABC+123")
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    # When the invoice worker runs (twice: a duplicate message changes nothing)
    assert run_invoice_outbox(db, client) == ["ISSUED"]
    assert (
        issuing.issue_invoice(_uow(db), client, _invoice(db, placed.payment_id).id, None, notify_email=NOTIFY)
        == "ISSUED"
    )
    # Then ECPay issued one invoice of NT$70 to the barcode, lines = the delivered products, tax included
    (issued,) = _ledger(sim)
    assert (issued["sales_amount"], issued["carrier_type"], issued["carrier_num"]) == (70, "3", "/ABC+123")
    assert [(i["ItemName"], i["ItemAmount"], i["ItemTaxType"]) for i in issued["items"]] == [
        ("Telkomsel 10.000", 25, "1"), ("PLN 20.000", 45, "1"),
    ]  # fmt: skip
    invoice = _invoice(db, placed.payment_id)
    assert (invoice.status, invoice.invoice_no, invoice.random_number) == (
        "ISSUED",
        issued["invoice_no"],
        issued["random_number"],
    )
    # the customer reads the number and random code in LINE once: in the invoice's own message, or in the
    # delivered message when that one had not left yet (esa_domain.ordering.notify)
    with Session(db) as s:
        messages = s.exec(
            select(CustomerMessage).where(CustomerMessage.payment_id == placed.payment_id)
        ).all()
        for language, words in (("id", "kode acak"), ("en", "random code"), ("zh-Hant", "隨機碼")):
            s.execute(text("UPDATE customers SET language = :l"), {"l": language})
            said = [
                t
                for m in messages
                for t in (notify.compose(s, m.id, "https://esa.example") or ("", []))[1]
                if issued["invoice_no"] in t
            ]
            assert len(said) == 1, said
            assert issued["random_number"] in said[0] and words in said[0]
            assert "/ABC+123" in said[0] and "NT$70" in said[0]
        s.rollback()
    # When NT$20 is refunded (goodwill), then the rest (NT$50)
    _refund_and_confirm(db, ecpay_url, placed.payment_id, 20, "goodwill: late delivery")
    assert [a.kind for a in _adjustments(db, placed.payment_id)] == ["allowance"]
    assert run_invoice_outbox(db, client) == ["DONE"]
    _refund_and_confirm(db, ecpay_url, placed.payment_id, None, "dispute: never used")
    assert run_invoice_outbox(db, client) == ["DONE"]
    assert run_invoice_outbox(db, client) == []
    # Then ECPay holds one invoice with one allowance of NT$20 and the final one of NT$50: nothing remains
    (issued,) = _ledger(sim)
    assert [(a["amount"], a["invalid"]) for a in issued["allowances"]] == [(20, False), (50, False)]
    assert issued["remain"] == 0 and not issued["invalid"]
    adjustments = _adjustments(db, placed.payment_id)
    assert [(a.kind, a.amount_twd, a.status) for a in adjustments] == [
        ("allowance", 20, "DONE"), ("allowance", 50, "DONE"),
    ]  # fmt: skip
    assert [a.allowance_no for a in adjustments] == [a["allowance_no"] for a in issued["allowances"]]
    # And the views say it, tying to what was kept (nothing)
    with Session(db) as s:
        view = invoice_for_payment(s, placed.payment_id)
        events = invoice_timeline(s, placed.payment_id)
        day = daily_invoices(s, business_day(datetime.now(UTC)))
    assert (view.status, view.amount_twd, view.allowance_twd, view.invalidated) == ("ISSUED", 70, 70, False)
    assert [(e.subject, e.to_status) for e in events] == [
        ("invoice", "PENDING"), ("invoice", "ISSUED"),
        ("allowance", "REQUESTED"), ("allowance", "DONE"), ("allowance", "REQUESTED"), ("allowance", "DONE"),
    ]  # fmt: skip
    (row,) = day.rows
    assert (row.kept_twd, row.invoiced_twd, row.difference_twd, day.difference_twd) == (0, 0, 0, 0)
    # every request and answer is on record, without the keys
    with Session(db) as s:
        ops = [e.operation for e in s.exec(select(InvoiceExchange).order_by(InvoiceExchange.id))]
        dumped = str([e.request_json for e in s.exec(select(InvoiceExchange))])
    assert ops == ["Issue", "Allowance", "Allowance"]  # the duplicate message read the row and stopped
    assert einvoice.HASH_KEY not in dumped and einvoice.HASH_IV not in dumped


def test_a_full_refund_inside_the_period_invalidates_the_invoice(db, ecpay_url, invoices):
    sim, _, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    run_invoice_outbox(db, client)
    _refund_and_confirm(db, ecpay_url, placed.payment_id, None, "dispute")
    assert [(a.kind, a.amount_twd) for a in _adjustments(db, placed.payment_id)] == [("invalidation", 70)]
    assert run_invoice_outbox(db, client) == ["DONE"]
    (issued,) = _ledger(sim)
    assert issued["invalid"] and issued["allowances"] == []
    assert _invoice(db, placed.payment_id).status == "INVALIDATED"
    with Session(db) as s:
        assert invoice_for_payment(s, placed.payment_id).invalidated
        assert daily_invoices(s, business_day(datetime.now(UTC))).difference_twd == 0


def test_a_full_refund_after_the_period_is_an_allowance(db, ecpay_url, invoices):
    sim, _url, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    run_invoice_outbox(db, client)
    with Session(db) as s:  # issued three months ago, as far as our record goes
        s.execute(
            text("UPDATE invoices SET issued_at = now() - interval '92 days' WHERE payment_id = :p"),
            {"p": placed.payment_id},
        )
        s.commit()
    _refund_and_confirm(db, ecpay_url, placed.payment_id, None, "dispute")
    assert [a.kind for a in _adjustments(db, placed.payment_id)] == ["allowance"]
    run_invoice_outbox(db, client)
    (issued,) = _ledger(sim)
    assert not issued["invalid"] and [a["amount"] for a in issued["allowances"]] == [70]


def test_an_invalidation_ecpay_refuses_for_its_period_becomes_an_allowance(db, ecpay_url, invoices):
    sim, url, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    run_invoice_outbox(db, client)
    _refund_and_confirm(db, ecpay_url, placed.payment_id, None, "dispute")
    httpx.post(
        f"{url}/_sandbox/clock", json={"advance_days": 75}
    ).raise_for_status()  # ECPay's clock is later
    assert run_invoice_outbox(db, client) == ["DONE"]
    (issued,) = _ledger(sim)
    assert not issued["invalid"] and [a["amount"] for a in issued["allowances"]] == [70]
    assert [(a.kind, a.status) for a in _adjustments(db, placed.payment_id)] == [("allowance", "DONE")]
    assert _invoice(db, placed.payment_id).status == "ISSUED"


def test_a_partly_delivered_order_invoices_only_what_was_delivered(db, ecpay_url, invoices):
    sim, _, client = invoices
    placed = _order(db, ecpay_url, promo=True)  # 10 % off: NT$63 charged
    _set_carrier(db, placed.payment_id, "donation", "168001")
    assert (
        _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.SUCCESS, "PLN20": ItemStatus.FAILED})
        == "PARTIAL"
    )
    run_invoice_outbox(db, client)
    (issued,) = _ledger(sim)
    # NT$63 charged; PLN20's share of it (NT$41, rounded up) is refunded: NT$22 kept, all of it TSEL10
    assert issued["sales_amount"] == 22 and issued["love_code"] == "168001" and issued["carrier_type"] == ""
    assert [(i["ItemName"], i["ItemAmount"]) for i in issued["items"]] == [("Telkomsel 10.000", 22)]
    # the undelivered part's refund needs no adjustment: it was never invoiced
    from esa_domain.payments.refunds import refund_payment

    refund_payment(_uow(db), placed.payment_id, _config(ecpay_url))
    _send_requested(db, placed.payment_id, _config(ecpay_url), EcpayClient(ecpay_url, MID, KEY, IV))
    assert _adjustments(db, placed.payment_id) == []
    with Session(db) as s:
        (row,) = daily_invoices(s, business_day(datetime.now(UTC))).rows
    assert (row.paid_twd, row.refunded_twd, row.invoiced_twd, row.difference_twd) == (63, 41, 22, 0)


def test_a_refund_before_the_invoice_is_issued_issues_only_what_is_kept(db, ecpay_url, invoices):
    sim, url, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    # ECPay's e-invoice service is down: the invoice stays PENDING, its answer recorded
    httpx.post(f"{url}/_sandbox/failures", json={"operation": "Issue", "when": "before"}).raise_for_status()
    with pytest.raises(InvoiceUnavailable):
        run_invoice_outbox(db, client)
    assert _invoice(db, placed.payment_id).status == "PENDING"
    # an operator refunds NT$20 meanwhile; then the invoice goes out for the NT$50 kept
    _refund_and_confirm(db, ecpay_url, placed.payment_id, 20, "goodwill")
    assert run_invoice_outbox(db, client) == ["ISSUED"]
    (issued,) = _ledger(sim)
    assert issued["sales_amount"] == 50 and sum(i["ItemAmount"] for i in issued["items"]) == 50
    assert _adjustments(db, placed.payment_id) == []


def test_everything_refunded_before_the_invoice_is_issued_issues_nothing(db, ecpay_url, invoices):
    sim, url, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    httpx.post(f"{url}/_sandbox/failures", json={"operation": "Issue", "when": "before"}).raise_for_status()
    with pytest.raises(InvoiceUnavailable):
        run_invoice_outbox(db, client)
    _refund_and_confirm(db, ecpay_url, placed.payment_id, None, "dispute")
    assert run_invoice_outbox(db, client) == ["VOID"]
    assert _ledger(sim) == [] and _invoice(db, placed.payment_id).status == "VOID"
    with Session(db) as s:
        assert daily_invoices(s, business_day(datetime.now(UTC))).difference_twd == 0


def test_a_duplicate_relate_number_reads_the_invoice_issued_before(db, ecpay_url, invoices):
    sim, url, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    # ECPay issues it but its answer is lost
    httpx.post(f"{url}/_sandbox/failures", json={"operation": "Issue", "when": "after"}).raise_for_status()
    with Session(db) as s:
        (plan,) = s.execute(text("SELECT payload FROM outbox WHERE topic = 'issue_invoice'")).scalars().all()
    with pytest.raises(InvoiceUnavailable):
        issuing.issue_invoice(_uow(db), client, plan["invoice_id"], plan["plan"], notify_email=NOTIFY)
    assert _invoice(db, placed.payment_id).status == "PENDING"
    # the same message again, without a marker: ECPay refuses the RelateNumber (5070357); its invoice is read
    assert (
        issuing.issue_invoice(_uow(db), client, plan["invoice_id"], plan["plan"], notify_email=NOTIFY)
        == "ISSUED"
    )
    (issued,) = _ledger(sim)
    invoice = _invoice(db, placed.payment_id)
    assert (invoice.invoice_no, invoice.random_number, invoice.issued_twd) == (
        issued["invoice_no"],
        issued["random_number"],
        70,
    )
    assert [r["rtn_code"] for r in sim.ledger()["requests"] if r["operation"] == "Issue"] == [1, 5070357]


def test_a_retry_after_a_lost_answer_asks_first_and_never_issues_again(db, ecpay_url, invoices):
    sim, url, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    marker = Marker()
    httpx.post(f"{url}/_sandbox/failures", json={"operation": "Issue", "when": "after"}).raise_for_status()
    with pytest.raises(InvoiceUnavailable):
        run_invoice_outbox(db, client, marker)
    with Session(db) as s:
        (plan,) = s.execute(text("SELECT payload FROM outbox WHERE topic = 'issue_invoice'")).scalars().all()
    assert issuing.issue_invoice(_uow(db), client, plan["invoice_id"], plan["plan"], notify_email=NOTIFY,
                                 sent_before=marker) == "ISSUED"  # fmt: skip
    assert [r["operation"] for r in sim.ledger()["requests"]] == ["Issue", "GetIssue"]
    assert len(_ledger(sim)) == 1


def test_an_unknown_mobile_barcode_fails_the_invoice_and_alerts_once(db, ecpay_url, invoices):
    sim, _, client = invoices
    placed = _order(db, ecpay_url)
    _set_carrier(db, placed.payment_id, "mobile", "/ZZZ9999")
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    assert run_invoice_outbox(db, client) == ["FAILED"]
    assert _ledger(sim) == []
    invoice = _invoice(db, placed.payment_id)
    assert invoice.status == "FAILED" and str(einvoice.RTN_BAD_CARRIER) in invoice.ecpay_answer
    with Session(db) as s:
        conditions = [a.condition for a in s.exec(select(Alert))]
        assert conditions.count(issuing.INVOICE_REFUSED) == 1
        # the watchdog sees it too, without a second alert
        assert (
            issuing.check_invoices(s, __import__("datetime").timedelta(minutes=30), "", datetime.now(UTC))
            == []
        )
        history = [
            (h.from_status, h.to_status) for h in s.exec(select(InvoiceHistory).order_by(InvoiceHistory.id))
        ]
    assert history == [(None, "PENDING"), ("PENDING", "FAILED")]
    # an operator sends it again to ECPay's member carrier (the customer has no valid barcode): audited
    from esa_domain.invoicing.actions import retry_invoice
    from esa_domain.invoicing.carrier import Carrier
    from esa_domain.models import OperatorAction
    from esa_domain.operations.actions import ActionRefused

    op = _operator(db)
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="say why"):
        retry_invoice(uow, op, placed.payment_id, "")
    with UnitOfWork(db) as uow:
        retry_invoice(uow, op, placed.payment_id, "customer has no barcode: member carrier", Carrier("none"))
    assert run_invoice_outbox(db, client) == ["ISSUED"]
    (issued,) = _ledger(sim)
    assert (issued["carrier_type"], issued["carrier_num"]) == ("1", "")
    with Session(db) as s:
        (audit,) = s.exec(select(OperatorAction).where(OperatorAction.action == "retry_invoice")).all()
        assert audit.detail["carrier_after"] == ["none", None]
        history = [
            (h.from_status, h.to_status) for h in s.exec(select(InvoiceHistory).order_by(InvoiceHistory.id))
        ]
    assert history == [(None, "PENDING"), ("PENDING", "FAILED"), ("FAILED", "ISSUED")]
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="is ISSUED"):
        retry_invoice(uow, op, placed.payment_id, "again")


def test_an_invoice_lagging_its_payment_is_alerted_and_healed_by_the_reconciler(db, ecpay_url, invoices):
    sim, _url, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    with Session(db) as s:  # its message was lost long ago
        s.execute(text("UPDATE outbox SET dispatched_at = now() WHERE topic = 'issue_invoice'"))
        s.execute(
            text(
                "UPDATE invoices SET created_at = now() - interval '1 hour', updated_at = now() - interval '1 hour'"
            )
        )
        s.commit()
        from datetime import timedelta

        (alert_id,) = issuing.check_invoices(
            s, timedelta(minutes=30), "https://esa.example", datetime.now(UTC)
        )
        s.commit()
        assert s.get(Alert, alert_id).condition == issuing.INVOICE_LAGGING
        assert issuing.redispatch_lagging(s, older_than=datetime.now(UTC) - timedelta(minutes=2)) == (1, 0)
        s.commit()
    assert run_invoice_outbox(db, client) == ["ISSUED"]
    assert [r["operation"] for r in sim.ledger()["requests"]] == ["GetIssue", "Issue"]  # asked first


def test_invoice_lines_spread_the_discount_and_add_up():
    lines = issuing.invoice_lines([("A", 25), ("B", 45)], 63)
    assert [(line.name, line.price) for line in lines] == [("A", 23), ("B", 40)]
    assert sum(line.price for line in issuing.invoice_lines([("A", 1), ("B", 1), ("C", 1)], 2)) == 2
    assert issuing.invoice_lines([("A", 10)], 0) == ()


def test_the_watchdog_alerts_a_refused_invoice_once_among_its_checks(db, ecpay_url):
    from datetime import timedelta

    from esa_domain.operations import watchdogs

    placed = _order(db, ecpay_url)
    _set_carrier(db, placed.payment_id, "donation", "7654321")  # a love code that does not exist
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    with Session(db) as s:  # refused without an alert of its own (say, an older worker): the watchdog sees it
        s.execute(text("UPDATE invoices SET status = 'FAILED'"))
        s.commit()
    policy = watchdogs.WatchPolicy(jobs={}, fx_max_age=timedelta(days=9), fx_warn_before=timedelta(hours=1))
    assert watchdogs.watch(_uow(db), policy, "https://esa.example")["invoices"] == 1
    assert watchdogs.watch(_uow(db), policy, "https://esa.example")["invoices"] == 0  # once
    with Session(db) as s:
        (alert,) = s.exec(select(Alert).where(Alert.condition == issuing.INVOICE_REFUSED)).all()
    assert alert.payment_id == placed.payment_id and "/orders/" in (alert.link or "")


def test_an_undelivered_refund_that_gives_back_more_adjusts_the_invoice_for_the_rest(db, ecpay_url, invoices):
    sim, _, client = invoices
    placed = _order(db, ecpay_url, promo=True)  # NT$63 charged; PLN20's share NT$41; invoiced NT$22
    assert (
        _finish_items(db, placed.payment_id, {"TSEL10": ItemStatus.SUCCESS, "PLN20": ItemStatus.FAILED})
        == "PARTIAL"
    )
    run_invoice_outbox(db, client)
    # an operator refunds the whole charge as the order's undelivered refund: NT$22 of it was invoiced
    _refund_and_confirm(db, ecpay_url, placed.payment_id, 63, "customer cancels the rest too")
    assert [(a.kind, a.amount_twd) for a in _adjustments(db, placed.payment_id)] == [("invalidation", 22)]
    assert run_invoice_outbox(db, client) == ["DONE"]
    (issued,) = _ledger(sim)
    assert issued["sales_amount"] == 22 and issued["invalid"]
    with Session(db) as s:
        (row,) = daily_invoices(s, business_day(datetime.now(UTC))).rows
    assert (row.paid_twd, row.refunded_twd, row.invoiced_twd, row.difference_twd) == (63, 63, 0, 0)


def test_two_refunds_adjust_the_invoice_one_after_the_other(db, ecpay_url, invoices):
    sim, _, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    run_invoice_outbox(db, client)
    # two refunds confirmed before either adjustment left
    _refund_and_confirm(db, ecpay_url, placed.payment_id, 10, "goodwill one")
    _refund_and_confirm(db, ecpay_url, placed.payment_id, 15, "goodwill two")
    first, second = _adjustments(db, placed.payment_id)
    assert (first.amount_twd, second.amount_twd) == (10, 15)
    # the second waits while the first is on its way (ECPay's remaining amount then tells each one apart)
    with pytest.raises(issuing.AdjustmentWaits):
        issuing.adjust_invoice(_uow(db), client, second.id)
    assert issuing.adjust_invoice(_uow(db), client, first.id) == "DONE"
    assert issuing.adjust_invoice(_uow(db), client, second.id) == "DONE"
    (issued,) = _ledger(sim)
    assert [a["amount"] for a in issued["allowances"]] == [10, 15] and issued["remain"] == 45
    assert _invoice(db, placed.payment_id).allowance_twd == 25


def test_ecpay_throttling_an_issue_waits_its_thirty_minutes_without_retrying(db, ecpay_url, invoices):
    from datetime import timedelta

    sim, url, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    httpx.post(f"{url}/_sandbox/failures", json={"operation": "Issue", "when": "throttle"}).raise_for_status()
    assert run_invoice_outbox(db, client) == ["PENDING"]  # no exception: the message is not retried at once
    with Session(db) as s:
        # the reconciler's heal leaves it alone for the 30 minutes ECPay asks for
        assert issuing.redispatch_lagging(s, older_than=datetime.now(UTC) - timedelta(minutes=2)) == (0, 0)
        assert issuing.redispatch_lagging(s, older_than=datetime.now(UTC) + timedelta(minutes=31)) == (1, 0)
        s.commit()
    assert run_invoice_outbox(db, client) == ["ISSUED"]
    assert len(_ledger(sim)) == 1


def test_an_invoice_issued_while_the_delivered_message_is_on_its_way_gets_its_own_message(db, ecpay_url):
    """The race a crash proof met once in CI: the delivered message was composed before the invoice was issued
    (so it does not carry the number), and the invoice's transaction looked while that message was still QUEUED
    (so it left the number to it). The message's finishing transaction must then see the invoice: it waits for
    the invoice's transaction and queues the invoice's own message, or the customer never reads the number."""
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    with Session(db) as s:
        (delivered,) = s.exec(
            select(CustomerMessage.id).where(
                CustomerMessage.payment_id == placed.payment_id, CustomerMessage.kind == "delivered"
            )
        ).all()
    # Given the invoice's issuing transaction has moved the invoice and decided (message still QUEUED), not committed
    issuing_tx = UnitOfWork(db).__enter__()
    s = issuing_tx.session
    s.execute(
        text(
            "UPDATE invoices SET status = 'ISSUED', invoice_no = 'ZZ00000001', random_number = '1234' "
            "WHERE payment_id = :p"
        ),
        {"p": placed.payment_id},
    )
    assert notify.queue_invoice(s, placed.payment_id) is None  # the delivered message is to say it
    # When the delivered message (composed without the invoice) finishes meanwhile
    done: list[str] = []
    finishing = threading.Thread(
        target=lambda: done.append(
            notify._finish(_uow(db), delivered, notify.SENT, None, notify._invoice_after(delivered))
        )
    )
    finishing.start()
    deadline = time.monotonic() + 10
    with Session(db) as watcher:  # until it finished, or waits on the invoice's lock
        while finishing.is_alive() and time.monotonic() < deadline:
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
            if waiting:
                break
            time.sleep(0.02)
    s.commit()
    issuing_tx.__exit__(None, None, None)
    finishing.join(10)
    # Then the invoice has a message of its own: the customer reads the number once
    assert done == ["SENT"]
    with Session(db) as s:
        kinds = s.exec(
            select(CustomerMessage.kind)
            .where(CustomerMessage.payment_id == placed.payment_id)
            .order_by(CustomerMessage.id)
        ).all()
    assert kinds == ["delivered", "invoice"]


def _notify_rows(db, payment_id: int) -> list[str]:
    """The kinds of the customer messages the outbox was asked to send for the order, in order."""
    with Session(db) as s:
        return list(
            s.execute(
                text(
                    "SELECT m.kind FROM outbox o JOIN customer_messages m ON m.id = (o.payload->>'message_id')::bigint "
                    "WHERE o.topic = :t AND m.payment_id = :p ORDER BY o.id"
                ),
                {"t": topics.NOTIFY_CUSTOMER, "p": payment_id},
            ).scalars()
        )


def _said(db, payment_id: int, needle: str) -> list[str]:
    with Session(db) as s:
        ids = s.exec(select(CustomerMessage.id).where(CustomerMessage.payment_id == payment_id)).all()
        return [
            t
            for i in ids
            for t in (notify.compose(s, i, "https://esa.example") or ("", []))[1]
            if needle in t
        ]


def test_the_delivered_message_waits_for_the_invoice_and_says_its_number(db, ecpay_url, invoices):
    sim, _, client = invoices
    # Given a delivered order (settled by whichever process: the message is written with the settlement)
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    # Then its delivered message is queued but held: nothing asks for it to be sent before the invoice's outcome
    assert _notify_rows(db, placed.payment_id) == []
    # When the invoice is issued
    assert run_invoice_outbox(db, client) == ["ISSUED"]
    # Then the delivered message leaves, and it alone says the invoice's number (no message of its own)
    assert _notify_rows(db, placed.payment_id) == ["delivered"]
    (issued,) = _ledger(sim)
    (said,) = _said(db, placed.payment_id, issued["invoice_no"])
    assert "terkirim" in said or "delivered" in said


def test_ecpay_out_of_reach_lets_the_delivered_message_go_and_the_number_follows_on_its_own(
    db, ecpay_url, invoices
):
    sim, _, client = invoices
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    # When ECPay's e-invoice service cannot be reached at the first try
    down = EcpayInvoiceClient(
        "http://127.0.0.1:9", einvoice.MERCHANT_ID, einvoice.HASH_KEY, einvoice.HASH_IV, timeout=2
    )
    with pytest.raises(InvoiceUnavailable):
        run_invoice_outbox(db, down)
    down.close()
    # Then the customer is not kept waiting: the delivered message leaves now, without a number
    assert _notify_rows(db, placed.payment_id) == ["delivered"]
    with Session(db) as s:
        (delivered,) = s.exec(
            select(CustomerMessage.id).where(CustomerMessage.payment_id == placed.payment_id)
        ).all()
    assert notify._finish(_uow(db), delivered, notify.SENT, None) == "SENT"
    # And when the invoice is issued later (the actor's retry asks first), the number comes in a message of its own
    invoice = _invoice(db, placed.payment_id)
    assert issuing.issue_invoice(_uow(db), client, invoice.id, None, notify_email=NOTIFY) == "ISSUED"
    assert _notify_rows(db, placed.payment_id) == ["delivered", "invoice"]
    (issued,) = _ledger(sim)
    with Session(db) as s:
        (own,) = s.exec(
            select(CustomerMessage.id).where(
                CustomerMessage.payment_id == placed.payment_id, CustomerMessage.kind == "invoice"
            )
        ).all()
        said = notify.compose(s, own, "https://esa.example")[1][0]
    assert issued["invoice_no"] in said and issued["random_number"] in said


def test_a_delivered_message_no_invoice_released_is_sent_by_the_sweeper_once(db, ecpay_url):
    placed = _order(db, ecpay_url)
    assert _finish_items(db, placed.payment_id, BOTH) == "SUCCESS"
    assert _notify_rows(db, placed.payment_id) == []
    # Given the invoice's worker died before it ran (its own heal comes later): a minute's tick, too early, waits
    with UnitOfWork(db) as uow:
        assert notify.release_held_messages(uow.session) == 0
        uow.commit()
    # When the tick comes after HELD_AT_MOST, twice
    later = datetime.now(UTC) + notify.HELD_AT_MOST + timedelta(seconds=1)
    for _ in range(2):
        with UnitOfWork(db) as uow:
            notify.release_held_messages(uow.session, now=later)
            uow.commit()
    # Then the message is sent once, and says why in its record
    assert _notify_rows(db, placed.payment_id) == ["delivered"]
    with Session(db) as s:
        (message,) = s.exec(
            select(CustomerMessage).where(CustomerMessage.payment_id == placed.payment_id)
        ).all()
    assert message.status == "QUEUED" and "sweeper" in (message.error or "")
