"""IAK adapter against the IAK simulator, over real HTTP (uvicorn on 127.0.0.1)."""

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
from esa_domain.adapters.suppliers.iak.adapter import IakAdapter, iak_sign, outcome_from_data
from esa_domain.adapters.suppliers.iak.codes import POSTPAID_RC_OUTCOMES, RC_OUTCOMES
from sandbox import iak as iak_sim
from sandbox._common import SimulatorConfig
from sandbox.behaviours import Behaviour, target_for

USERNAME, API_KEY = iak_sim.DEFAULT_USERNAME, iak_sim.DEFAULT_API_KEY
FAST = SimulatorConfig(slow_seconds=1.5, slow_answer_seconds=0.2, callback_delay=0.2)


class IakWorld:
    """A running simulator, an adapter pointed at it and the sink receiving its callbacks."""

    def __init__(self, base_url: str, sink: Any) -> None:
        self.base_url = base_url
        self.sink = sink
        self.adapter = IakAdapter(
            username=USERNAME,
            api_key=API_KEY,
            prepaid_url=base_url,
            postpaid_url=base_url,
            read_timeout_s=0.8,
        )
        self._n = 0

    def request(
        self, behaviour: Behaviour = Behaviour.SUCCESS, sku: str = "htelkomsel10000"
    ) -> PurchaseRequest:
        self._n += 1
        return PurchaseRequest(
            reference=f"ESA-T{time.time_ns()}-{self._n}", sku=sku, target=target_for(behaviour)
        )

    def ledger(self) -> dict[str, Any]:
        return httpx.get(f"{self.base_url}/_sandbox/ledger").json()

    def txn(self, reference: str) -> dict[str, Any]:
        return next(t for t in self.ledger()["transactions"] if t["reference"] == reference)

    def callbacks_for(self, reference: str, count: int, timeout_s: float = 3.0) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [
                self.adapter.parse_callback(
                    CallbackRequest("POST", "/callbacks/iak", r["headers"], {}, r["body"], "127.0.0.1")
                )
                for r in self.sink.received
                if json.loads(r["body"])["data"]["ref_id"] == reference
            ]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


@pytest.fixture
def world(run_asgi: Callable[[Any], str], callback_sink: Any) -> IakWorld:
    app = iak_sim.create_app(callback_url=callback_sink.url, config=FAST)
    return IakWorld(run_asgi(app), callback_sink)


def test_top_up_answers_process_then_success_by_callback_and_status(world: IakWorld) -> None:
    request = world.request()
    first = world.adapter.purchase(request)
    assert first.outcome.outcome is Outcome.PENDING and first.outcome.supplier_code == "39"
    [callback] = world.callbacks_for(request.reference, 1)
    assert callback.authenticated and callback.outcome.outcome is Outcome.SUCCESS
    assert callback.outcome.artifact and callback.price_idr == 10_450
    assert "sign" in callback.redacted["data"] and callback.redacted["data"]["sign"] == "***"
    status = world.adapter.check_status(request)
    assert status.outcome.outcome is Outcome.SUCCESS and status.outcome.artifact == callback.outcome.artifact
    assert world.txn(request.reference)["delivered"] is True


def test_resent_ref_id_is_a_status_check_and_delivers_once(world: IakWorld) -> None:
    request = world.request()
    before = world.adapter.balance().balance_idr
    world.adapter.purchase(request)
    again = world.adapter.purchase(request)
    assert again.outcome.outcome is Outcome.SUCCESS
    txns = [t for t in world.ledger()["transactions"] if t["reference"] == request.reference]
    assert len(txns) == 1 and txns[0]["delivered"]
    assert world.adapter.balance().balance_idr == before - 10_450


