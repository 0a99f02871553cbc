"""Lapak Gaming adapter against the Lapak Gaming simulator, over real HTTP (uvicorn on 127.0.0.1)."""

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
from esa_domain.adapters.suppliers.lapakgaming.adapter import LapakGamingAdapter
from esa_domain.adapters.suppliers.lapakgaming.codes import CODE_OUTCOMES
from sandbox import lapakgaming as lapak_sim
from sandbox._common import SimulatorConfig
from sandbox.behaviours import Behaviour, target_for

KEY = lapak_sim.DEFAULT_SECRET_KEY
FAST = SimulatorConfig(slow_seconds=1.5, slow_answer_seconds=0.2, callback_delay=0.2)


class LapakWorld:
    def __init__(self, base_url: str, sink: Any) -> None:
        self.base_url = base_url
        self.sink = sink
        self.adapter = LapakGamingAdapter(secret_key=KEY, base_url=base_url, read_timeout_s=0.8)

    def request(
        self, behaviour: Behaviour = Behaviour.SUCCESS, sku: str = "ML78_8-S2", **kw: Any
    ) -> PurchaseRequest:
        reference = f"ESA-L{time.time_ns()}"
        target = target_for(behaviour, "1234")
        return PurchaseRequest(reference, sku, target, zone="2001", callback_url=self.sink.url, **kw)

    def txn(self, reference: str) -> dict[str, Any]:
        ledger = httpx.get(f"{self.base_url}/_sandbox/ledger").json()
        return next(t for t in ledger["transactions"] if t["reference"] == reference)

    def callbacks_for(self, reference: str, count: int, timeout_s: float = 3.0) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [
                self.adapter.parse_callback(
                    CallbackRequest("POST", "/callbacks/lapakgaming", {}, {}, r["body"])
                )
                for r in self.sink.received
                if json.loads(r["body"])["data"]["reference_id"] == reference
            ]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def statuses_of_callbacks(self, reference: str) -> list[str]:
        return [json.loads(r["body"])["data"]["status"] for r in self.sink.received
                if json.loads(r["body"])["data"]["reference_id"] == reference]  # fmt: skip


@pytest.fixture
def world(run_asgi: Callable[[Any], str], callback_sink: Any) -> LapakWorld:
    return LapakWorld(run_asgi(lapak_sim.create_app(config=FAST)), callback_sink)


def test_order_is_pending_then_status_is_success(world: LapakWorld) -> None:
    request = world.request()
    first = world.adapter.purchase(request).outcome
    assert first.outcome is Outcome.PENDING and first.price_idr == 20_900 and first.supplier_txn_id
    [callback] = world.callbacks_for(request.reference, 1)
    assert callback.authenticated and callback.outcome is None and callback.reference == request.reference
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_voucher_code_is_delivered_but_never_the_artifact_nor_stored_in_an_exchange(
    world: LapakWorld,
) -> None:
    request = world.request(sku="VCGS330-S22")
    world.adapter.purchase(request)
    result = world.adapter.check_status(request)
    status = result.outcome
    assert status.outcome is Outcome.SUCCESS
    assert status.delivery is not None and status.delivery.voucher_code
    assert "VOUCHER" in status.delivery.voucher_code
    assert status.artifact == status.delivery.serial and "VOUCHER" not in (status.artifact or "")
    assert status.delivery.voucher_code not in json.dumps([x.response for x in result.exchanges])


def test_same_partner_reference_id_never_orders_twice(world: LapakWorld) -> None:
    request = world.request()
    before = world.adapter.balance().balance_idr
    first = world.adapter.purchase(request).outcome
    again = world.adapter.purchase(request).outcome
    assert again.outcome is Outcome.PENDING and again.supplier_txn_id == first.supplier_txn_id
    assert world.adapter.balance().balance_idr == before - 20_900
    assert world.txn(request.reference)["delivered"] is True


