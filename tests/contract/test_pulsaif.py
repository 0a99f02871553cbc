"""The Pulsa IF adapter against its simulator over real HTTP (uvicorn on 127.0.0.1): every behaviour, the
text replies, wrong credentials, redaction and forged report callbacks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from esa_domain.adapters.suppliers.base import (
    CallbackRequest,
    FailureClass,
    Outcome,
    PurchaseRequest,
    SupplierError,
)
from esa_domain.adapters.suppliers.pulsaif.adapter import PulsaIFAdapter, PulsaIFConfig
from sandbox import pulsaif as sim
from sandbox._common import SimulatorConfig
from sandbox.behaviours import Behaviour, target_for
from tests.contract.conftest import CallbackSink

MEMBER, PIN, PASSWORD = "ESA001", "4321", "pif-test-pass"
CALLBACK_SECRET = "cb-7f3a9c2e51d84b06"
FAST = SimulatorConfig(slow_seconds=1.0, slow_answer_seconds=0.3, callback_delay=0.15, callback_timeout=1.0)


class Harness:
    """A running simulator, an adapter pointed at it and the sink its report callbacks reach."""

    def __init__(self, base: str, adapter: PulsaIFAdapter, sink: CallbackSink) -> None:
        self.base, self.adapter, self.sink = base, adapter, sink
        self._n = 0

    def request(self, behaviour: Behaviour = Behaviour.SUCCESS, sku: str = "S10") -> PurchaseRequest:
        self._n += 1
        return PurchaseRequest(f"PIF{time.time_ns()}{self._n}", sku, target_for(behaviour))

    def ledger(self) -> dict[str, Any]:
        return httpx.get(self.base + "/_sandbox/ledger").json()

    def txn(self, reference: str) -> dict[str, Any]:
        return next(t for t in self.ledger()["transactions"] if t["reference"] == reference)

    def reports_for(self, reference: str, count: int, timeout_s: float = 3.0) -> list[CallbackRequest]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [_as_callback(r) for r in self.sink.received if f"refid={reference}&" in r["query"]]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


def _as_callback(record: dict[str, Any]) -> CallbackRequest:
    query = dict(parse_qsl(record["query"], keep_blank_values=True))
    return CallbackRequest(
        record["method"], record["path"], record["headers"], query, record["body"], "127.0.0.1"
    )


def _adapter(base: str, pin: str = PIN, **kw: Any) -> PulsaIFAdapter:
    config = PulsaIFConfig(
        base, MEMBER, pin, PASSWORD, CALLBACK_SECRET, connect_timeout_s=0.5, read_timeout_s=0.6
    )
    return PulsaIFAdapter(config, **kw)


@pytest.fixture
def start(run_asgi: Callable[[Any], str], callback_sink: CallbackSink) -> Callable[..., Harness]:
    def _start(sim_config: SimulatorConfig = FAST, allowed_ips: frozenset[str] | None = None) -> Harness:
        report_url = f"{callback_sink.url}/pulsaif/{CALLBACK_SECRET}"
        app = sim.create_app(MEMBER, PIN, PASSWORD, report_url, sim_config, allowed_ips)
        base = run_asgi(app)
        return Harness(base, _adapter(base), callback_sink)

    return _start


@pytest.fixture
def h(start: Callable[..., Harness]) -> Harness:
    return start()


# ---- behaviours -----------------------------------------------------------------------------------------


def test_success_reply_carries_serial_and_price_and_debits_balance(h: Harness) -> None:
    opening = h.ledger()["balance"]
    req = h.request()
    outcome = h.adapter.purchase(req).outcome
    assert outcome.outcome is Outcome.SUCCESS and outcome.artifact and outcome.price_idr == 10_150
    assert h.ledger()["balance"] == opening - 10_150
    expected = {"sku": "S10", "target": req.target, "status": "success", "cost": 10_150, "delivered": True}
    assert expected.items() <= h.txn(req.reference).items()
    (report,) = h.reports_for(req.reference, 1)
    parsed = h.adapter.parse_callback(report)
    assert parsed.authenticated and parsed.outcome and parsed.outcome.artifact == outcome.artifact
    assert (parsed.reply_status, parsed.reply_body) == (200, "OK")


def test_pln_token_serial_is_split_into_token_name_tariff_and_kwh(h: Harness) -> None:
    outcome = h.adapter.purchase(h.request(sku="PLN20")).outcome
    assert outcome.outcome is Outcome.SUCCESS and outcome.delivery is not None
    d = outcome.delivery
    assert d.token and len(d.token.replace("-", "")) == 20 and outcome.artifact == d.token
    assert d.customer_name == "SANDBOX PELANGGAN" and d.tariff and d.tariff.startswith("R1/") and d.kwh


@pytest.mark.parametrize(
    ("behaviour", "failure_class"),
    [
        (Behaviour.CUSTOMER_FAILURE, FailureClass.CUSTOMER),
        (Behaviour.PRODUCT_FAILURE, FailureClass.PRODUCT),
        (Behaviour.CONFIG_FAILURE, FailureClass.CONFIG),
    ],
)
def test_gagal_reply_is_classified_by_its_reason_and_nothing_is_debited(
    h: Harness, behaviour: Behaviour, failure_class: FailureClass
) -> None:
    opening = h.ledger()["balance"]
    req = h.request(behaviour)
    outcome = h.adapter.purchase(req).outcome
    assert (outcome.outcome, outcome.failure_class) == (Outcome.FAILED, failure_class)
    assert h.ledger()["balance"] == opening
    status = h.adapter.check_status(req).outcome
    assert (status.outcome, status.failure_class) == (Outcome.FAILED, failure_class)


def test_pending_then_success_arrives_by_report_callback(h: Harness) -> None:
    req = h.request(Behaviour.PENDING_THEN_SUCCESS)
    assert h.adapter.purchase(req).outcome.outcome is Outcome.PENDING
    (report,) = h.reports_for(req.reference, 1)
    parsed = h.adapter.parse_callback(report)
    assert parsed.authenticated and parsed.reference == req.reference and parsed.price_idr == 10_150
    assert parsed.outcome and parsed.outcome.outcome is Outcome.SUCCESS and parsed.outcome.artifact
    assert h.adapter.check_status(req).outcome.outcome is Outcome.SUCCESS


def test_pending_then_failure_refunds_and_reports_status_40(h: Harness) -> None:
    opening = h.ledger()["balance"]
    req = h.request(Behaviour.PENDING_THEN_FAILURE)
    assert h.adapter.purchase(req).outcome.outcome is Outcome.PENDING
    (report,) = h.reports_for(req.reference, 1)
    assert report.query["status"] == "40"
    parsed = h.adapter.parse_callback(report)
    assert parsed.outcome and (parsed.outcome.outcome, parsed.outcome.failure_class) == (
        Outcome.FAILED,
        FailureClass.PRODUCT,
    )
    assert h.ledger()["balance"] == opening


def test_timeout_that_succeeded_is_unknown_not_failed_and_resend_never_delivers_twice(h: Harness) -> None:
    req = h.request(Behaviour.TIMEOUT_BUT_SUCCEEDS)
    result = h.adapter.purchase(req)
    assert result.outcome.outcome is Outcome.UNKNOWN and result.exchanges[0].error
    assert h.adapter.check_status(req).outcome.outcome is Outcome.SUCCESS
    balance = h.ledger()["balance"]
    again = h.adapter.purchase(req).outcome
    assert again.outcome is Outcome.UNKNOWN and "dobel" in again.message
    assert h.ledger()["balance"] == balance
    assert len([t for t in h.ledger()["transactions"] if t["reference"] == req.reference]) == 1


def test_server_error_with_transaction_created_is_unknown_then_check_finds_it(h: Harness) -> None:
    req = h.request(Behaviour.SERVER_ERROR_CREATED)
    result = h.adapter.purchase(req)
    assert result.outcome.outcome is Outcome.UNKNOWN and result.exchanges[0].http_status == 500
    assert h.adapter.check_status(req).outcome.outcome is Outcome.SUCCESS


def test_no_callback_is_found_by_check(h: Harness) -> None:
    req = h.request(Behaviour.NO_CALLBACK)
    assert h.adapter.purchase(req).outcome.outcome is Outcome.PENDING
    assert h.adapter.check_status(req).outcome.outcome is Outcome.PENDING
    time.sleep(FAST.callback_delay + 0.3)
    assert h.reports_for(req.reference, 1, timeout_s=0.1) == []
    assert h.adapter.check_status(req).outcome.outcome is Outcome.SUCCESS


def test_duplicate_report_is_authentic_twice_but_delivered_once(h: Harness) -> None:
    req = h.request(Behaviour.DUPLICATE_CALLBACK)
    h.adapter.purchase(req)
    reports = h.reports_for(req.reference, 2)
    assert [h.adapter.parse_callback(r).outcome.outcome for r in reports] == [Outcome.SUCCESS] * 2  # type: ignore[union-attr]
    assert h.txn(req.reference)["delivered"] is True


def test_out_of_order_reports_send_success_then_a_stale_failure(h: Harness) -> None:
    req = h.request(Behaviour.OUT_OF_ORDER_CALLBACKS)
    h.adapter.purchase(req)
    reports = h.reports_for(req.reference, 2)
    assert [r.query["status"] for r in reports] == ["20", "40"]
    assert h.adapter.check_status(req).outcome.outcome is Outcome.SUCCESS


def test_slow_answer_within_the_client_timeout_succeeds(h: Harness) -> None:
    result = h.adapter.purchase(h.request(Behaviour.SLOW))
    assert result.outcome.outcome is Outcome.SUCCESS
    assert result.exchanges[0].latency_ms >= FAST.slow_answer_seconds * 1000


def test_forced_success_is_reported_by_check_and_callback(start: Callable[..., Harness]) -> None:
    h = start(SimulatorConfig(callback_delay=30, callback_timeout=1.0))
    req = h.request(Behaviour.PENDING_THEN_FAILURE)
    assert h.adapter.purchase(req).outcome.outcome is Outcome.PENDING
    assert (
        httpx.post(f"{h.base}/_sandbox/force/{req.reference}", params={"status": "success"}).status_code
        == 200
    )
    assert h.adapter.check_status(req).outcome.outcome is Outcome.SUCCESS
    (report,) = h.reports_for(req.reference, 1)
    assert report.query["status"] == "20"


# ---- replies, catalog, credentials ----------------------------------------------------------------------


def test_duplicate_reference_answers_dobel_and_does_not_deliver_twice(h: Harness) -> None:
    req = h.request()
    assert h.adapter.purchase(req).outcome.outcome is Outcome.SUCCESS
    balance = h.ledger()["balance"]
    assert h.adapter.purchase(req).outcome.outcome is Outcome.UNKNOWN
    assert h.ledger()["balance"] == balance


@pytest.mark.parametrize("sku", ["T10", "NOPE"])
def test_product_in_trouble_or_unknown_is_a_product_failure(h: Harness, sku: str) -> None:
    outcome = h.adapter.purchase(h.request(sku=sku)).outcome
    assert (outcome.outcome, outcome.failure_class) == (Outcome.FAILED, FailureClass.PRODUCT)


def test_check_of_an_unknown_reference_is_unknown_with_the_not_found_code(h: Harness) -> None:
    outcome = h.adapter.check_status(h.request()).outcome
    assert (outcome.outcome, outcome.supplier_code) == (Outcome.UNKNOWN, "not_found")


def test_pricelist_and_balance(h: Harness) -> None:
    entries = {e.sku: e for e in h.adapter.fetch_catalog().entries}
    assert entries["S10"].cost_idr == 10_150 and entries["X10"].cost_idr == 10_250
    assert not entries["T10"].available
    h.adapter.purchase(h.request())
    assert h.adapter.balance().balance_idr == h.ledger()["balance"]


def test_wrong_pin_fails_purchase_as_config_and_leaves_status_unknown(h: Harness) -> None:
    bad = _adapter(h.base, pin="0000")
    req = h.request()
    outcome = bad.purchase(req).outcome
    assert (outcome.outcome, outcome.failure_class) == (Outcome.FAILED, FailureClass.CONFIG)
    assert bad.check_status(req).outcome.outcome is Outcome.UNKNOWN
    with pytest.raises(SupplierError, match="refused"):
        bad.fetch_catalog()
    with pytest.raises(SupplierError):
        bad.balance()
    assert h.ledger()["transactions"] == []


def test_address_outside_the_ip_whitelist_is_a_config_failure(start: Callable[..., Harness]) -> None:
    h = start(allowed_ips=frozenset({"10.9.9.9"}))
    outcome = h.adapter.purchase(h.request()).outcome
    assert (outcome.outcome, outcome.failure_class) == (Outcome.FAILED, FailureClass.CONFIG)


def _strings(value: Any) -> Any:
    """Every string stored in `value`, and every query parameter value of the URLs among them."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value
        if "?" in value:
            yield from (v for _, v in parse_qsl(value.split("?", 1)[1], keep_blank_values=True))
    elif value is not None:
        yield str(value)


