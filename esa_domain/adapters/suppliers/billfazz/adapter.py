"""BillFazz adapter: prepaid and postpaid payments over HTTP Basic auth and camelCase JSON.

Only `status: "success"` is documented; the rest (pending/failed + failureReason, 4xx `{"message"}`) is the
ASSUMED contract of shared/specs/suppliers.md, gathered in `codes.py` (`STATUS_OUTCOMES`, `FAILURE_REASONS`,
`MESSAGE_RULES`) so it is corrected in one place when real docs arrive. Callbacks are unsigned: a trigger only.

debbysa/service-billfazz (src/interfaces/postpaid-transaction.interface.ts) documents the postpaid inquiry body:
`{destinationNo, productCode}`, plus `month` (a number, months to pay) for BPJS and `year` (a string) for PBB;
its example pays BPJSKS with `month: 1`. We pay one month of BPJS and the current year's PBB (Jakarta time).
A `serialNumber` is split into a PLN token and the meter's facts when it has that shape.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from esa_domain.adapters.suppliers._delivery import delivery_from, shown
from esa_domain.adapters.suppliers._http import build_client, parse_body, redact, timed_request
from esa_domain.adapters.suppliers.base import (
    BalanceResult,
    BillAnswer,
    BillQuery,
    CallbackRequest,
    CallbackResult,
    CallResult,
    CatalogEntry,
    CatalogResult,
    Exchange,
    FailureClass,
    Outcome,
    PurchaseRequest,
    SupplierError,
    SupplierOutcome,
)
from esa_domain.adapters.suppliers.billfazz.codes import FAILURE_REASONS, MESSAGE_RULES, STATUS_OUTCOMES

SANDBOX_URL = "https://secure.billfazz.com/sandbox/api/v1"
BPJS_MONTHS = 1  # months of BPJS paid per order (the library's example)


def inquiry_body(sku: str, target: str, now: datetime | None = None) -> dict[str, Any]:
    """The postpaid inquiry body: BPJS products add `month`, PBB products add `year` (service-billfazz)."""
    body: dict[str, Any] = {"destinationNo": target, "productCode": sku}
    code = sku.upper()
    if code.startswith("BPJS"):
        body["month"] = BPJS_MONTHS
    elif code.startswith("PBB"):
        jakarta = (now or datetime.now(UTC)).astimezone(UTC) + timedelta(hours=7)
        body["year"] = str(jakarta.year)
    return body


def _order(body: Any) -> dict[str, Any] | None:
    """The order object of an answer or callback, bare or under `data` (a list from /orders)."""
    if isinstance(body, dict) and "data" in body:
        body = body["data"]
    if isinstance(body, list):
        body = body[0] if len(body) == 1 else None
    return body if isinstance(body, dict) and "status" in body else None


def outcome_from_order(order: dict[str, Any]) -> SupplierOutcome:
    """One BillFazz order object to one outcome."""
    status = str(order.get("status", "")).lower()
    reason = str(order.get("failureReason") or "")
    if status == "failed" and reason.upper() in FAILURE_REASONS:
        outcome, failure = Outcome.FAILED, FAILURE_REASONS[reason.upper()]
    else:
        outcome, failure = STATUS_OUTCOMES.get(status, Outcome.UNKNOWN), None
    price = order.get("price")
    delivery = delivery_from(str(order.get("serialNumber") or "")) if outcome is Outcome.SUCCESS else None
    return SupplierOutcome(
        outcome,
        failure,
        artifact=shown(delivery),
        delivery=delivery,
        supplier_code=status or None,
        message=reason or status,
        supplier_txn_id=str(order["orderId"]) if order.get("orderId") else None,
        price_idr=price if isinstance(price, int) else None,
    )


def outcome_from_response(
    response: httpx.Response | None, exchange: Exchange, *, is_status: bool
) -> SupplierOutcome:
    """Any BillFazz answer (or none) to one outcome; `is_status` marks a GET /orders answer."""
    if response is None:
        return SupplierOutcome(Outcome.UNKNOWN, message=exchange.error or "no answer")
    body = parse_body(response)
    status_code = response.status_code
    if status_code >= 500:
        return SupplierOutcome(Outcome.UNKNOWN, supplier_code=str(status_code), message=f"HTTP {status_code}")
    if status_code in (401, 403):
        if is_status:  # the check was refused; the order may still exist
            return SupplierOutcome(Outcome.UNKNOWN, supplier_code=str(status_code), message="status refused")
        return SupplierOutcome(
            Outcome.FAILED, FailureClass.CONFIG, supplier_code=str(status_code), message="credentials refused"
        )
    if status_code >= 400:
        message = str(body.get("message", "")) if isinstance(body, dict) else ""
        for fragment, outcome, failure in MESSAGE_RULES:
            if fragment in message.lower() and not is_status:
                return SupplierOutcome(outcome, failure, supplier_code=str(status_code), message=message)
        return SupplierOutcome(Outcome.UNKNOWN, supplier_code=str(status_code), message=message)
    if is_status and isinstance(body, dict) and body.get("data") == []:
        return SupplierOutcome(
            Outcome.UNKNOWN,
            supplier_code="not_found",
            message="no order with this refId",
            no_transaction=True,
        )
    order = _order(body)
    if order is None:
        return SupplierOutcome(Outcome.UNKNOWN, supplier_code=str(status_code), message="unparseable body")
    return outcome_from_order(order)


class BillfazzAdapter:
    """BillFazz. `api_key`/`api_secret` are the HTTP Basic credentials; `base_url` includes `/api/v1`."""

    code = "billfazz"

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: SecretStr | str,
        base_url: str = SANDBOX_URL,
        transport: httpx.BaseTransport | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 15.0,
    ) -> None:
        if not api_key or not api_secret:
            raise SupplierError("BillFazz needs an api_key and an api_secret")
        secret = api_secret.get_secret_value() if isinstance(api_secret, SecretStr) else api_secret
        self._base = base_url.rstrip("/")
        self._client = build_client(
            transport=transport,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            auth=(api_key, secret),
        )

    def __repr__(self) -> str:
        return f"BillfazzAdapter(base_url={self._base!r})"

    def _call(
        self, operation: str, method: str, path: str, **kwargs: Any
    ) -> tuple[httpx.Response | None, Exchange]:
        return timed_request(self._client, operation, method, self._base + path, **kwargs)

    def purchase(self, request: PurchaseRequest) -> CallResult:
        if request.postpaid:
            return self._pay_bill(request)
        body: dict[str, Any] = {
            "destinationNo": request.target,
            "refId": request.reference,
            "productCode": request.sku,
        }
        if request.callback_url:
            body["callbackUrl"] = request.callback_url
        response, exchange = self._call("purchase", "POST", "/prepaid/payment", json=body)
        return CallResult(outcome_from_response(response, exchange, is_status=False), [exchange])

    def inquire_bill(self, query: BillQuery) -> BillAnswer:
        """POST /postpaid/inquiry alone (service-billfazz's postpaid inquiry): `inquiryId`, `customerName`,
        `amount` (the bill), `adminFee` and `price` (what is paid); the payment names the `inquiryId`."""
        body = inquiry_body(query.sku, query.customer_no)
        if query.months is not None and "month" in body:
            body["month"] = query.months
        response, exchange = self._call("inquiry", "POST", "/postpaid/inquiry", json=body)
        found = parse_body(response) if response is not None and response.status_code < 300 else None
        if not isinstance(found, dict) or not found.get("inquiryId"):
            outcome = outcome_from_response(response, exchange, is_status=False)
            if outcome.outcome in (Outcome.SUCCESS, Outcome.PENDING):
                outcome = SupplierOutcome(Outcome.UNKNOWN, message="inquiry answer without inquiryId")
            return BillAnswer(outcome, exchanges=[exchange])
        amount, admin, price = (
            v if isinstance(v, int) else None
            for v in (found.get("amount"), found.get("adminFee"), found.get("price"))
        )
        return BillAnswer(
            SupplierOutcome(Outcome.SUCCESS, supplier_txn_id=str(found["inquiryId"]), price_idr=price),
            customer_name=str(found.get("customerName") or "") or None,
            periods=str(found["period"]) if found.get("period") else None,
            bill_idr=amount,
            admin_idr=admin,
            price_idr=price,
            cost_idr=price,
            exchanges=[exchange],
        )

    def _pay_bill(self, request: PurchaseRequest) -> CallResult:
        if request.bill is not None and request.bill.txn_id:
            # the bill the customer saw: its inquiryId, under our attempt's refId (status checks look it up)
            pay_body: dict[str, Any] = {"inquiryId": request.bill.txn_id, "refId": request.reference}
            if request.callback_url:
                pay_body["callbackUrl"] = request.callback_url
            response, exchange = self._call("purchase", "POST", "/postpaid/payment", json=pay_body)
            return CallResult(outcome_from_response(response, exchange, is_status=False), [exchange])
        inq_body = inquiry_body(request.sku, request.target)
        response, inq_exchange = self._call("inquiry", "POST", "/postpaid/inquiry", json=inq_body)
        inquiry = parse_body(response) if response is not None and response.status_code < 300 else None
        if not isinstance(inquiry, dict) or not inquiry.get("inquiryId"):
            outcome = outcome_from_response(response, inq_exchange, is_status=False)
            if outcome.outcome is Outcome.SUCCESS or outcome.outcome is Outcome.PENDING:
                outcome = SupplierOutcome(Outcome.UNKNOWN, message="inquiry answer without inquiryId")
            return CallResult(outcome, [inq_exchange])
        price = inquiry.get("price")
        if (
            request.expected_cost_idr is not None
            and isinstance(price, int)
            and price != request.expected_cost_idr
        ):
            changed = SupplierOutcome(
                Outcome.FAILED,
                FailureClass.PRODUCT,
                supplier_code="price_changed",
                message=f"bill costs {price} IDR, expected {request.expected_cost_idr}",
                price_idr=price,
            )
            return CallResult(changed, [inq_exchange])
        pay_body = {"inquiryId": inquiry["inquiryId"], "refId": request.reference}
        if request.callback_url:
            pay_body["callbackUrl"] = request.callback_url
        response, pay_exchange = self._call("purchase", "POST", "/postpaid/payment", json=pay_body)
        outcome = outcome_from_response(response, pay_exchange, is_status=False)
        return CallResult(outcome, [inq_exchange, pay_exchange])

    def check_status(self, request: PurchaseRequest) -> CallResult:
        response, exchange = self._call("status", "GET", "/orders", params={"refId": request.reference})
        return CallResult(outcome_from_response(response, exchange, is_status=True), [exchange])

    def fetch_catalog(self) -> CatalogResult:
        entries: list[CatalogEntry] = []
        exchanges: list[Exchange] = []
        for kind in ("prepaid", "postpaid"):
            response, exchange = self._call("catalog", "GET", "/products/client", params={"type": kind})
            exchanges.append(exchange)
            body = parse_body(response) if response is not None else None
            rows = body.get("data") if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise SupplierError(
                    f"BillFazz {kind} product list unreadable: {exchange.error or exchange.http_status}"
                )
            for r in rows:
                if not isinstance(r, dict) or not r.get("code") or not isinstance(r.get("sellPrice"), int):
                    continue
                # For a bill the cost is known only at inquiry; the catalog carries the admin fee.
                cost = r["sellPrice"] if kind == "prepaid" else int(r.get("adminPrice") or 0)
                entries.append(
                    CatalogEntry(
                        sku=str(r["code"]),
                        name=str(r.get("name", r["code"])),
                        cost_idr=cost,
                        available=bool(r.get("active")) and not r.get("problem"),
                        category=r.get("operatorCode"),
                    )
                )
        return CatalogResult(entries, exchanges)

    def balance(self) -> BalanceResult:
        response, exchange = self._call("balance", "GET", "/app/deposits/balance")
        body = parse_body(response) if response is not None else None
        data = body.get("data", body) if isinstance(body, dict) else None
        value = data.get("balance") if isinstance(data, dict) else None
        if not isinstance(value, int) or (response is not None and response.status_code >= 400):
            raise SupplierError(f"BillFazz balance unreadable: {exchange.error or exchange.http_status}")
        return BalanceResult(value, [exchange])

    def parse_callback(self, request: CallbackRequest) -> CallbackResult:
        """BillFazz callbacks are unsigned (assumed): a trigger to query GET /orders, never an outcome."""
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            body = None
        order = _order(body)
        reference = order.get("refId") if order else None
        if not reference:
            return CallbackResult(
                False, None, None, reply_status=400, reply_body="bad request", reason="no refId in callback"
            )
        price = order.get("price") if order else None
        return CallbackResult(
            True,
            str(reference),
            None,
            reason="unsigned: trigger only",
            price_idr=price if isinstance(price, int) else None,
            redacted=redact(body),
        )