@pytest.mark.parametrize(
    ("behaviour", "sku", "failure_class", "code"),
    [
        (Behaviour.CUSTOMER_FAILURE, "ML78_8-S2", FailureClass.CUSTOMER, "USER_ID_EMPTY"),
        (Behaviour.PRODUCT_FAILURE, "ML78_8-S2", FailureClass.PRODUCT, "STOCK_NOT_FOUND"),
        (Behaviour.CONFIG_FAILURE, "ML78_8-S2", FailureClass.CONFIG, "NOT_ALLOWED"),
        (Behaviour.SUCCESS, "ML156_16-S42", FailureClass.PRODUCT, "PRODUCT_EMPTY"),
        (Behaviour.SUCCESS, "ML625_81-S2", FailureClass.PRODUCT, "PROVIDER_INACTIVE"),
        (Behaviour.SUCCESS, "ML7740_1548-S42", FailureClass.CONFIG, "INSUFFICIENT_BALANCE"),
        (Behaviour.SUCCESS, "NOPE-S1", FailureClass.PRODUCT, "PRODUCT_NOT_FOUND"),
    ],
)
def test_definite_failures_are_failed_with_their_class(
    world: LapakWorld, behaviour: Behaviour, sku: str, failure_class: FailureClass, code: str
) -> None:
    result = world.adapter.purchase(world.request(behaviour, sku)).outcome
    assert (result.outcome, result.failure_class, result.supplier_code) == (
        Outcome.FAILED,
        failure_class,
        code,
    )


def test_changed_price_is_refused_as_a_product_failure(world: LapakWorld) -> None:
    result = world.adapter.purchase(world.request(expected_cost_idr=19_000)).outcome
    assert (result.failure_class, result.supplier_code) == (FailureClass.PRODUCT, "PRICE_NOT_MATCH")


def test_user_id_with_space_is_a_customer_failure(world: LapakWorld) -> None:
    request = PurchaseRequest(reference="ESA-L-SPACE", sku="ML78_8-S2", target="12 34")
    assert world.adapter.purchase(request).outcome.failure_class is FailureClass.CUSTOMER


def test_wrong_key_is_config_on_order_but_unknown_on_status(world: LapakWorld) -> None:
    wrong = LapakGamingAdapter(secret_key="wrong", base_url=world.base_url)
    request = world.request()
    result = wrong.purchase(request).outcome
    assert (result.outcome, result.failure_class, result.supplier_code) == (
        Outcome.FAILED, FailureClass.CONFIG, "UNAUTHORIZED")  # fmt: skip
    assert wrong.check_status(request).outcome.outcome is Outcome.UNKNOWN
    with pytest.raises(SupplierError):
        wrong.balance()


def test_pending_then_success_by_callback_trigger(world: LapakWorld) -> None:
    request = world.request(Behaviour.PENDING_THEN_SUCCESS)
    world.adapter.purchase(request)
    assert world.adapter.check_status(request).outcome.outcome is Outcome.PENDING
    assert len(world.callbacks_for(request.reference, 1)) == 1
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_documented_slow_product_is_pending_then_success(world: LapakWorld) -> None:
    request = world.request(sku="ML4649_883-S42")
    world.adapter.purchase(request)
    assert world.adapter.check_status(request).outcome.outcome is Outcome.PENDING
    world.callbacks_for(request.reference, 1)
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_pending_then_refunded_is_failed_and_balance_restored(world: LapakWorld) -> None:
    before = world.adapter.balance().balance_idr
    request = world.request(Behaviour.PENDING_THEN_FAILURE)
    world.adapter.purchase(request)
    world.callbacks_for(request.reference, 1)
    status = world.adapter.check_status(request).outcome
    assert (status.outcome, status.supplier_code) == (Outcome.FAILED, "REFUNDED")
    assert world.adapter.balance().balance_idr == before


def test_timeout_that_succeeded_is_unknown_not_failed(world: LapakWorld) -> None:
    request = world.request(Behaviour.TIMEOUT_BUT_SUCCEEDS)
    result = world.adapter.purchase(request)
    assert result.outcome.outcome is Outcome.UNKNOWN and result.exchanges[0].error
    assert world.txn(request.reference)["delivered"] is True
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS
    # resending with the same partner_reference_id does not buy again
    assert world.adapter.purchase(request).outcome.outcome is Outcome.PENDING
    assert [t["reference"] for t in [world.txn(request.reference)]] == [request.reference]