@pytest.mark.parametrize(
    ("behaviour", "failure_class", "rc"),
    [
        (Behaviour.CUSTOMER_FAILURE, FailureClass.CUSTOMER, "14"),
        (Behaviour.PRODUCT_FAILURE, FailureClass.PRODUCT, "106"),
        (Behaviour.CONFIG_FAILURE, FailureClass.CONFIG, "17"),
    ],
)
def test_definite_failures_are_failed_with_their_class_and_no_debit(
    world: IakWorld, behaviour: Behaviour, failure_class: FailureClass, rc: str
) -> None:
    before = world.adapter.balance().balance_idr
    result = world.adapter.purchase(world.request(behaviour))
    assert result.outcome.outcome is Outcome.FAILED
    assert result.outcome.failure_class is failure_class and result.outcome.supplier_code == rc
    assert world.adapter.balance().balance_idr == before


def test_unknown_product_code_is_a_product_failure(world: IakWorld) -> None:
    result = world.adapter.purchase(world.request(sku="hnosuchproduct"))
    assert (result.outcome.outcome, result.outcome.failure_class) == (Outcome.FAILED, FailureClass.PRODUCT)


def test_inactive_product_is_a_product_failure(world: IakWorld) -> None:
    result = world.adapter.purchase(world.request(sku="htelkomsel5000"))
    assert result.outcome.failure_class is FailureClass.PRODUCT and result.outcome.supplier_code == "106"


def test_wrong_api_key_is_a_config_failure_and_balance_refuses(world: IakWorld) -> None:
    wrong = IakAdapter(username=USERNAME, api_key="not-the-key", prepaid_url=world.base_url)
    result = wrong.purchase(world.request())
    assert (result.outcome.outcome, result.outcome.failure_class) == (Outcome.FAILED, FailureClass.CONFIG)
    assert result.outcome.supplier_code == "204"
    with pytest.raises(SupplierError):
        wrong.balance()
    assert world.ledger()["transactions"] == []


def test_pending_then_success_arrives_by_callback(world: IakWorld) -> None:
    request = world.request(Behaviour.PENDING_THEN_SUCCESS)
    assert world.adapter.purchase(request).outcome.outcome is Outcome.PENDING
    assert world.adapter.check_status(request).outcome.outcome is Outcome.PENDING
    [callback] = world.callbacks_for(request.reference, 1)
    assert callback.outcome.outcome is Outcome.SUCCESS
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_pending_then_failure_is_refunded_and_fails_by_callback(world: IakWorld) -> None:
    before = world.adapter.balance().balance_idr
    request = world.request(Behaviour.PENDING_THEN_FAILURE)
    world.adapter.purchase(request)
    [callback] = world.callbacks_for(request.reference, 1)
    assert (callback.outcome.outcome, callback.outcome.failure_class) == (
        Outcome.FAILED,
        FailureClass.CUSTOMER,
    )
    assert world.adapter.check_status(request).outcome.outcome is Outcome.FAILED
    assert world.adapter.balance().balance_idr == before
    assert world.txn(request.reference)["delivered"] is False


def test_timeout_that_succeeded_is_unknown_not_failed(world: IakWorld) -> None:
    request = world.request(Behaviour.TIMEOUT_BUT_SUCCEEDS)
    result = world.adapter.purchase(request)
    assert result.outcome.outcome is Outcome.UNKNOWN
    assert result.exchanges[0].error and result.exchanges[0].http_status is None
    assert world.txn(request.reference)["delivered"] is True
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_server_error_with_transaction_created_is_unknown(world: IakWorld) -> None:
    request = world.request(Behaviour.SERVER_ERROR_CREATED)
    result = world.adapter.purchase(request)
    assert result.outcome.outcome is Outcome.UNKNOWN and result.exchanges[0].http_status == 500
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_no_callback_is_settled_by_polling_only(world: IakWorld) -> None:
    request = world.request(Behaviour.NO_CALLBACK)
    world.adapter.purchase(request)
    time.sleep(0.5)
    assert world.callbacks_for(request.reference, 1, timeout_s=0.2) == []
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_duplicate_callback_is_sent_twice_for_one_delivery(world: IakWorld) -> None:
    request = world.request(Behaviour.DUPLICATE_CALLBACK)
    world.adapter.purchase(request)
    callbacks = world.callbacks_for(request.reference, 2)
    assert [c.outcome.outcome for c in callbacks] == [Outcome.SUCCESS, Outcome.SUCCESS]
    assert world.txn(request.reference)["delivered"] is True


