"""The Redision adapter against its simulator over real HTTP (uvicorn on 127.0.0.1): every behaviour,
every mapped code, token handling, redaction and forged callbacks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from esa_domain.adapters.suppliers.base import CallbackRequest, FailureClass, Outcome, PurchaseRequest
from esa_domain.adapters.suppliers.redision.adapter import WIB, RedisionAdapter, RedisionConfig
from sandbox import redision as sim
from sandbox._common import SimulatorConfig
from sandbox.behaviours import Behaviour, target_for
from tests.contract.conftest import CallbackSink

CLIENT_ID, SECRET, PARTNER = "esa-test", "test-secret-123", "ESA"
FAST = SimulatorConfig(slow_seconds=1.0, slow_answer_seconds=0.3, callback_delay=0.15, callback_timeout=1.0)
READ_TIMEOUT = 0.6


class Harness:
    """A running simulator, an adapter pointed at it and the sink its callbacks reach."""

    def __init__(self, base: str, adapter: RedisionAdapter, sink: CallbackSink) -> None:
        self.base, self.adapter, self.sink = base, adapter, sink
        self._n = 0

    def request(
        self, behaviour: Behaviour = Behaviour.SUCCESS, sku: str = "PLN20", **kw: Any
    ) -> PurchaseRequest:
        self._n += 1
        return PurchaseRequest(
            reference=f"ESA-RDS-{time.time_ns()}-{self._n}",
            sku=sku,
            target=target_for(behaviour),
            callback_url=self.sink.url + "/redision",
            **kw,
        )

    def ledger(self) -> dict[str, Any]:
        return httpx.get(self.base + "/_sandbox/ledger").json()

    def txn(self, reference: str) -> dict[str, Any]:
        return next(t for t in self.ledger()["transactions"] if t["reference"] == reference)

    def callbacks_for(self, reference: str, count: int, timeout_s: float = 3.0) -> list[CallbackRequest]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [_as_callback(r) for r in self.sink.received if reference.encode() in r["body"]]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


def _as_callback(record: dict[str, Any]) -> CallbackRequest:
    return CallbackRequest("POST", record["path"], record["headers"], {}, record["body"], "127.0.0.1")


def _adapter(base: str, secret: str = SECRET, **kw: Any) -> RedisionAdapter:
    config = RedisionConfig(
        base, CLIENT_ID, secret, PARTNER, connect_timeout_s=0.5, read_timeout_s=READ_TIMEOUT, **kw
    )
    return RedisionAdapter(config)


@pytest.fixture
def start(run_asgi: Callable[[Any], str], callback_sink: CallbackSink) -> Callable[..., Harness]:
    def _start(sim_config: SimulatorConfig = FAST, token_ttl_s: int = 900, **adapter_kw: Any) -> Harness:
        app = sim.create_app(CLIENT_ID, SECRET, PARTNER, config=sim_config, token_ttl_s=token_ttl_s)
        base = run_asgi(app)
        return Harness(base, _adapter(base, **adapter_kw), callback_sink)

    return _start


@pytest.fixture
def h(start: Callable[..., Harness]) -> Harness:
    return start()


# ---- behaviours -----------------------------------------------------------------------------------------


def test_success_delivers_token_debits_balance_and_signs_its_callback(h: Harness) -> None:
    opening = h.ledger()["balance"]
    req = h.request(expected_cost_idr=20_250)
    result = h.adapter.purchase(req)
    assert result.outcome.outcome is Outcome.SUCCESS
    # PLN token/name/segment/power/kwh, split: the token is what lists show, the meter's facts beside it
    delivery = result.outcome.delivery
    assert delivery is not None and delivery.token and delivery.token.replace("-", "").isdigit()
    assert result.outcome.artifact == delivery.token
    assert (delivery.customer_name, delivery.tariff) == ("SANDBOX PELANGGAN", "R1/1300VA") and delivery.kwh
    assert result.outcome.price_idr == 20_250 and result.outcome.supplier_code == "2003800"
    assert h.ledger()["balance"] == opening - 20_250
    expected = {"sku": "PLN20", "status": "success", "cost": 20_250, "delivered": True}
    assert expected.items() <= h.txn(req.reference).items()
    (callback,) = h.callbacks_for(req.reference, 1)
    parsed = h.adapter.parse_callback(callback)
    assert parsed.authenticated and parsed.reference == req.reference
    assert parsed.outcome and parsed.outcome.outcome is Outcome.SUCCESS and parsed.reply_status == 200


@pytest.mark.parametrize(
    ("behaviour", "failure_class", "code"),
    [
        (Behaviour.CUSTOMER_FAILURE, FailureClass.CUSTOMER, "4043811"),
        (Behaviour.PRODUCT_FAILURE, FailureClass.PRODUCT, "4033806"),
        (Behaviour.CONFIG_FAILURE, FailureClass.CONFIG, "4033814"),
    ],
)
def test_definite_failure_is_classified_and_nothing_is_debited(
    h: Harness, behaviour: Behaviour, failure_class: FailureClass, code: str
) -> None:
    opening = h.ledger()["balance"]
    req = h.request(behaviour)
    outcome = h.adapter.purchase(req).outcome
    assert (outcome.outcome, outcome.failure_class, outcome.supplier_code) == (
        Outcome.FAILED,
        failure_class,
        code,
    )
    assert h.ledger()["balance"] == opening
    status = h.adapter.check_status(req).outcome
    assert (status.outcome, status.failure_class) == (Outcome.FAILED, failure_class)


def test_pending_then_success_arrives_by_signed_callback(h: Harness) -> None:
    req = h.request(Behaviour.PENDING_THEN_SUCCESS, sku="TSEL-DATA-5GB")
    first = h.adapter.purchase(req).outcome
    assert (first.outcome, first.supplier_code) == (Outcome.PENDING, "2023800")
    (callback,) = h.callbacks_for(req.reference, 1)
    parsed = h.adapter.parse_callback(callback)
    assert parsed.authenticated and parsed.outcome and parsed.outcome.outcome is Outcome.SUCCESS
    assert parsed.outcome.artifact and parsed.price_idr == 51_500
    assert h.adapter.check_status(req).outcome.outcome is Outcome.SUCCESS


def test_pending_then_failure_refunds_and_calls_back_failed(h: Harness) -> None:
    opening = h.ledger()["balance"]
    req = h.request(Behaviour.PENDING_THEN_FAILURE)
    assert h.adapter.purchase(req).outcome.outcome is Outcome.PENDING
    assert h.ledger()["balance"] == opening - 20_250
    (callback,) = h.callbacks_for(req.reference, 1)
    parsed = h.adapter.parse_callback(callback)
    assert parsed.outcome and parsed.outcome.outcome is Outcome.FAILED
    assert parsed.outcome.failure_class is FailureClass.PRODUCT
    assert h.ledger()["balance"] == opening
    assert h.txn(req.reference)["delivered"] is False


def test_timeout_that_succeeded_is_unknown_not_failed_and_resend_never_delivers_twice(h: Harness) -> None:
    req = h.request(Behaviour.TIMEOUT_BUT_SUCCEEDS)
    result = h.adapter.purchase(req)
    assert result.outcome.outcome is Outcome.UNKNOWN
    assert result.exchanges[-1].error and "Timeout" in result.exchanges[-1].error
    status = h.adapter.check_status(req).outcome
    assert status.outcome is Outcome.SUCCESS and status.artifact
    again = h.adapter.purchase(req).outcome
    assert (again.outcome, again.supplier_code) == (Outcome.UNKNOWN, "4093800")
    delivered = [t for t in h.ledger()["transactions"] if t["reference"] == req.reference and t["delivered"]]
    assert len(delivered) == 1


def test_server_error_with_transaction_created_is_unknown_then_status_finds_it(h: Harness) -> None:
    req = h.request(Behaviour.SERVER_ERROR_CREATED)
    result = h.adapter.purchase(req)
    # SNAP 500xx01 "internal server error": the order may exist (here it does), so UNKNOWN
    assert (result.outcome.outcome, result.outcome.supplier_code) == (Outcome.UNKNOWN, "5003801")
    assert result.exchanges[-1].http_status == 500
    assert h.adapter.check_status(req).outcome.outcome is Outcome.SUCCESS


def test_no_callback_is_found_by_polling(h: Harness) -> None:
    req = h.request(Behaviour.NO_CALLBACK)
    assert h.adapter.purchase(req).outcome.outcome is Outcome.PENDING
    time.sleep(FAST.callback_delay + 0.3)
    assert h.callbacks_for(req.reference, 1, timeout_s=0.1) == []
    assert h.adapter.check_status(req).outcome.outcome is Outcome.SUCCESS


def test_duplicate_callback_is_authentic_twice_but_delivered_once(h: Harness) -> None:
    req = h.request(Behaviour.DUPLICATE_CALLBACK)
    assert h.adapter.purchase(req).outcome.outcome is Outcome.PENDING
    callbacks = h.callbacks_for(req.reference, 2)
    assert len(callbacks) == 2
    outcomes = [h.adapter.parse_callback(c).outcome for c in callbacks]
    assert all(o and o.outcome is Outcome.SUCCESS for o in outcomes)
    assert h.txn(req.reference)["delivered"] is True


def test_out_of_order_callbacks_send_success_then_a_stale_failure(h: Harness) -> None:
    req = h.request(Behaviour.OUT_OF_ORDER_CALLBACKS)
    h.adapter.purchase(req)
    callbacks = h.callbacks_for(req.reference, 2)
    outcomes = [h.adapter.parse_callback(c).outcome for c in callbacks]
    assert [o.outcome for o in outcomes if o] == [Outcome.SUCCESS, Outcome.FAILED]
    # the supplier's own record keeps the success: the stale callback is the trap
    assert h.adapter.check_status(req).outcome.outcome is Outcome.SUCCESS


def test_slow_answer_within_the_client_timeout_succeeds(h: Harness) -> None:
    result = h.adapter.purchase(h.request(Behaviour.SLOW))
    assert result.outcome.outcome is Outcome.SUCCESS
    assert result.exchanges[-1].latency_ms >= FAST.slow_answer_seconds * 1000


def test_forced_final_state_is_reported_by_status_and_refunds_on_failure(
    start: Callable[..., Harness],
) -> None:
    h = start(SimulatorConfig(callback_delay=30, callback_timeout=1.0))
    opening = h.ledger()["balance"]
    req = h.request(Behaviour.PENDING_THEN_SUCCESS)
    assert h.adapter.purchase(req).outcome.outcome is Outcome.PENDING
    forced = httpx.post(f"{h.base}/_sandbox/force/{req.reference}", params={"status": "failed"})
    assert forced.status_code == 200
    assert h.adapter.check_status(req).outcome.outcome is Outcome.FAILED
    assert h.ledger()["balance"] == opening
    (callback,) = h.callbacks_for(req.reference, 1)
    assert h.adapter.parse_callback(callback).outcome.outcome is Outcome.FAILED  # type: ignore[union-attr]


# ---- codes and catalog ----------------------------------------------------------------------------------


def test_duplicate_reference_answers_4093800_and_does_not_deliver_twice(h: Harness) -> None:
    req = h.request()
    assert h.adapter.purchase(req).outcome.outcome is Outcome.SUCCESS
    opening = h.ledger()["balance"]
    again = h.adapter.purchase(req).outcome
    assert (again.outcome, again.supplier_code) == (Outcome.UNKNOWN, "4093800")
    assert h.ledger()["balance"] == opening


def test_unknown_sku_is_a_product_failure(h: Harness) -> None:
    outcome = h.adapter.purchase(h.request(sku="NOPE")).outcome
    assert (outcome.outcome, outcome.failure_class, outcome.supplier_code) == (
        Outcome.FAILED,
        FailureClass.PRODUCT,
        "4043818",
    )


def test_price_change_is_a_product_failure(h: Harness) -> None:
    outcome = h.adapter.purchase(h.request(expected_cost_idr=19_000)).outcome
    assert (outcome.outcome, outcome.failure_class, outcome.supplier_code) == (
        Outcome.FAILED,
        FailureClass.PRODUCT,
        "4043813",
    )


def test_status_of_an_unknown_reference_is_unknown_with_the_not_found_code(h: Harness) -> None:
    outcome = h.adapter.check_status(h.request()).outcome
    assert (outcome.outcome, outcome.supplier_code) == (Outcome.UNKNOWN, "4043801")


def test_catalog_lists_idr_prices_and_inactive_products(h: Harness) -> None:
    entries = {e.sku: e for e in h.adapter.fetch_catalog().entries}
    assert entries["PLN20"].cost_idr == 20_250 and entries["PLN20"].available
    assert entries["TSEL-DATA-5GB"].category == "data"
    assert not entries["TRI-DATA-3GB"].available


def test_balance_follows_the_ledger(h: Harness) -> None:
    h.adapter.purchase(h.request())
    assert h.adapter.balance().balance_idr == h.ledger()["balance"]


# ---- credentials and tokens -----------------------------------------------------------------------------


def test_wrong_credentials_fail_purchase_as_config_and_leave_status_unknown(
    start: Callable[..., Harness],
) -> None:
    h = start()
    bad = _adapter(h.base, secret="wrong-secret")
    req = h.request()
    outcome = bad.purchase(req).outcome
    assert (outcome.outcome, outcome.failure_class) == (Outcome.FAILED, FailureClass.CONFIG)
    assert bad.check_status(req).outcome.outcome is Outcome.UNKNOWN
    assert h.ledger()["transactions"] == []


def test_unreachable_supplier_orders_nothing_and_status_is_unknown() -> None:
    adapter = _adapter("http://127.0.0.1:9")  # discard port: connection refused
    req = PurchaseRequest("R-unreachable", "PLN20", "081234560000")
    outcome = adapter.purchase(req).outcome
    assert (outcome.outcome, outcome.failure_class) == (Outcome.FAILED, FailureClass.PRODUCT)
    assert adapter.check_status(req).outcome.outcome is Outcome.UNKNOWN


def test_token_is_cached_across_calls(h: Harness) -> None:
    first = h.adapter.purchase(h.request())
    second = h.adapter.purchase(h.request())
    assert [e.operation for e in first.exchanges] == ["token", "purchase"]
    assert [e.operation for e in second.exchanges] == ["purchase"]


def test_token_is_refreshed_before_it_expires(start: Callable[..., Harness]) -> None:
    h = start(token_ttl_s=1, token_refresh_margin_s=0.9)
    h.adapter.purchase(h.request())
    time.sleep(0.2)
    assert [e.operation for e in h.adapter.purchase(h.request()).exchanges] == ["token", "purchase"]


def test_revoked_token_is_replaced_once_on_401(h: Harness) -> None:
    h.adapter.purchase(h.request())
    httpx.post(h.base + "/_sandbox/expire-tokens")
    result = h.adapter.purchase(h.request())
    assert result.outcome.outcome is Outcome.SUCCESS
    assert [(e.operation, e.http_status) for e in result.exchanges] == [
        ("purchase", 401),
        ("token", 200),
        ("purchase", 200),
    ]


def test_exchanges_never_contain_secret_signature_or_token(h: Harness) -> None:
    exchanges = h.adapter.purchase(h.request()).exchanges + h.adapter.check_status(h.request()).exchanges
    text = json.dumps([e.__dict__ for e in exchanges], default=str)
    assert SECRET not in text and "Bearer " not in text
    token_answer = exchanges[0].response
    assert isinstance(token_answer, dict) and token_answer["accessToken"] == "***"
    assert all(e.request and e.request["headers"]["X-SIGNATURE"] == "***" for e in exchanges)


# ---- forged callbacks -----------------------------------------------------------------------------------


def _signed(path: str, body: bytes, ts: str, secret: str = SECRET) -> dict[str, str]:
    digest = hashlib.sha256(body).hexdigest()
    sig = hmac.new(secret.encode(), f"POST:{path}:{digest}:{ts}".encode(), hashlib.sha256).hexdigest()
    return {"x-timestamp": ts, "x-signature": sig}


BODY = json.dumps(
    {"partnerReferenceNo": "R1", "transactionStatus": "SUCCESS", "serialNumber": "1"}, separators=(",", ":")
).encode()
PATH = "/callbacks/redision"


def _now() -> str:
    return datetime.now(WIB).isoformat(timespec="seconds")


@pytest.mark.parametrize(
    ("headers", "body", "path"),
    [
        ({}, BODY, PATH),  # no signature at all
        (_signed(PATH, BODY, _now(), secret="attacker"), BODY, PATH),  # wrong key
        (_signed(PATH, BODY, _now()), BODY.replace(b"SUCCESS", b"FAILED"), PATH),  # body tampered
        (_signed("/elsewhere", BODY, _now()), BODY, PATH),  # signed for another path
        (
            _signed(PATH, BODY, (datetime.now(WIB) - timedelta(hours=2)).isoformat()),
            BODY,
            PATH,
        ),  # replayed late
    ],
    ids=["missing", "wrong-key", "tampered", "other-path", "stale"],
)
def test_forged_callback_is_rejected_with_401_and_changes_nothing(
    h: Harness, headers: dict[str, str], body: bytes, path: str
) -> None:
    result = h.adapter.parse_callback(CallbackRequest("POST", path, headers, {}, body))
    assert not result.authenticated and result.outcome is None and result.reference is None
    assert result.reply_status == 401 and result.reason
    if "x-signature" in headers:
        assert headers["x-signature"] not in json.dumps(result.redacted)


def test_signed_callback_that_is_not_an_order_is_rejected(h: Harness) -> None:
    body = b'{"hello":"world"}'
    result = h.adapter.parse_callback(CallbackRequest("POST", PATH, _signed(PATH, body, _now()), {}, body))
    assert not result.authenticated and result.reply_status == 400