def test_exchanges_never_contain_sign_pin_or_password(h: Harness) -> None:
    req = h.request()
    exchanges = h.adapter.purchase(req).exchanges + h.adapter.check_status(req).exchanges
    exchanges += h.adapter.fetch_catalog().exchanges
    stored = [e.__dict__ for e in exchanges]
    assert PASSWORD not in json.dumps(stored, default=str)
    # the PIN is four digits, which ports, references and serial numbers contain by chance: it must not be any
    # stored value or query parameter, nor sit between separators as in the sign's plaintext
    values = list(_strings(stored))
    assert PIN not in values
    assert not any(f"|{PIN}|" in v for v in values)
    assert all("sign=%2A%2A%2A" in e.url for e in exchanges)
    assert all(e.request and e.request["params"]["sign"] == "***" for e in exchanges)


def test_unreachable_supplier_is_unknown() -> None:
    adapter = _adapter("http://127.0.0.1:9")
    assert (
        adapter.purchase(PurchaseRequest("PIF-x", "S10", "081234560000")).outcome.outcome is Outcome.UNKNOWN
    )


def test_short_callback_secret_is_refused_at_configuration() -> None:
    with pytest.raises(SupplierError, match="callback_secret"):
        PulsaIFAdapter(PulsaIFConfig("http://127.0.0.1:9", MEMBER, PIN, PASSWORD, "short"))