def test_out_of_order_callbacks_send_a_stale_failure_after_success(world: IakWorld) -> None:
    request = world.request(Behaviour.OUT_OF_ORDER_CALLBACKS)
    world.adapter.purchase(request)
    callbacks = world.callbacks_for(request.reference, 2)
    assert [c.outcome.outcome for c in callbacks] == [Outcome.SUCCESS, Outcome.FAILED]
    assert world.adapter.check_status(request).outcome.outcome is Outcome.SUCCESS


def test_slow_answer_within_timeout_is_answered(world: IakWorld) -> None:
    request = world.request(Behaviour.SLOW)
    result = world.adapter.purchase(request)
    assert result.outcome.outcome is Outcome.PENDING and result.exchanges[0].latency_ms >= 200


def test_status_of_a_reference_iak_never_saw_is_unknown_not_failed(world: IakWorld) -> None:
    result = world.adapter.check_status(world.request())
    assert result.outcome.outcome is Outcome.UNKNOWN and result.outcome.supplier_code == "06"


def test_forged_callback_sign_is_not_authenticated(world: IakWorld) -> None:
    body = {"data": {"ref_id": "ESA-1", "status": "1", "rc": "00", "sn": "X", "price": "1", "sign": "0" * 32}}
    result = world.adapter.parse_callback(CallbackRequest("POST", "/cb", {}, {}, json.dumps(body).encode()))
    assert result.authenticated is False and result.outcome is None
    garbage = world.adapter.parse_callback(CallbackRequest("POST", "/cb", {}, {}, b"not json"))
    assert garbage.authenticated is False


def test_forced_final_state_is_reported(run_asgi: Callable[[Any], str], callback_sink: Any) -> None:
    config = SimulatorConfig(callback_delay=30)
    world = IakWorld(
        run_asgi(iak_sim.create_app(callback_url=callback_sink.url, config=config)), callback_sink
    )
    request = world.request(Behaviour.PENDING_THEN_SUCCESS)
    world.adapter.purchase(request)
    httpx.post(f"{world.base_url}/_sandbox/force/{request.reference}", params={"status": "failed"})
    assert world.adapter.check_status(request).outcome.outcome is Outcome.FAILED
    [callback] = world.callbacks_for(request.reference, 1)
    assert callback.outcome.outcome is Outcome.FAILED


def test_catalog_has_integer_idr_costs_and_availability(world: IakWorld) -> None:
    catalog = world.adapter.fetch_catalog()
    by_sku = {e.sku: e for e in catalog.entries}
    assert by_sku["htelkomsel10000"].cost_idr == 10_450 and by_sku["htelkomsel10000"].available
    assert by_sku["htelkomsel5000"].available is False
    assert all(isinstance(e.cost_idr, int) for e in catalog.entries)


def test_exchanges_never_carry_the_sign_or_the_key(world: IakWorld) -> None:
    request = world.request()
    exchanges = world.adapter.purchase(request).exchanges + world.adapter.check_status(request).exchanges
    text = repr(exchanges) + repr(world.adapter)
    assert API_KEY not in text and iak_sign(USERNAME, API_KEY, request.reference) not in text


