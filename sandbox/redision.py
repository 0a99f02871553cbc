"""Redision simulator: the ASSUMED SNAP-BI contract of shared/specs/suppliers.md, checked the supplier's way.

Signatures are recomputed here independently of the adapter (so a wrong adapter fails against it). The
behaviour of an order comes from the last four digits of `customerNo` (sandbox/behaviours.py).
Run alone: `uvicorn sandbox.redision:app --port 9103`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

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

WIB = timezone(timedelta(hours=7))

# sku -> (name, category, price IDR, active). Cheapest of the five for PLN tokens and data packages.
PRICES: dict[str, tuple[str, str, int, bool]] = {
    "PLN20": ("PLN Token 20.000", "pln", 20_250, True),
    "PLN50": ("PLN Token 50.000", "pln", 50_250, True),
    "PLN100": ("PLN Token 100.000", "pln", 100_250, True),
    "TSEL-DATA-5GB": ("Telkomsel Data 5GB 30 hari", "data", 51_500, True),
    "XL-DATA-10GB": ("XL Data 10GB 30 hari", "data", 76_000, True),
    "ISAT-DATA-7GB": ("Indosat Freedom 7GB 30 hari", "data", 49_000, True),
    "TSEL10": ("Telkomsel Pulsa 10.000", "pulsa", 10_650, True),
    "XL25": ("XL Pulsa 25.000", "pulsa", 25_400, True),
    "TRI-DATA-3GB": ("Tri Data 3GB", "data", 30_000, False),
}
# The code a rejected order keeps, so a status query can say why it failed.
REJECTIONS = {
    Behaviour.CUSTOMER_FAILURE: (404, "4043811", "Invalid Customer Number"),
    Behaviour.PRODUCT_FAILURE: (403, "4033806", "Feature Not Allowed At This Time: product out of stock"),
    Behaviour.CONFIG_FAILURE: (403, "4033814", "Insufficient Funds"),
}


def _minified_digest(raw: bytes) -> str:
    with contextlib.suppress(ValueError):  # not JSON: the digest of the bytes as sent
        raw = json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False).encode() if raw else b""
    return hashlib.sha256(raw).hexdigest()


def _hmac(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def _now() -> str:
    return datetime.now(WIB).isoformat(timespec="seconds")


def _snap(http_status: int, code: str, message: str, **fields: Any) -> JSONResponse:
    return JSONResponse({"responseCode": code, "responseMessage": message, **fields}, status_code=http_status)


def _amount(idr: int) -> dict[str, str]:
    return {"value": f"{idr}.00", "currency": "IDR"}


def serial_for(txn: Txn) -> str:
    """A PLN token in IAK's `token/name/segment/power/kwh` shape, or a numeric serial for the rest."""
    digits = hashlib.sha256(txn.reference.encode()).hexdigest()
    number = str(int(digits[:16], 16))[:20].rjust(20, "0")
    if txn.sku.startswith("PLN"):
        token = "-".join(number[i : i + 4] for i in range(0, 20, 4))
        return f"{token}/SANDBOX PELANGGAN/R1/1300/{txn.cost // 1450}.5"
    return f"RDS{number[:16]}"


