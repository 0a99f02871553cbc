"""BillFazz simulator: Basic auth, camelCase JSON, prepaid and postpaid payments, order lookup, callbacks.

Only `status: "success"` is documented; `pending`/`failed` with `failureReason`, `serialNumber`, 4xx
`{"message"}` errors and a duplicate refId answered 400 "refId already exists" are the assumptions of
shared/specs/suppliers.md, kept in one place here so they are easy to correct.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox._common import (
    FAILED,
    PENDING,
    SUCCESS,
    SimulatorConfig,
    SimulatorState,
    Txn,
    add_sandbox_routes,
    answer_delay,
    start_lifecycle,
)
from sandbox.behaviours import Behaviour, behaviour_for

DEFAULT_API_KEY = "billfazz-sandbox-key"
DEFAULT_API_SECRET = "billfazz-sandbox-secret-0001"
POSTPAID_BILL_IDR = 150_000


@dataclass(frozen=True)
class BillfazzProduct:
    code: str
    name: str
    type: str  # prepaid | postpaid
    operator_code: str
    sell_price: int  # IDR; for postpaid the bill comes from the inquiry
    admin_price: int = 0
    active: bool = True
    problem: bool = False


# BillFazz sits between IAK (cheapest pulsa) and Lapak Gaming (cheapest games).
PRODUCTS: tuple[BillfazzProduct, ...] = (
    BillfazzProduct("TSEL10", "Telkomsel 10.000", "prepaid", "TELKOMSEL", 10_550),
    BillfazzProduct("TSEL25", "Telkomsel 25.000", "prepaid", "TELKOMSEL", 25_300),
    BillfazzProduct("TSEL50", "Telkomsel 50.000", "prepaid", "TELKOMSEL", 50_100),
    BillfazzProduct("ISAT10", "Indosat 10.000", "prepaid", "INDOSAT", 10_750),
    BillfazzProduct("XL10", "XL 10.000", "prepaid", "XL", 10_800),
    BillfazzProduct("PLN20", "PLN Token 20.000", "prepaid", "PLN", 20_450),
    BillfazzProduct("PLN50", "PLN Token 50.000", "prepaid", "PLN", 50_450),
    BillfazzProduct("ML86", "Mobile Legends 86 Diamonds", "prepaid", "MOBILELEGENDS", 21_800),
    BillfazzProduct("FF140", "Free Fire 140 Diamonds", "prepaid", "FREEFIRE", 19_400),
    BillfazzProduct("TSEL5", "Telkomsel 5.000", "prepaid", "TELKOMSEL", 5_700, problem=True),
    BillfazzProduct("PLNPASCA", "PLN Pascabayar", "postpaid", "PLN", 0, admin_price=2_750),
    BillfazzProduct("BPJSKS", "BPJS Kesehatan", "postpaid", "BPJS", 0, admin_price=2_750),
    BillfazzProduct("PBB", "PBB (Pajak Bumi dan Bangunan)", "postpaid", "PBB", 0, admin_price=3_000),
)
FAILURE_REASONS = {
    Behaviour.CUSTOMER_FAILURE: "INVALID_DESTINATION",
    Behaviour.PRODUCT_FAILURE: "OUT_OF_STOCK",
    Behaviour.CONFIG_FAILURE: "INSUFFICIENT_BALANCE",
}
PENDING_FAILURE_REASON = "PROVIDER_PROBLEM"


def _serial(txn: Txn) -> str:
    return f"BF{txn.supplier_txn_id}SN"


def create_app(
    *,
    api_key: str = DEFAULT_API_KEY,
    api_secret: str = DEFAULT_API_SECRET,
    config: SimulatorConfig | None = None,
) -> FastAPI:
    """A BillFazz simulator accepting Basic `api_key:api_secret`; `config` sets balance and delays."""
    state = SimulatorState(config or SimulatorConfig())
    products = {p.code: p for p in PRODUCTS}
    inquiries: dict[str, dict[str, Any]] = {}
    expected_auth = "Basic " + base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()
    app = FastAPI(title="BillFazz simulator")
    app.state.sim = state

    def authorised(request: Request) -> bool:
        return hmac.compare_digest(request.headers.get("authorization", "").encode(), expected_auth.encode())

    def unauthorised() -> JSONResponse:
        return JSONResponse({"message": "Unauthorized: invalid api key or secret"}, 401)

    def order_view(txn: Txn, status: str | None = None) -> dict[str, Any]:
        status = status or txn.status
        view: dict[str, Any] = {
            "orderId": txn.supplier_txn_id,
            "refId": txn.reference,
            "productCode": txn.sku,
            "destinationNo": txn.target,
            "price": txn.cost,
            "status": status,
        }
        if status == SUCCESS:
            view["serialNumber"] = txn.serial
        if status == FAILED:
            view["failureReason"] = txn.extra.get("reason", PENDING_FAILURE_REASON)
        return view

    def notify(txn: Txn, override: str | None) -> None:
        state.send_callback(txn.callback_url, json=order_view(txn, override))

    state.notify = notify
    add_sandbox_routes(app, state, _serial)

    @app.get("/products/client")
    def product_list(request: Request, type: str = "prepaid", active: bool = False) -> JSONResponse:
        if not authorised(request):
            return unauthorised()
        rows = [
            {
                "code": p.code,
                "name": p.name,
                "type": p.type,
                "operatorCode": p.operator_code,
                "sellPrice": p.sell_price,
                "adminPrice": p.admin_price,
                "active": p.active,
                "problem": p.problem,
            }
            for p in PRODUCTS
            if p.type == type and (p.active or not active)
        ]
        return JSONResponse({"data": rows})

    @app.get("/app/deposits/balance")
    def balance(request: Request) -> JSONResponse:
        if not authorised(request):
            return unauthorised()
        return JSONResponse({"data": {"balance": state.ledger.balance}})

    @app.get("/orders")
    def orders(request: Request, refId: str = "") -> JSONResponse:  # BillFazz names the parameter refId
        if not authorised(request):
            return unauthorised()
        txn = state.ledger.get(refId)
        return JSONResponse({"data": [order_view(txn)] if txn else []})

    async def place(ref_id: str, sku: str, target: str, cost: int, callback_url: str | None) -> JSONResponse:
        if not ref_id:
            return JSONResponse({"message": "refId is required"}, 400)
        if state.ledger.get(ref_id) is not None:
            return JSONResponse({"message": "refId already exists"}, 400)
        behaviour = behaviour_for(target)
        txn = Txn(
            reference=ref_id,
            sku=sku,
            target=target,
            status=PENDING,
            cost=cost,
            behaviour=behaviour.value,
            supplier_txn_id=state.ledger.next_id("BFZ"),
            callback_url=callback_url,
        )
        if behaviour in FAILURE_REASONS or state.ledger.balance < cost:
            txn.status, txn.debited = FAILED, False
            txn.extra["reason"] = FAILURE_REASONS.get(behaviour, "INSUFFICIENT_BALANCE")
            state.ledger.accept(txn)
            return JSONResponse(order_view(txn))
        state.ledger.accept(txn)
        if behaviour is Behaviour.PENDING_THEN_FAILURE:
            txn.extra["reason"] = PENDING_FAILURE_REASON
        start_lifecycle(state, txn, behaviour, _serial(txn))
        await asyncio.sleep(answer_delay(state, behaviour))
        if behaviour is Behaviour.SERVER_ERROR_CREATED:
            return JSONResponse({"message": "Internal server error"}, 502)
        return JSONResponse(order_view(txn), 201)

    @app.post("/prepaid/payment")
    async def prepaid_payment(request: Request) -> JSONResponse:
        if not authorised(request):
            return unauthorised()
        body = await request.json()
        product = products.get(str(body.get("productCode", "")))
        if product is None or product.type != "prepaid":
            return JSONResponse({"message": "productCode not found"}, 404)
        if not product.active or product.problem or product.code in state.out_of_stock:
            return JSONResponse({"message": "product is having a problem"}, 422)
        return await place(
            str(body.get("refId") or ""),
            product.code,
            str(body.get("destinationNo", "")),
            product.sell_price,
            body.get("callbackUrl"),
        )

    @app.post("/postpaid/inquiry")
    async def postpaid_inquiry(request: Request) -> JSONResponse:
        if not authorised(request):
            return unauthorised()
        body = await request.json()
        product = products.get(str(body.get("productCode", "")))
        target = str(body.get("destinationNo", ""))
        if product is None or product.type != "postpaid":
            return JSONResponse({"message": "productCode not found"}, 404)
        # service-billfazz's InquiryPostpaidBpjs / InquiryPostpaidPbb: BPJS needs `month`, PBB needs `year`
        month, year = body.get("month"), body.get("year")
        if product.operator_code == "BPJS" and not (isinstance(month, int) and 1 <= month <= 12):
            return JSONResponse({"message": "month is required for BPJS (1-12)"}, 400)
        if product.operator_code == "PBB" and not (
            isinstance(year, str) and year.isdigit() and len(year) == 4
        ):
            return JSONResponse({"message": "year is required for PBB"}, 400)
        if behaviour_for(target) is Behaviour.CUSTOMER_FAILURE:
            return JSONResponse({"message": "destinationNo not found"}, 422)
        inquiry_id = state.ledger.next_id("INQ")
        inq = {
            "inquiryId": inquiry_id,
            "destinationNo": target,
            "productCode": product.code,
            "customerName": "SIMULATED CUSTOMER",
            "amount": POSTPAID_BILL_IDR,
            "adminFee": product.admin_price,
            "price": POSTPAID_BILL_IDR + product.admin_price,
        }
        inquiries[inquiry_id] = inq
        return JSONResponse(inq)

    @app.post("/postpaid/payment")
    async def postpaid_payment(request: Request) -> JSONResponse:
        if not authorised(request):
            return unauthorised()
        body = await request.json()
        inq = inquiries.get(str(body.get("inquiryId", "")))
        if inq is None:
            return JSONResponse({"message": "inquiryId not found"}, 404)
        return await place(
            str(body.get("refId") or ""),
            inq["productCode"],
            inq["destinationNo"],
            inq["price"],
            body.get("callbackUrl"),
        )

    return app


app = create_app()
