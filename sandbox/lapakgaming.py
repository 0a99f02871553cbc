"""Lapak Gaming simulator: bearer-key reseller API with orders, order status, products, balance, callbacks.

Answers are `{"code": "<CODE>", "data": {...} | null}`; business errors are HTTP 400 with a code, a bad key is
401. `partner_reference_id` is the idempotency key: re-sending it returns the same order, never a second one.
Behaviours come from the user id's last four digits (sandbox/behaviours.py); the dev test products of the
spec (ML156_16-S42 PRODUCT_EMPTY, ...) behave as documented.

The callback has Lapak Gaming's documented shape: `data.status`, `data.tid`, `data.reference_id` and
`data.transactions[].voucher_code`; an order status for a reference it never saw is `TID_NOT_FOUND` (the code
aungmyokyaw97/LapakGaming's client handles as "Transaction ID not found"); an SKU taken out of stock from the
sandbox control answers `PRODUCT_EMPTY` ("Product is currently out of stock").
"""

from __future__ import annotations

import asyncio
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

DEFAULT_SECRET_KEY = "lapak-sandbox-secret-0001"


@dataclass(frozen=True)
class LapakProduct:
    code: str  # <item>-<provider>
    category_code: str
    name: str
    price: int  # IDR
    status: str = "available"  # available | empty
    provider_active: bool = True
    voucher: bool = False


# Lapak Gaming is the cheapest of the three for games; it sells no pulsa.
PRODUCTS: tuple[LapakProduct, ...] = (
    LapakProduct("ML78_8-S2", "ML", "Mobile Legends 86 Diamonds (78+8)", 20_900),
    LapakProduct("ML156_16-S42", "ML", "Mobile Legends 172 Diamonds (156+16)", 41_500, status="empty"),
    LapakProduct("ML625_81-S2", "ML", "Mobile Legends 706 Diamonds (625+81)", 165_000, provider_active=False),
    LapakProduct("ML7740_1548-S42", "ML", "Mobile Legends 9288 Diamonds", 2_150_000),
    LapakProduct("ML4649_883-S42", "ML", "Mobile Legends 5532 Diamonds", 1_290_000),
    LapakProduct("FF140-S1", "FF", "Free Fire 140 Diamonds", 18_900),
    LapakProduct("GI60-S3", "GI", "Genshin Impact 60 Genesis Crystals", 13_900),
    LapakProduct("VCGS330-S22", "VCGS", "Garena Shells 330", 84_000, voucher=True),
    LapakProduct("STEAM12-S9", "STEAM", "Steam Wallet IDR 12.000", 17_200, voucher=True),
)
# Dev test products whose outcome is fixed whatever the user id (shared/specs/suppliers.md).
FIXED_ERRORS = {"ML7740_1548-S42": "INSUFFICIENT_BALANCE"}
FIXED_BEHAVIOURS = {"ML4649_883-S42": Behaviour.PENDING_THEN_SUCCESS}
BEHAVIOUR_ERRORS = {
    Behaviour.CUSTOMER_FAILURE: "USER_ID_EMPTY",
    Behaviour.PRODUCT_FAILURE: "STOCK_NOT_FOUND",
    Behaviour.CONFIG_FAILURE: "NOT_ALLOWED",
}


def _answer(code: str, data: Any = None, http: int = 200) -> JSONResponse:
    return JSONResponse({"code": code, "data": data}, http)


def _serial(txn: Txn) -> str:
    return f"GS-{txn.supplier_txn_id[-6:]}-VOUCHER" if txn.extra.get("voucher") else ""