def create_app(
    client_id: str = "esa-sandbox",
    client_secret: str = "redision-sandbox-secret",
    partner_id: str = "ESA",
    callback_url: str | None = None,
    config: SimulatorConfig | None = None,
    token_ttl_s: int = 900,
) -> FastAPI:
    """A Redision simulator.

    `client_id`/`client_secret`/`partner_id` are the credentials it accepts; `callback_url` is where it
    reports when an order does not name `additionalInfo.callbackUrl`; `token_ttl_s` is an access token's
    life. Extra test route: POST /_sandbox/expire-tokens (every issued token becomes invalid).
    """
    app = FastAPI(title="Redision simulator (assumed SNAP-BI contract)")
    state = SimulatorState(config or SimulatorConfig())
    app.state.sim = state
    tokens: dict[str, float] = {}  # token -> monotonic expiry
    seen_external_ids: set[str] = set()
    lock = threading.Lock()

    def order_json(txn: Txn, status: str | None = None) -> dict[str, Any]:
        shown = (status or txn.status).upper()
        body: dict[str, Any] = {
            "responseCode": "2003800",
            "responseMessage": "Successful",
            "partnerReferenceNo": txn.reference,
            "referenceNo": txn.supplier_txn_id,
            "sku": txn.sku,
            "customerNo": txn.target,
            "amount": _amount(txn.cost),
            "transactionStatus": shown,
        }
        if shown == "SUCCESS":
            body["serialNumber"] = txn.serial
        if shown == "FAILED":
            body["originalResponseCode"] = txn.extra.get("code", "4033806")
        return body

    def notify(txn: Txn, status: str | None) -> None:
        url = txn.callback_url or callback_url
        body = order_json(txn, status)
        ts = _now()
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        path = urlsplit(url).path if url else ""
        signature = _hmac(client_secret, f"POST:{path}:{_minified_digest(raw.encode())}:{ts}")
        headers = {"X-TIMESTAMP": ts, "X-SIGNATURE": signature, "X-PARTNER-ID": partner_id}
        state.send_callback(url, json=body, headers=headers)

    state.notify = notify
    add_sandbox_routes(app, state, serial_for)

    @app.post("/_sandbox/expire-tokens")
    def expire_tokens() -> dict[str, int]:
        with lock:
            count = len(tokens)
            tokens.clear()
        return {"expired": count}

    @app.post("/v1.0/access-token/b2b")
    async def access_token(request: Request) -> JSONResponse:
        ts = request.headers.get("x-timestamp", "")
        key = request.headers.get("x-client-key", "")
        expected = _hmac(client_secret, f"{client_id}|{ts}")
        given = request.headers.get("x-signature", "").lower()
        if not ts or not hmac.compare_digest(key, client_id) or not hmac.compare_digest(expected, given):
            return _snap(401, "4017300", "Unauthorized. Signature")
        token = secrets.token_urlsafe(32)
        with lock:
            tokens[token] = time.monotonic() + token_ttl_s
        return _snap(
            200, "2007300", "Successful", accessToken=token, tokenType="Bearer", expiresIn=str(token_ttl_s)
        )

    async def authorise(request: Request, raw: bytes) -> JSONResponse | None:
        """The SNAP checks of a business call; an error answer, or None when it may proceed."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        with lock:
            expiry = tokens.get(token)
        if expiry is None or expiry < time.monotonic():
            return _snap(401, "4013801", "Invalid Token (B2B)")
        if not hmac.compare_digest(request.headers.get("x-partner-id", ""), partner_id):
            return _snap(401, "4013800", "Unauthorized. Unknown X-PARTNER-ID")
        ts = request.headers.get("x-timestamp", "")
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        text = f"{request.method}:{path}:{token}:{_minified_digest(raw)}:{ts}"
        if not ts or not hmac.compare_digest(
            _hmac(client_secret, text), request.headers.get("x-signature", "")
        ):
            return _snap(401, "4013800", "Unauthorized. Signature")
        external = request.headers.get("x-external-id", "")
        with lock:
            if not external or external in seen_external_ids:
                return _snap(409, "4093800", "Conflict: X-EXTERNAL-ID missing or already used")
            seen_external_ids.add(external)
        return None

    @app.get("/v1.0/products")
    async def products(request: Request) -> JSONResponse:
        if refused := await authorise(request, b""):
            return refused
        items = [
            {
                "sku": sku,
                "name": n,
                "category": c,
                "price": _amount(p),
                "status": "ACTIVE" if a else "INACTIVE",
            }
            for sku, (n, c, p, a) in PRICES.items()
        ]
        return _snap(200, "2003800", "Successful", products=items)

    @app.post("/v1.0/balance-inquiry")
    async def balance(request: Request) -> JSONResponse:
        if refused := await authorise(request, await request.body()):
            return refused
        info = {"balanceType": "Cash", "availableBalance": _amount(state.ledger.balance)}
        return _snap(200, "2003800", "Successful", accountInfos=[info])

    @app.get("/v1.0/orders/{reference}")
    async def order_status(reference: str, request: Request) -> JSONResponse:
        if refused := await authorise(request, b""):
            return refused
        txn = state.ledger.get(reference)
        if txn is None:
            return _snap(404, "4043801", "Transaction Not Found", partnerReferenceNo=reference)
        return JSONResponse(order_json(txn))

    @app.post("/v1.0/orders")
    async def create_order(request: Request) -> JSONResponse:
        raw = await request.body()
        if refused := await authorise(request, raw):
            return refused
        try:
            body = json.loads(raw)
            reference, sku, target = (
                str(body["partnerReferenceNo"]),
                str(body["sku"]),
                str(body["customerNo"]),
            )
        except (ValueError, KeyError, TypeError):
            return _snap(400, "4003802", "Invalid Mandatory Field partnerReferenceNo/sku/customerNo")
        echo = {"partnerReferenceNo": reference}
        if state.ledger.get(reference) is not None:  # never deliver twice
            return _snap(409, "4093800", "Duplicate partnerReferenceNo", **echo)
        product = PRICES.get(sku)
        if product is None or not product[3]:
            return _snap(404, "4043818", f"SKU {sku} not found or inactive", **echo)
        if sku in state.out_of_stock:
            return _snap(403, "4033806", "Feature Not Allowed At This Time: product out of stock", **echo)
        price = product[2]
        asked = (body.get("amount") or {}).get("value")
        if asked is not None and asked != f"{price}.00":
            return _snap(404, "4043813", f"Invalid Amount: {sku} costs {price}.00", **echo)
        behaviour = behaviour_for(target)
        if behaviour is not Behaviour.CONFIG_FAILURE and state.ledger.balance < price:
            behaviour = Behaviour.CONFIG_FAILURE
        callback = (body.get("additionalInfo") or {}).get("callbackUrl")
        txn = Txn(reference, sku, target, PENDING, price, supplier_txn_id=state.ledger.next_id("RDS"))
        txn.callback_url, txn.behaviour = callback, behaviour.value
        if behaviour in REJECTIONS:
            http_status, code, message = REJECTIONS[behaviour]
            txn.status, txn.debited, txn.extra["code"] = FAILED, False, code
            state.ledger.accept(txn)
            return _snap(http_status, code, message, **echo)
        state.ledger.accept(txn)
        start_lifecycle(state, txn, behaviour, serial_for(txn))
        await asyncio.sleep(answer_delay(state, behaviour))
        if behaviour is Behaviour.SERVER_ERROR_CREATED:  # SNAP 500xx01: the order was created all the same
            return _snap(500, "5003801", "Internal Server Error")
        if txn.status == SUCCESS:
            return JSONResponse(order_json(txn))
        return JSONResponse(
            {**order_json(txn), "responseCode": "2023800", "responseMessage": "In Progress"}, 202
        )

    return app


app = create_app()