@pytest.mark.parametrize(
    ("hp", "outcome", "failure_class"),
    [
        ("530000000001", Outcome.SUCCESS, None),
        ("530000000003", Outcome.UNKNOWN, None),
        ("530000000004", Outcome.FAILED, FailureClass.CUSTOMER),
        ("530000000005", Outcome.FAILED, FailureClass.CUSTOMER),
        ("530000000006", Outcome.FAILED, FailureClass.PRODUCT),
        ("530000000007", Outcome.PENDING, None),
        ("530000000008", Outcome.UNKNOWN, None),
    ],
)
def test_postpaid_magic_numbers_map_to_outcomes(
    world: IakWorld, hp: str, outcome: Outcome, failure_class: FailureClass | None
) -> None:
    request = PurchaseRequest(
        reference=f"ESA-PP{time.time_ns()}", sku="PLNPOSTPAID", target=hp, postpaid=True
    )
    result = world.adapter.purchase(request)
    assert (result.outcome.outcome, result.outcome.failure_class) == (outcome, failure_class)


def test_postpaid_pending_payment_settles_by_status_check(world: IakWorld) -> None:
    request = PurchaseRequest("ESA-PP-PEND", "PLNPOSTPAID", "530000000007", postpaid=True)
    assert world.adapter.purchase(request).outcome.outcome is Outcome.PENDING
    assert world.adapter.check_status(request).outcome.outcome is Outcome.PENDING
    time.sleep(0.4)
    done = world.adapter.check_status(request).outcome
    assert done.outcome is Outcome.SUCCESS and done.artifact


def test_postpaid_price_change_stops_before_payment_and_status_says_never_paid(world: IakWorld) -> None:
    request = PurchaseRequest("ESA-PP-PRICE", "BPJS", "530000000001", expected_cost_idr=1, postpaid=True)
    result = world.adapter.purchase(request)
    assert (result.outcome.outcome, result.outcome.failure_class) == (Outcome.FAILED, FailureClass.PRODUCT)
    assert len(result.exchanges) == 1  # no payment was sent
    status = world.adapter.check_status(request).outcome
    assert (status.outcome, status.supplier_code) == (Outcome.FAILED, "42")


@pytest.mark.parametrize("rc", sorted(RC_OUTCOMES))
def test_every_prepaid_rc_maps_as_the_spec_table_says(rc: str) -> None:
    outcome, failure_class = RC_OUTCOMES[rc]
    result = outcome_from_data({"rc": rc, "status": 1 if rc == "00" else 2}, RC_OUTCOMES)
    assert (result.outcome, result.failure_class) == (outcome, failure_class)


def test_spec_codes_have_the_spec_classes() -> None:
    expected = {
        "00": Outcome.SUCCESS, "39": Outcome.PENDING, "201": Outcome.UNKNOWN, "06": Outcome.UNKNOWN,
        "05": Outcome.UNKNOWN, "103": Outcome.UNKNOWN,
    }  # fmt: skip
    for rc, outcome in expected.items():
        assert POSTPAID_RC_OUTCOMES[rc][0] is outcome
    classes = {"07": "product", "106": "product", "110": "product", "10": "product", "121": "product",
               "202": "product", "207": "product", "20": "product", "13": "customer", "14": "customer",
               "16": "customer", "203": "customer", "206": "customer", "131": "customer", "141": "customer",
               "142": "customer", "17": "config", "102": "config", "118": "config", "204": "config",
    }  # fmt: skip
    for rc, cls in classes.items():
        assert RC_OUTCOMES[rc] == (Outcome.FAILED, FailureClass(cls))


def test_unknown_or_missing_rc_is_unknown() -> None:
    assert outcome_from_data({"rc": "999", "status": 2}, RC_OUTCOMES).outcome is Outcome.UNKNOWN
    assert outcome_from_data({"status": 1}, RC_OUTCOMES).outcome is Outcome.UNKNOWN


def test_status_check_refused_for_bad_sign_is_unknown_not_failed(world: IakWorld) -> None:
    request = world.request()
    world.adapter.purchase(request)
    wrong = IakAdapter(username=USERNAME, api_key="not-the-key", prepaid_url=world.base_url)
    result = wrong.check_status(request).outcome
    assert (result.outcome, result.supplier_code) == (Outcome.UNKNOWN, "204")
