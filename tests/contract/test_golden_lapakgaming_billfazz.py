"""Golden tests: Lapak Gaming and BillFazz read what their published material shows.

Lapak Gaming: the callback shape of its reseller API (`data.status`, `data.tid`, `data.reference_id`,
`data.transactions[].voucher_code`) and the answer codes that aungmyokyaw97/LapakGaming handles
(src/Traits/LapakGamingTrait.php, handleApiErrorCode); its README's example tid `RA171341142175668140` and product
code `ML78_8-S2`. BillFazz: the request bodies of debbysa/service-billfazz (src/example.ts and
src/interfaces/postpaid-transaction.interface.ts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from esa_domain.adapters.suppliers.base import CallbackRequest, FailureClass, Outcome, PurchaseRequest
from esa_domain.adapters.suppliers.billfazz.adapter import BillfazzAdapter, inquiry_body
from esa_domain.adapters.suppliers.lapakgaming.adapter import LapakGamingAdapter, _order_outcome
from esa_domain.adapters.suppliers.lapakgaming.adapter import outcome_from_response as lapak_outcome
from esa_domain.adapters.suppliers.lapakgaming.codes import CODE_OUTCOMES, NOT_FOUND_CODES
from sandbox import billfazz as billfazz_sim
from sandbox import lapakgaming as lapak_sim
from sandbox._common import SimulatorConfig

FAST = SimulatorConfig(slow_seconds=1.5, slow_answer_seconds=0.2, callback_delay=0.2)

# Lapak Gaming's documented callback: data.status, data.tid, data.reference_id, data.transactions[].voucher_code
# (tid and product code from aungmyokyaw97/LapakGaming's README examples)
LAPAK_CALLBACK = {
    "data": {
        "tid": "RA171341142175668140",
        "reference_id": "R123",
        "status": "SUCCESS",
        "product_code": "VCGS330-S22",
        "total_price": 84000,
        "transactions": [
            {"tid": "RA171341142175668140-1", "status": "SUCCESS", "voucher_code": "GS-1234-5678"}
        ],
    }
}
# handleApiErrorCode's cases, with what each means for us (the message it throws, quoted)
LAPAK_CODES = {
    "UNAUTHORIZED": (Outcome.FAILED, FailureClass.CONFIG),
    "PRODUCT_NOT_FOUND": (Outcome.FAILED, FailureClass.PRODUCT),
    "PRODUCT_EMPTY": (Outcome.FAILED, FailureClass.PRODUCT),  # "Product is currently out of stock."
    "PROVIDER_NOT_FOUND": (Outcome.FAILED, FailureClass.PRODUCT),
    "PRICE_NOT_MATCH": (Outcome.FAILED, FailureClass.PRODUCT),
    "PROVIDER_INACTIVE": (Outcome.FAILED, FailureClass.PRODUCT),
    "USER_ID_CONTAIN_SPACE": (Outcome.FAILED, FailureClass.CUSTOMER),
    "STOCK_NOT_FOUND": (Outcome.FAILED, FailureClass.PRODUCT),
    "USER_ID_EMPTY": (Outcome.FAILED, FailureClass.CUSTOMER),
    "INSUFFICIENT_BALANCE": (Outcome.FAILED, FailureClass.CONFIG),
    "SYSTEM_ERROR": (Outcome.UNKNOWN, None),  # "System error occurred. Please try again later."
    "UNKNOWN_ERROR": (Outcome.UNKNOWN, None),
    "NOT_ALLOWED": (Outcome.FAILED, FailureClass.CONFIG),
}


def _lapak(base_url: str = "http://127.0.0.1:9") -> LapakGamingAdapter:
    return LapakGamingAdapter(secret_key=lapak_sim.DEFAULT_SECRET_KEY, base_url=base_url, read_timeout_s=0.8)


def test_lapak_documented_callback_is_accepted_as_a_trigger_and_stored_without_voucher_codes() -> None:
    raw = json.dumps(LAPAK_CALLBACK).encode()
    result = _lapak().parse_callback(
        CallbackRequest("POST", "/callbacks/lapakgaming", {}, {}, raw, "1.2.3.4")
    )
    assert result.authenticated and result.reference == "R123"
    assert result.outcome is None  # unsigned: the engine asks order_status, never believes the body
    assert result.price_idr == 84000
    assert "GS-1234-5678" not in json.dumps(result.redacted)


def test_lapak_order_status_with_voucher_codes_delivers_them_and_shows_the_tid() -> None:
    o = _order_outcome(LAPAK_CALLBACK["data"], "SUCCESS")
    assert o.outcome is Outcome.SUCCESS and o.delivery is not None
    assert (o.delivery.serial, o.delivery.voucher_code) == ("RA171341142175668140", "GS-1234-5678")
    assert o.artifact == "RA171341142175668140"


@pytest.mark.parametrize("code", sorted(LAPAK_CODES))
def test_lapak_every_documented_code_is_classified(code: str) -> None:
    assert CODE_OUTCOMES[code] == LAPAK_CODES[code]


def test_lapak_tid_not_found_is_no_such_transaction() -> None:
    assert "TID_NOT_FOUND" in NOT_FOUND_CODES
    response = httpx.Response(400, json={"code": "TID_NOT_FOUND", "data": None})
    from esa_domain.adapters.suppliers.base import Exchange

    exchange = Exchange("status", "GET", "/api/order_status", None, None, 400, 1)
    o = lapak_outcome(response, exchange, is_status=True)
    assert o.outcome is Outcome.UNKNOWN and o.no_transaction and o.supplier_code == "TID_NOT_FOUND"


@pytest.fixture
def lapak(run_asgi: Callable[[Any], str], callback_sink: Any) -> tuple[str, LapakGamingAdapter, Any]:
    url = run_asgi(lapak_sim.create_app(config=FAST))
    return url, _lapak(url), callback_sink


def test_lapak_simulator_speaks_the_documented_callback_and_tid_not_found(lapak: tuple) -> None:
    url, adapter, sink = lapak
    request = PurchaseRequest(f"ESA{time.time_ns()}", "VCGS330-S22", "12345678", callback_url=sink.url)
    assert adapter.purchase(request).outcome.outcome is Outcome.PENDING
    callbacks = sink.wait_for(1)
    body = json.loads(callbacks[0]["body"])["data"]
    assert body["reference_id"] == request.reference and body["status"] == "SUCCESS"
    assert body["tid"] and body["transactions"][0]["voucher_code"]
    parsed = adapter.parse_callback(
        CallbackRequest("POST", "/callbacks/lapakgaming", {}, {}, callbacks[0]["body"], "127.0.0.1")
    )
    assert parsed.authenticated and parsed.reference == request.reference
    unknown = PurchaseRequest(f"ESA{time.time_ns()}X", "VCGS330-S22", "12345678")
    o = adapter.check_status(unknown).outcome
    assert o.no_transaction and o.supplier_code == "TID_NOT_FOUND"
    httpx.post(f"{url}/_sandbox/stock/ML78_8-S2", params={"available": "false"})
    o = adapter.purchase(
        PurchaseRequest(f"ESA{time.time_ns()}S", "ML78_8-S2", "12345678", zone="2001")
    ).outcome
    assert (o.outcome, o.failure_class, o.supplier_code) == (
        Outcome.FAILED,
        FailureClass.PRODUCT,
        "PRODUCT_EMPTY",
    )


# ---- BillFazz --------------------------------------------------------------------------------------------


def test_billfazz_bpjs_inquiry_is_the_librarys_example() -> None:
    # debbysa/service-billfazz src/example.ts: getInquiryPostpaidBpjs({destinationNo: '8800112233445',
    # productCode: 'BPJSKS', month: 1})
    assert inquiry_body("BPJSKS", "8800112233445") == {
        "destinationNo": "8800112233445",
        "productCode": "BPJSKS",
        "month": 1,
    }


def test_billfazz_pbb_inquiry_names_the_year_as_a_string() -> None:
    # src/interfaces/postpaid-transaction.interface.ts: InquiryPostpaidPbb { destinationNo, productCode, year: string }
    body = inquiry_body("PBB", "327301000100100010", now=datetime(2026, 12, 31, 18, 0, tzinfo=UTC))
    assert body == {
        "destinationNo": "327301000100100010",
        "productCode": "PBB",
        "year": "2027",
    }  # Jakarta time
    assert inquiry_body("PLNPASCA", "530000000001") == {
        "destinationNo": "530000000001",
        "productCode": "PLNPASCA",
    }


@pytest.fixture
def billfazz(run_asgi: Callable[[Any], str]) -> tuple[str, BillfazzAdapter]:
    url = run_asgi(billfazz_sim.create_app(config=FAST))
    adapter = BillfazzAdapter(
        api_key=billfazz_sim.DEFAULT_API_KEY,
        api_secret=billfazz_sim.DEFAULT_API_SECRET,
        base_url=url,
        read_timeout_s=0.8,
    )
    return url, adapter


@pytest.mark.parametrize("sku", ["BPJSKS", "PBB"])
def test_billfazz_simulator_pays_bpjs_and_pbb_only_with_month_or_year(billfazz: tuple, sku: str) -> None:
    url, adapter = billfazz
    request = PurchaseRequest(f"ESA{time.time_ns()}", sku, "8800112233445", postpaid=True)
    result = adapter.purchase(request)
    assert result.outcome.outcome in (Outcome.SUCCESS, Outcome.PENDING), result.outcome
    assert result.exchanges[0].request and ("month" in json.dumps(result.exchanges[0].request)) == (
        sku == "BPJSKS"
    )
    bare = httpx.post(
        f"{url}/postpaid/inquiry",
        json={"destinationNo": "8800112233445", "productCode": sku},
        auth=(billfazz_sim.DEFAULT_API_KEY, billfazz_sim.DEFAULT_API_SECRET),
    )
    assert bare.status_code == 400 and ("month" if sku == "BPJSKS" else "year") in bare.json()["message"]
