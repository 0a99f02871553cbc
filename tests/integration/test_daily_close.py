"""The daily close on real PostgreSQL against the simulators over HTTP (ECPay, the five suppliers, LINE): a day
with injected differences (a supplier reversal, a payment the notification never reached, a deposit that moved
more than deliveries explain) shows each one, with a link to its order, once; the reversal's callback is also
raised by the watchdog."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from esa_domain.adapters.ecpay import build_checkout_fields
from esa_domain.adapters.suppliers.registry import build_adapters
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert, CloseDifference, DailyClose, ItemAttempt, PaymentItem, Supplier
from esa_domain.operations import daily_close, deposits, watchdogs
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from esa_domain.payments.accept import EcpayConfig
from sandbox.behaviours import Behaviour, target_for
from tests import factories
from tests.supplier_world import OFFERS, catalog, drain, pay, start_world


@pytest.fixture(scope="module")
def world(engine):
    w = start_world(engine)
    yield w
    w.servers.stop()


def _uow(db):
    return lambda: UnitOfWork(db)


def _iak_cheapest() -> dict:
    offers = {k: dict(v) for k, v in OFFERS.items()}
    # IAK delivers the pulsa: at its own price (what its simulator debits), the others dearer
    offers["TSEL10"]["pulsaif"] = ("S10", 10_700)
    return offers


def _checkout(world, db, key: str) -> tuple[int, str, int]:
    """Place an order and open its trade at the ECPay simulator (as the customer's browser does)."""
    cust = factories.customer(db, f"U-{key}")
    with UnitOfWork(db) as uow:
        placed = place_order(
            uow, OrderRequest(cust.id, key, (OrderLine("TSEL10", target_for(Behaviour.SUCCESS)),))
        )
    cfg = EcpayConfig.from_settings(world.settings)
    fields = build_checkout_fields(
        merchant_id=cfg.merchant_id, hash_key=cfg.hash_key, hash_iv=cfg.hash_iv,
        merchant_trade_no=placed.merchant_trade_no, trade_date=datetime.now(UTC), total_amount=placed.amount_twd,
        item_names=["Telkomsel 10.000"], trade_desc="ESA", return_url="http://127.0.0.1:9/ecpay/return",
        order_result_url=None, client_back_url=None, payment_id=placed.payment_id, choose_payment="Credit",
        contains_game_product=False,
    )  # fmt: skip
    httpx.post(world.ecpay_url + "/Cashier/AioCheckOut/V5", data=fields).raise_for_status()
    return placed.payment_id, placed.merchant_trade_no, placed.amount_twd


def _pay_at_ecpay_without_notice(world, merchant_trade_no: str) -> None:
    trade = f"{world.ecpay_url}/_sandbox/trades/{merchant_trade_no}"
    httpx.post(trade + "/pay", params={"mode": "never"}).raise_for_status()


def test_a_day_with_injected_differences_shows_each_in_the_close_with_its_link(db, world):
    world.reset()
    catalog(db, _iak_cheapest())
    today = daily_close.business_day(datetime.now(UTC))
    start, _ = daily_close.day_bounds(today)
    adapters = build_adapters(world.settings)
    with Session(db) as s:
        iak_id = s.exec(select(Supplier.id).where(Supplier.code == "iak")).one()
    # the deposit as it stood when the day began (the last poll of yesterday)
    opening = httpx.get(world.sims["iak"] + "/_sandbox/ledger").json()["balance"]
    with UnitOfWork(db) as uow:
        deposits.record_balance(
            uow.session, iak_id, opening, source="poll", observed_at=start - timedelta(minutes=3)
        )
        uow.commit()

    # A plain order, paid at ECPay and here, delivered by IAK ...
    delivered_id, delivered_no, _ = _checkout(world, db, "k-delivered")
    _pay_at_ecpay_without_notice(world, delivered_no)
    pay(db, delivered_id)
    with Session(db) as s:
        item_id = s.exec(select(PaymentItem.id).where(PaymentItem.payment_id == delivered_id)).one()
    assert drain(world.context(db), db, item_id) == "SUCCESS"
    with Session(db) as s:
        attempt = s.exec(select(ItemAttempt).where(ItemAttempt.item_id == item_id)).one()
    assert attempt.supplier_id == iak_id and attempt.state == "SUCCESS"
    # ... then reversed by IAK (its signed FAILED callback reaches our API and is recorded as ignored)
    httpx.post(f"{world.sims['iak']}/_sandbox/reverse/{attempt.reference}").raise_for_status()
    # A delivered order refunded at ECPay directly (in ECPay's back office, say): nothing recorded here
    refunded_id, refunded_no, refunded_amount = _checkout(world, db, "k-refunded")
    _pay_at_ecpay_without_notice(world, refunded_no)
    pay(db, refunded_id)
    with Session(db) as s:
        refunded_item = s.exec(select(PaymentItem.id).where(PaymentItem.payment_id == refunded_id)).one()
    assert drain(world.context(db), db, refunded_item) == "SUCCESS"
    trade_no = httpx.get(f"{world.ecpay_url}/_sandbox/trades/{refunded_no}").json()["trade_no"]
    with EcpayConfig.from_settings(world.settings).client() as ecpay:
        assert ecpay.do_action(refunded_no, trade_no, "R", refunded_amount).ok
    # A second order paid at ECPay whose notification never reached us (still PENDING here)
    lost_id, lost_no, lost_amount = _checkout(world, db, "k-lost")
    _pay_at_ecpay_without_notice(world, lost_no)
    # A third order, opened and never paid: no difference
    _checkout(world, db, "k-unpaid")
    # And Rp 750.000 leaves IAK's deposit that no delivery explains
    balance = httpx.get(world.sims["iak"] + "/_sandbox/ledger").json()["balance"]
    httpx.post(
        world.sims["iak"] + "/_sandbox/deposit", params={"balance": balance - 750_000}
    ).raise_for_status()
    deposits.poll_balances(
        _uow(db), {"iak": adapters["iak"]}, deposits.policy_from(world.settings), world.api_url
    )
    _wait_for_reversal_callback(db, attempt.id)

    # When the day is closed
    ecpay_config = EcpayConfig.from_settings(world.settings)
    client = ecpay_config.client()
    check_code = ecpay_config.credit_check_code  # CreditDetail/QueryTrade/V2's CreditCheckCode
    result = daily_close.close_day(
        _uow(db), today, ecpay_client=client, adapters=adapters, public_url=world.api_url,
        credit_check_code=check_code,
    )  # fmt: skip

    # Then each injected difference is listed, about its order, and nothing else is
    found = {(d.kind, d.payment_id) for d in result.differences}
    assert found == {
        (daily_close.REVERSED, delivered_id),
        (daily_close.PAID_NOT_RECORDED, lost_id),
        (daily_close.REFUND_NOT_RECORDED, refunded_id),
        (daily_close.DEPOSIT_UNEXPLAINED, None),
    }, result.differences
    by_kind = {d.kind: d for d in result.differences}
    assert by_kind[daily_close.PAID_NOT_RECORDED].amount == lost_amount
    assert (
        by_kind[daily_close.DEPOSIT_UNEXPLAINED].amount == 750_000
    )  # the refunded order's delivery explains its part
    assert by_kind[daily_close.REFUND_NOT_RECORDED].amount == refunded_amount
    assert result.new == 4
    # each raised once as an alert whose link opens its order
    with Session(db) as s:
        alerts = s.exec(select(Alert).where(Alert.condition == daily_close.CLOSE_ALERT)).all()
        assert sorted((a.payment_id or 0) for a in alerts) == sorted([delivered_id, lost_id, refunded_id, 0])
        links = {a.payment_id: a.link for a in alerts}
        assert links[lost_id] == f"{world.api_url}/orders/{lost_id}"
        assert links[delivered_id] == f"{world.api_url}/orders/{delivered_id}"
        closed = s.exec(select(DailyClose).where(DailyClose.business_day == today)).one()
        assert closed.differences == 4
        assert closed.totals["ecpay_paid_count"] == 3 and closed.totals["esa_paid_count"] == 2
        assert (
            closed.totals["ecpay_refunded_twd"] == refunded_amount and closed.totals["esa_refunded_twd"] == 0
        )
        assert closed.totals["orders"] == 4
        # closed while the day runs: the hourly job still closes it once it is over
        assert daily_close.closed_after_end(s, today) is False

    # When the close runs again, nothing is added or alerted twice
    again = daily_close.close_day(
        _uow(db), today, ecpay_client=client, adapters=adapters, public_url=world.api_url
    )
    assert again.new == 0
    with Session(db) as s:
        assert len(s.exec(select(CloseDifference)).all()) == 4
        assert len(s.exec(select(Alert).where(Alert.condition == daily_close.CLOSE_ALERT)).all()) == 4

    # and the CSV export lists each difference with its order's link
    with Session(db) as s:
        rows = list(daily_close.difference_rows(s, today, today))
    assert rows[0][:5] == ["business_day", "kind", "what", "order", "order_link"]
    assert [r[4] for r in rows[1:] if r[1] == daily_close.PAID_NOT_RECORDED] == [f"/orders/{lost_id}"]

    # The watchdog raises the reversal from IAK's callback too, once
    policy = watchdogs.WatchPolicy(jobs={}, fx_max_age=timedelta(days=1), fx_warn_before=timedelta(hours=1))
    assert watchdogs.watch(_uow(db), policy, world.api_url)[watchdogs.SUPPLIER_REVERSAL] == 1
    assert watchdogs.watch(_uow(db), policy, world.api_url)[watchdogs.SUPPLIER_REVERSAL] == 0
    with Session(db) as s:
        (reversal,) = s.exec(select(Alert).where(Alert.condition == watchdogs.SUPPLIER_REVERSAL)).all()
        assert reversal.payment_id == delivered_id and attempt.reference in reversal.body


def _wait_for_reversal_callback(db, attempt_id: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with db.connect() as conn:
            seen = conn.exec_driver_sql(
                "SELECT 1 FROM supplier_exchanges WHERE attempt_id = %(a)s AND operation = 'callback' "
                "AND response_json->>'verdict' = 'ignored: attempt already SUCCESS'",
                {"a": attempt_id},
            ).first()
        if seen:
            return
        time.sleep(0.05)
    raise AssertionError("IAK's reversal callback never arrived")