def create_app(*, secret_key: str = DEFAULT_SECRET_KEY, config: SimulatorConfig | None = None) -> FastAPI:
    """A Lapak Gaming simulator accepting `secret_key` as its bearer key; `config` sets balance and delays."""
    state = SimulatorState(config or SimulatorConfig())
    products = {p.code: p for p in PRODUCTS}
    app = FastAPI(title="Lapak Gaming simulator")
    app.state.sim = state

    def authorised(request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {secret_key}".encode())

    def order_view(txn: Txn, status: str | None = None) -> dict[str, Any]:
        status = status or txn.status
        lapak_status = {PENDING: "PENDING", SUCCESS: "SUCCESS", FAILED: "REFUNDED"}[status]
        unit: dict[str, Any] = {"tid": f"{txn.supplier_txn_id}-1", "status": lapak_status}
        if status == SUCCESS and txn.serial:
            unit["voucher_code"] = txn.serial
        return {
            "tid": txn.supplier_txn_id,
            "partner_reference_id": txn.reference,
            "product_code": txn.sku,
            "user_id": txn.target,
            "status": lapak_status,
            "total_price": txn.cost,
            "transactions": [unit],
        }

    def notify(txn: Txn, override: str | None) -> None:
        status = override or txn.status
        if status != PENDING:  # Lapak calls back only when every unit succeeded or was refunded
            view = order_view(txn, status)
            data = {
                "tid": view["tid"],
                "reference_id": txn.reference,
                "status": view["status"],
                "product_code": txn.sku,
                "total_price": txn.cost,
                "transactions": view["transactions"],
            }
            state.send_callback(txn.callback_url, json={"data": data})

    state.notify = notify
    add_sandbox_routes(app, state, _serial)

    @app.get("/api/all-products")
    def all_products(request: Request, country_code: str = "id") -> JSONResponse:
        if not authorised(request):
            return _answer("UNAUTHORIZED", http=401)
        rows = [
            {"code": p.code, "category_code": p.category_code, "name": p.name,
             "provider_code": p.code.split("-")[1], "price": p.price, "process_time": 60,
             "country_code": country_code, "status": p.status}
            for p in PRODUCTS
        ]  # fmt: skip
        return _answer("SUCCESS", {"products": rows})

    @app.get("/api/balance")
    def balance(request: Request) -> JSONResponse:
        if not authorised(request):
            return _answer("UNAUTHORIZED", http=401)
        return _answer("SUCCESS", {"balance": state.ledger.balance})

    @app.get("/api/order_status")
    def order_status(request: Request, partner_reference_id: str = "") -> JSONResponse:
        if not authorised(request):
            return _answer("UNAUTHORIZED", http=401)
        txn = state.ledger.get(partner_reference_id)
        if txn is None:
            return _answer("TID_NOT_FOUND", http=400)
        return _answer("SUCCESS", order_view(txn))

    @app.post("/api/order")
    async def order(request: Request) -> JSONResponse:
        if not authorised(request):
            return _answer("UNAUTHORIZED", http=401)
        body = await request.json()
        ref = str(body.get("partner_reference_id") or "")
        existing = state.ledger.get(ref) if ref else None
        if existing is not None:  # idempotency key: the same order, not a second one
            return _answer("SUCCESS", {"tid": existing.supplier_txn_id, "total_price": existing.cost})
        user_id = str(body.get("user_id") or "")
        product = products.get(str(body.get("product_code", "")))
        count = int(body.get("count_order") or 0)
        behaviour = behaviour_for(user_id)
        if product is not None:
            behaviour = FIXED_BEHAVIOURS.get(product.code, behaviour)
        error = None
        if not user_id:
            error = "USER_ID_EMPTY"
        elif " " in user_id:
            error = "USER_ID_CONTAIN_SPACE"
        elif product is None:
            error = "PRODUCT_NOT_FOUND"
        elif product.status == "empty" or product.code in state.out_of_stock:
            error = "PRODUCT_EMPTY"
        elif not product.provider_active:
            error = "PROVIDER_INACTIVE"
        elif product.code in FIXED_ERRORS:
            error = FIXED_ERRORS[product.code]
        elif body.get("price") is not None and int(body["price"]) != product.price:
            error = "PRICE_NOT_MATCH"
        elif behaviour in BEHAVIOUR_ERRORS:
            error = BEHAVIOUR_ERRORS[behaviour]
        elif count < 1 or not ref:
            error = "UNKNOWN_ERROR"
        elif state.ledger.balance < product.price * count:
            error = "INSUFFICIENT_BALANCE"
        if error is not None or product is None:
            return _answer(error or "PRODUCT_NOT_FOUND", http=400)
        txn = state.ledger.accept(
            Txn(reference=ref, sku=product.code, target=user_id, status=PENDING, cost=product.price * count,
                supplier_txn_id=state.ledger.next_id("LG"), behaviour=behaviour.value,
                callback_url=body.get("override_callback_url"), extra={"voucher": product.voucher})
        )  # fmt: skip
        start_lifecycle(state, txn, behaviour, _serial(txn))
        await asyncio.sleep(answer_delay(state, behaviour))
        if behaviour is Behaviour.SERVER_ERROR_CREATED:
            return _answer("SYSTEM_ERROR", http=500)
        return _answer("SUCCESS", {"tid": txn.supplier_txn_id, "total_price": txn.cost})

    return app


app = create_app()