# ---- forged report callbacks ----------------------------------------------------------------------------

GOOD_QUERY = {"refid": "PIF1", "status": "20", "price": "10150", "message": "SUKSES. SN: 123"}


@pytest.mark.parametrize(
    "path",
    [
        "/callbacks/pulsaif",
        "/callbacks/pulsaif/wrong-secret-0000000",
        f"/callbacks/pulsaif/{CALLBACK_SECRET}x",
        f"/callbacks/pulsaif/{CALLBACK_SECRET[:-1]}",
        f"/callbacks/pulsaif/{CALLBACK_SECRET}/extra",
    ],
)
def test_report_without_our_secret_path_is_rejected_and_changes_nothing(h: Harness, path: str) -> None:
    result = h.adapter.parse_callback(CallbackRequest("GET", path, {}, GOOD_QUERY, b""))
    assert not result.authenticated and result.outcome is None and result.reply_status == 403


def test_report_on_our_secret_path_keeps_the_secret_out_of_the_record(h: Harness) -> None:
    path = f"/callbacks/pulsaif/{CALLBACK_SECRET}"
    result = h.adapter.parse_callback(CallbackRequest("GET", path, {}, GOOD_QUERY, b""))
    assert result.authenticated and result.outcome and result.outcome.artifact == "123"
    assert CALLBACK_SECRET not in json.dumps(result.redacted)


@pytest.mark.parametrize("query", [{"status": "20"}, {"refid": "PIF1", "status": "99"}, {"refid": "PIF1"}])
def test_malformed_report_on_our_path_is_rejected(h: Harness, query: dict[str, str]) -> None:
    result = h.adapter.parse_callback(
        CallbackRequest("GET", f"/callbacks/pulsaif/{CALLBACK_SECRET}", {}, query, b"")
    )
    assert not result.authenticated and result.reply_status == 400


def test_processing_report_is_pending(h: Harness) -> None:
    query = {"refid": "PIF1", "status": "1", "message": "sedang diproses"}
    result = h.adapter.parse_callback(
        CallbackRequest("GET", f"/callbacks/pulsaif/{CALLBACK_SECRET}", {}, query, b"")
    )
    assert result.outcome and result.outcome.outcome is Outcome.PENDING
