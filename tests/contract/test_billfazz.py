"""BillFazz adapter against the BillFazz simulator, over real HTTP (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from esa_domain.adapters.suppliers.base import (
    CallbackRequest,
    FailureClass,
    Outcome,
    PurchaseRequest,
    SupplierError,
)
from esa_domain.adapters.suppliers.billfazz.adapter import BillfazzAdapter, outcome_from_order
from esa_domain.adapters.suppliers.billfazz.codes import FAILURE_REASONS
from sandbox import billfazz as billfazz_sim
from sandbox._common import SimulatorConfig
from sandbox.behaviours import Behaviour, target_for

KEY, SECRET = billfazz_sim.DEFAULT_API_KEY, billfazz_sim.DEFAULT_API_SECRET
FAST = SimulatorConfig(slow_seconds=1.5, slow_answer_seconds=0.2, callback_delay=0.2)


class BillfazzWorld:
    def __init__(self, base_url: str, sink: Any) -> None:
        self.base_url = base_url
        self.sink = sink
        self.adapter = BillfazzAdapter(api_key=KEY, api_secret=SECRET, base_url=base_url, read_timeout_s=0.8)

    def request(
        self, behaviour: Behaviour = Behaviour.SUCCESS, sku: str = "TSEL10", **kw: Any
    ) -> PurchaseRequest:
        reference = f"ESA-B{time.time_ns()}"
        return PurchaseRequest(reference, sku, target_for(behaviour), callback_url=self.sink.url, **kw)

    def txns(self, reference: str) -> list[dict[str, Any]]:
        ledger = httpx.get(f"{self.base_url}/_sandbox/ledger").json()
        return [t for t in ledger["transactions"] if t["reference"] == reference]

    def callbacks_for(self, reference: str, count: int, timeout_s: float = 3.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [
                json.loads(r["body"])
                for r in self.sink.received
                if json.loads(r["body"])["refId"] == reference
            ]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


@pytest.fixture
def world(run_asgi: Callable[[Any], str], callback_sink: Any) -> BillfazzWorld:
    return BillfazzWorld(run_asgi(billfazz_sim.create_app(config=FAST)), callback_sink)


def test_success_carries_the_serial_and_status_agrees(world: BillfazzWorld) -> None:
    request = world.request()
    result = world.adapter.purchase(request).outcome
    assert result.outcome is Outcome.SUCCESS and result.artifact and result.price_idr == 10_550
    status = world.adapter.check_status(request).outcome
    assert status.outcome is Outcome.SUCCESS and status.artifact == result.artifact


def test_callback_is_only_a_trigger(world: BillfazzWorld) -> None:
    request = world.request()
    world.adapter.purchase(request)
    [body] = world.callbacks_for(request.reference, 1)
    parsed = world.adapter.parse_callback(CallbackRequest("POST", "/cb", {}, {}, json.dumps(body).encode()))
    assert parsed.authenticated and parsed.outcome is None and parsed.reference == request.reference


def test_resent_ref_id_is_unknown_and_does_not_deliver_twice(world: BillfazzWorld) -> None:
    request = world.request()
    world.adapter.purchase(request)
    again = world.adapter.purchase(request).outcome
    assert (again.outcome, again.supplier_code) == (Outcome.UNKNOWN, "400")
    assert len(world.txns(request.reference)) == 1


@pytest.mark.parametrize(
    ("behaviour", "failure_class"),
    [
        (Behaviour.CUSTOMER_FAILURE, FailureClass.CUSTOMER),
        (Behaviour.PRODUCT_FAILURE, FailureClass.PRODUCT),
        (Behaviour.CONFIG_FAILURE, FailureClass.CONFIG),
    ],
)
def test_definite_failures_are_failed_with_their_class_and_no_debit(
    world: BillfazzWorld, behaviour: Behaviour, failure_class: FailureClass
) -> None:
    before = world.adapter.balance().balance_idr
    result = world.adapter.purchase(world.request(behaviour)).outcome
    assert (result.outcome, result.failure_class) == (Outcome.FAILED, failure_class)
    assert world.adapter.balance().balance_idr == before


def test_unknown_or_troubled_product_is_a_product_failure(world: BillfazzWorld) -> None:
    for sku in ("NOPE", "TSEL5"):
        result = world.adapter.purchase(world.request(sku=sku)).outcome
        assert (result.outcome, result.failure_class) == (Outcome.FAILED, FailureClass.PRODUCT)


def test_wrong_secret_is_config_on_purchase_and_unknown_on_status(world: BillfazzWorld) -> None:
    wrong = BillfazzAdapter(api_key=KEY, api_secret="wrong", base_url=world.base_url)
    request = world.request()
    result = wrong.purchase(request).outcome
    assert (result.outcome, result.failure_class) == (Outcome.FAILED, FailureClass.CONFIG)
    assert wrong.check_status(request).outcome.outcome is Outcome.UNKNOWN
    with pytest.raises(SupplierError):
        wrong.balance()


@pytest.mark.parametrize(
    ("behaviour", "final"),
    [(Behaviour.PENDING_THEN_SUCCESS, Outcome.SUCCESS), (Behaviour.PENDING_THEN_FAILURE, Outcome.FAILED)],
)
def test_pending_then_final_by_callback_trigger(
    world: BillfazzWorld, behaviour: Behaviour, final: Outcome
) -> None:
    before = world.adapter.balance().balance_idr
    request = world.request(behaviour)
    assert world.adapter.purchase(request).outcome.outcome is Outcome.PENDING
    world.callbacks_for(request.reference, 1)
    assert world.adapter.check_status(request).outcome.outcome is final
    if final is Outcome.FAILED:
        assert world.adapter.balance().balance_idr == before


def test_timeout_that_succeeded_is_unknown_not_failed(world: BillfazzWorld) -> None:
    request = world.request(Behaviour.TIMEOUT_BUT_SUCCEEDS)
    result = world.adapter.purchase(request)
    assert result.outcome.outcome is Outcome.UNKNOWN and result.exchanges[0].error
    assert world.txns(request.reference)[0]["delivered"] is True
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_server_error_with_order_created_is_unknown(world: BillfazzWorld) -> None:
    request = world.request(Behaviour.SERVER_ERROR_CREATED)
    assert world.adapter.purchase(request).outcome.outcome is Outcome.UNKNOWN
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_no_callback_is_settled_by_polling_only(world: BillfazzWorld) -> None:
    request = world.request(Behaviour.NO_CALLBACK)
    world.adapter.purchase(request)
    time.sleep(0.5)
    assert world.callbacks_for(request.reference, 1, timeout_s=0.1) == []
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_duplicate_and_out_of_order_callbacks_are_sent(world: BillfazzWorld) -> None:
    dup, ooo = world.request(Behaviour.DUPLICATE_CALLBACK), world.request(Behaviour.OUT_OF_ORDER_CALLBACKS)
    world.adapter.purchase(dup)
    world.adapter.purchase(ooo)
    assert [c["status"] for c in world.callbacks_for(dup.reference, 2)] == ["success", "success"]
    assert [c["status"] for c in world.callbacks_for(ooo.reference, 2)] == ["success", "failed"]
    assert world.adapter.check_status(ooo).outcome.outcome is Outcome.SUCCESS


def test_slow_answer_within_timeout_is_answered(world: BillfazzWorld) -> None:
    result = world.adapter.purchase(world.request(Behaviour.SLOW))
    assert result.outcome.outcome is Outcome.SUCCESS and result.exchanges[0].latency_ms >= 200


def test_status_of_unknown_ref_id_is_unknown(world: BillfazzWorld) -> None:
    result = world.adapter.check_status(world.request()).outcome
    assert (result.outcome, result.supplier_code) == (Outcome.UNKNOWN, "not_found")


def test_forced_failure_is_reported(run_asgi: Callable[[Any], str], callback_sink: Any) -> None:
    world = BillfazzWorld(
        run_asgi(billfazz_sim.create_app(config=SimulatorConfig(callback_delay=30))), callback_sink
    )
    request = world.request(Behaviour.PENDING_THEN_SUCCESS)
    world.adapter.purchase(request)
    httpx.post(f"{world.base_url}/_sandbox/force/{request.reference}", params={"status": "failed"})
    assert world.adapter.check_status(request).outcome.outcome is Outcome.FAILED


def test_postpaid_inquiry_then_payment(world: BillfazzWorld) -> None:
    request = world.request(sku="PLNPASCA", postpaid=True)
    result = world.adapter.purchase(request)
    assert result.outcome.outcome is Outcome.SUCCESS and result.outcome.price_idr == 152_750
    assert [e.operation for e in result.exchanges] == ["inquiry", "purchase"]
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_postpaid_wrong_customer_and_price_change_fail_before_payment(world: BillfazzWorld) -> None:
    bad = world.adapter.purchase(world.request(Behaviour.CUSTOMER_FAILURE, sku="BPJSKS", postpaid=True))
    assert bad.outcome.failure_class is FailureClass.CUSTOMER and len(bad.exchanges) == 1
    changed = world.adapter.purchase(world.request(sku="BPJSKS", postpaid=True, expected_cost_idr=1))
    assert changed.outcome.failure_class is FailureClass.PRODUCT and len(changed.exchanges) == 1


def test_catalog_has_integer_idr_costs_and_availability(world: BillfazzWorld) -> None:
    by_sku = {e.sku: e for e in world.adapter.fetch_catalog().entries}
    assert by_sku["TSEL10"].cost_idr == 10_550 and by_sku["TSEL10"].available
    assert by_sku["TSEL5"].available is False and "PLNPASCA" in by_sku


def test_exchanges_never_carry_the_secret(world: BillfazzWorld) -> None:
    request = world.request()
    exchanges = world.adapter.purchase(request).exchanges + world.adapter.check_status(request).exchanges
    assert SECRET not in repr(exchanges) + repr(world.adapter)


@pytest.mark.parametrize("reason", sorted(FAILURE_REASONS))
def test_every_assumed_failure_reason_has_its_class(reason: str) -> None:
    result = outcome_from_order({"status": "failed", "failureReason": reason})
    assert (result.outcome, result.failure_class) == (Outcome.FAILED, FAILURE_REASONS[reason])


def test_unknown_status_or_reason_is_unknown() -> None:
    assert outcome_from_order({"status": "failed", "failureReason": "MYSTERY"}).outcome is Outcome.UNKNOWN
    assert outcome_from_order({"status": "weird"}).outcome is Outcome.UNKNOWN