def test_server_error_with_order_created_is_unknown(world: LapakWorld) -> None:
    request = world.request(Behaviour.SERVER_ERROR_CREATED)
    result = world.adapter.purchase(request).outcome
    assert (result.outcome, result.supplier_code) == (Outcome.UNKNOWN, "SYSTEM_ERROR")
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_no_callback_is_settled_by_polling_only(world: LapakWorld) -> None:
    request = world.request(Behaviour.NO_CALLBACK)
    world.adapter.purchase(request)
    time.sleep(0.5)
    assert world.callbacks_for(request.reference, 1, timeout_s=0.1) == []
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_duplicate_and_out_of_order_callbacks_are_sent(world: LapakWorld) -> None:
    dup, ooo = world.request(Behaviour.DUPLICATE_CALLBACK), world.request(Behaviour.OUT_OF_ORDER_CALLBACKS)
    world.adapter.purchase(dup)
    world.adapter.purchase(ooo)
    assert len(world.callbacks_for(dup.reference, 2)) == 2
    world.callbacks_for(ooo.reference, 2)
    assert world.statuses_of_callbacks(ooo.reference) == ["SUCCESS", "REFUNDED"]
    assert world.adapter.check_status(ooo).outcome.outcome is Outcome.SUCCESS


def test_slow_answer_within_timeout_is_answered(world: LapakWorld) -> None:
    result = world.adapter.purchase(world.request(Behaviour.SLOW))
    assert result.outcome.outcome is Outcome.PENDING and result.exchanges[0].latency_ms >= 200


def test_status_of_unknown_order_is_unknown(world: LapakWorld) -> None:
    assert world.adapter.check_status(world.request()).outcome.outcome is Outcome.UNKNOWN


def test_forced_failure_is_reported(run_asgi: Callable[[Any], str], callback_sink: Any) -> None:
    world = LapakWorld(
        run_asgi(lapak_sim.create_app(config=SimulatorConfig(callback_delay=30))), callback_sink
    )
    request = world.request(Behaviour.PENDING_THEN_SUCCESS)
    world.adapter.purchase(request)
    httpx.post(f"{world.base_url}/_sandbox/force/{request.reference}", params={"status": "failed"})
    assert world.adapter.check_status(request).outcome.outcome is Outcome.FAILED


def test_catalog_has_integer_idr_costs_and_availability(world: LapakWorld) -> None:
    by_sku = {e.sku: e for e in world.adapter.fetch_catalog().entries}
    assert by_sku["ML78_8-S2"].cost_idr == 20_900 and by_sku["ML78_8-S2"].available
    assert by_sku["ML156_16-S42"].available is False


def test_exchanges_never_carry_the_key(world: LapakWorld) -> None:
    request = world.request()
    exchanges = world.adapter.purchase(request).exchanges + world.adapter.check_status(request).exchanges
    assert KEY not in repr(exchanges) + repr(world.adapter)


def test_unsigned_callback_without_reference_is_rejected(world: LapakWorld) -> None:
    result = world.adapter.parse_callback(CallbackRequest("POST", "/cb", {}, {}, b"{}"))
    assert result.authenticated is False


@pytest.mark.parametrize("code", sorted(CODE_OUTCOMES))
def test_every_documented_code_maps_over_http(run_asgi: Callable[[Any], str], code: str) -> None:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def answer(_: Any) -> JSONResponse:
        return JSONResponse({"code": code, "data": None}, 400)

    base = run_asgi(Starlette(routes=[Route("/api/order", answer, methods=["POST"])]))
    result = LapakGamingAdapter(secret_key=KEY, base_url=base).purchase(
        PurchaseRequest("R1", "ML78_8-S2", "1234")).outcome  # fmt: skip
    assert (result.outcome, result.failure_class) == CODE_OUTCOMES[code]
