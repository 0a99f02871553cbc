"""Lapak Gaming adapter: game top-ups and vouchers over a bearer-key JSON API.

Every answer is `{"code", "data"}`; `codes.py` maps the documented codes, anything else is UNKNOWN.
An accepted order is PENDING until `order_status` (or a callback, which is only a trigger) says otherwise.
`partner_reference_id` carries our attempt reference and is the supplier's idempotency key.

Lapak Gaming's documented callback is `{"data": {"status", "tid", "reference_id", "transactions": [{...,
"voucher_code"}]}}`; it is unsigned, so it only triggers an order_status check (which reads the voucher codes).
`TID_NOT_FOUND` from order_status (aungmyokyaw97/LapakGaming, src/Traits/LapakGamingTrait.php: "Transaction ID not
found") is "no such transaction". Voucher codes are the product: they go into the `Delivery` (stored encrypted)
and are masked in every stored exchange.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import SecretStr

from esa_domain.adapters.suppliers._http import build_client, parse_body, redact, timed_request
from esa_domain.adapters.suppliers.base import (
    BalanceResult,
    CallbackRequest,
    CallbackResult,
    CallResult,
    CatalogEntry,
    CatalogResult,
    Delivery,
    Exchange,
    FailureClass,
    Outcome,
    PurchaseRequest,
    SupplierError,
    SupplierOutcome,
)
from esa_domain.adapters.suppliers.lapakgaming.codes import CODE_OUTCOMES, NOT_FOUND_CODES, ORDER_STATUS

DEV_URL = "https://dev.lapakgaming.com"
REDACT_KEYS = ("voucher_code",)  # the product itself: never in a stored exchange


def _order_outcome(data: dict[str, Any], code: str) -> SupplierOutcome:
    status = str(data.get("status", ""))
    outcome, failure = ORDER_STATUS.get(status, (Outcome.UNKNOWN, None))
    vouchers = [str(t["voucher_code"]) for t in data.get("transactions") or []
                if isinstance(t, dict) and t.get("voucher_code")]  # fmt: skip
    price = data.get("total_price")
    tid = str(data["tid"]) if data.get("tid") else None
    delivery = None
    if outcome is Outcome.SUCCESS and (vouchers or tid):
        delivery = Delivery(serial=tid, voucher_code=", ".join(vouchers) or None)
    return SupplierOutcome(
        outcome, failure, artifact=tid if outcome is Outcome.SUCCESS else None, delivery=delivery,
        supplier_code=status or code, message=f"order {status or 'without status'}",
        supplier_txn_id=str(data["tid"]) if data.get("tid") else None,
        price_idr=price if isinstance(price, int) else None,
    )  # fmt: skip


def outcome_from_response(response: httpx.Response | None, exchange: Exchange, *, is_status: bool
                          ) -> SupplierOutcome:  # fmt: skip
    """One Lapak answer to one outcome. `is_status` marks an order_status answer (its data is the order)."""
    if response is None:
        return SupplierOutcome(Outcome.UNKNOWN, message=exchange.error or "no answer")
    body = parse_body(response)
    code = str(body.get("code", "")) if isinstance(body, dict) else ""
    if not code and response.status_code == 401:
        code = "UNAUTHORIZED"
    data = body.get("data") if isinstance(body, dict) else None
    if response.status_code >= 500 or not code:
        return SupplierOutcome(Outcome.UNKNOWN, supplier_code=code or None,
                               message=f"HTTP {response.status_code}")  # fmt: skip
    if code == "SUCCESS" and isinstance(data, dict):
        if is_status:
            return _order_outcome(data, code)
        price = data.get("total_price")
        return SupplierOutcome(Outcome.PENDING, supplier_code=code, message="order accepted",
                               supplier_txn_id=str(data["tid"]) if data.get("tid") else None,
                               price_idr=price if isinstance(price, int) else None)  # fmt: skip
    if is_status and code in NOT_FOUND_CODES:  # trusted by the engine only after its grace period
        return SupplierOutcome(Outcome.UNKNOWN, supplier_code=code, message="no such order",
                               no_transaction=True)  # fmt: skip
    outcome, failure = CODE_OUTCOMES.get(code, (Outcome.UNKNOWN, None))
    if is_status and failure is FailureClass.CONFIG:
        outcome, failure = Outcome.UNKNOWN, None  # the status check was refused: the order may still exist
    return SupplierOutcome(
        outcome, failure, supplier_code=code, message=f"HTTP {response.status_code} {code}"
    )


class LapakGamingAdapter:
    """Lapak Gaming. `secret_key` is the reseller's bearer key; `base_url` dev or production."""

    code = "lapakgaming"

    def __init__(
        self,
        *,
        secret_key: SecretStr | str,
        base_url: str = DEV_URL,
        country_code: str = "id",
        transport: httpx.BaseTransport | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 15.0,
    ) -> None:
        if not secret_key:
            raise SupplierError("Lapak Gaming needs a secret key")
        key = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
        self._base = base_url.rstrip("/")
        self._country = country_code
        self._client = build_client(transport=transport, connect_timeout_s=connect_timeout_s,
                                    read_timeout_s=read_timeout_s,
                                    headers={"Authorization": f"Bearer {key}"})  # fmt: skip

    def __repr__(self) -> str:
        return f"LapakGamingAdapter(base_url={self._base!r})"

    def _call(
        self, operation: str, method: str, path: str, **kwargs: Any
    ) -> tuple[httpx.Response | None, Exchange]:
        return timed_request(
            self._client, operation, method, self._base + path, redact_keys=REDACT_KEYS, **kwargs
        )

    def purchase(self, request: PurchaseRequest) -> CallResult:
        if request.postpaid:
            raise SupplierError("Lapak Gaming sells no bills")
        body: dict[str, Any] = {"user_id": request.target, "count_order": 1, "product_code": request.sku,
                                "partner_reference_id": request.reference}  # fmt: skip
        if request.zone:
            body["additional_id"] = request.zone
        if request.expected_cost_idr is not None:
            body["price"] = request.expected_cost_idr  # Lapak refuses with PRICE_NOT_MATCH if it changed
        if request.callback_url:
            body["override_callback_url"] = request.callback_url
        response, exchange = self._call("purchase", "POST", "/api/order", json=body)
        return CallResult(outcome_from_response(response, exchange, is_status=False), [exchange])

    def check_status(self, request: PurchaseRequest) -> CallResult:
        params = {"partner_reference_id": request.reference}
        response, exchange = self._call("status", "GET", "/api/order_status", params=params)
        return CallResult(outcome_from_response(response, exchange, is_status=True), [exchange])

    def fetch_catalog(self) -> CatalogResult:
        response, exchange = self._call(
            "catalog", "GET", "/api/all-products", params={"country_code": self._country}
        )
        body = parse_body(response) if response is not None else None
        data = body.get("data") if isinstance(body, dict) else None
        rows = data.get("products") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise SupplierError(
                f"Lapak Gaming product list unreadable: {exchange.error or exchange.http_status}"
            )
        entries = [
            CatalogEntry(sku=str(r["code"]), name=str(r.get("name", r["code"])), cost_idr=int(r["price"]),
                         available=r.get("status") == "available", category=r.get("category_code"))
            for r in rows
            if isinstance(r, dict) and r.get("code") and isinstance(r.get("price"), int)
        ]  # fmt: skip
        return CatalogResult(entries, [exchange])

    def balance(self) -> BalanceResult:
        response, exchange = self._call("balance", "GET", "/api/balance")
        body = parse_body(response) if response is not None else None
        data = body.get("data") if isinstance(body, dict) else None
        value = data.get("balance") if isinstance(data, dict) else None
        if not isinstance(value, int):
            raise SupplierError(f"Lapak Gaming balance unreadable: {exchange.error or exchange.http_status}")
        return BalanceResult(value, [exchange])

    def parse_callback(self, request: CallbackRequest) -> CallbackResult:
        """Lapak callbacks are unsigned: a trigger to query order_status, never an outcome by itself."""
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            body = None
        data = body.get("data") if isinstance(body, dict) and isinstance(body.get("data"), dict) else body
        reference = None
        if isinstance(data, dict):  # the documented callback names it reference_id
            reference = data.get("reference_id") or data.get("partner_reference_id")
        if not reference:
            return CallbackResult(False, None, None, reply_status=400, reply_body="bad request",
                                  reason="no reference_id in callback", redacted=redact(body, REDACT_KEYS))  # fmt: skip
        price = data.get("total_price")
        return CallbackResult(
            True, str(reference), None, reason="unsigned: trigger only",
            price_idr=price if isinstance(price, int) else None, redacted=redact(body, REDACT_KEYS),
        )  # fmt: skip
