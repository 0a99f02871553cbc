"""Redision adapter: an ASSUMED SNAP-BI style contract (no public docs; see shared/specs/suppliers.md).

ASSUMPTIONS (Redision publishes nothing; see codes.py for the response-code reading): Bank Indonesia's SNAP-BI
standard throughout: B2B access token (`/v1.0/access-token/b2b`, X-SIGNATURE HMAC-SHA512-style over
client_id|timestamp, here HMAC-SHA256 hex), business calls signed over METHOD:PATH:token:sha256(minified
body):timestamp, seven-digit `responseCode` = HTTP + service + case. Under SNAP a 5xx (500xx00, 500xx01
"internal server error, retry", 500xx02, 504xx00) says nothing about whether the order exists: UNKNOWN, settled
by a status query, never a fallback. A successful order's `serialNumber` is split into a PLN token and the
meter's facts when it has IAK's documented `token/name/segment/power/kWh` shape.

Everything the spec only assumes is kept in one place so it is one edit to correct once real docs arrive: the
response-code table in `codes.py`, and the constants and small pure functions at the top of this module (paths,
signature strings). Additions beyond the spec, also assumed and marked `ASSUMED+`: `4043801` (no transaction
with this reference, answered by the status query: UNKNOWN with that code, listed in `NOT_FOUND_CODES` so the
engine can apply its grace re-check as for IAK rc 06), `4043813` (amount does not match the price), the
`originalResponseCode` field of a FAILED order, `additionalInfo.callbackUrl` on an order, and the
products/balance shapes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import httpx

from esa_domain.adapters.suppliers._delivery import delivery_from, shown
from esa_domain.adapters.suppliers._http import build_client, redact, timed_request
from esa_domain.adapters.suppliers.base import (
    BalanceResult,
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
from esa_domain.adapters.suppliers.redision.codes import NOT_FOUND_CODES, RESPONSE_CODES, classify

TOKEN_PATH = "/v1.0/access-token/b2b"
PRODUCTS_PATH = "/v1.0/products"
ORDERS_PATH = "/v1.0/orders"
BALANCE_PATH = "/v1.0/balance-inquiry"  # ASSUMED+
WIB = timezone(timedelta(hours=7))
REDACT_KEYS = ("x-signature", "authorization", "accessToken", "x-client-secret")

_F, _S, _P, _U = Outcome.FAILED, Outcome.SUCCESS, Outcome.PENDING, Outcome.UNKNOWN


# ---- signatures (pure) ----------------------------------------------------------------------------------


def minify(body: Any) -> str:
    """The SNAP "minified" JSON text of `body`: no whitespace, keys in their given order."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def body_digest(body: bytes | str | None) -> str:
    """lower(hex(sha256(minified body))): a JSON body is re-minified first, anything else hashed as is."""
    raw = body.encode() if isinstance(body, str) else (body or b"")
    with contextlib.suppress(ValueError):  # not JSON: hash the bytes as received
        raw = minify(json.loads(raw)).encode() if raw else b""
    return hashlib.sha256(raw).hexdigest()


def _hmac_hex(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def token_signature(client_secret: str, client_id: str, timestamp: str) -> str:
    """X-SIGNATURE of the access-token call: hex(HMAC-SHA256(secret, client_id|timestamp))."""
    return _hmac_hex(client_secret, f"{client_id}|{timestamp}")


def request_signature(
    client_secret: str, method: str, path: str, token: str, body: bytes | str | None, timestamp: str
) -> str:
    """X-SIGNATURE of a business call: HMAC over METHOD:PATH:token:digest(body):timestamp."""
    return _hmac_hex(client_secret, f"{method.upper()}:{path}:{token}:{body_digest(body)}:{timestamp}")


def callback_signature(client_secret: str, path: str, body: bytes | str, timestamp: str) -> str:
    """X-SIGNATURE Redision puts on a callback to `path` (our URL path): POST:path:digest(body):timestamp."""
    return _hmac_hex(client_secret, f"POST:{path}:{body_digest(body)}:{timestamp}")


# ---- amounts (pure) -------------------------------------------------------------------------------------


def amount_from_idr(idr: int) -> dict[str, str]:
    """ESA's whole-rupiah `idr` as a SNAP amount object."""
    return {"value": f"{int(idr)}.00", "currency": "IDR"}


def idr_from_amount(amount: Any) -> int:
    """A SNAP amount object as whole rupiah; ValueError when it is not IDR or has a fractional rupiah."""
    if not isinstance(amount, Mapping):
        raise ValueError(f"Redision amount {amount!r} is not an object with value and currency")
    if amount.get("currency") != "IDR":
        raise ValueError(f"Redision amount {amount!r} is not in IDR")
    try:
        value = Decimal(str(amount.get("value")))
    except InvalidOperation:
        raise ValueError(f"Redision amount value {amount.get('value')!r} is not a number") from None
    if not value.is_finite() or value != value.to_integral_value() or value < 0:
        raise ValueError(f"Redision amount {value} IDR is not a whole, non-negative rupiah amount")
    return int(value)


# ---- answers (pure) -------------------------------------------------------------------------------------


def _failure_class(body: Mapping[str, Any]) -> FailureClass:
    """A FAILED order's class from its original code (ASSUMED+); a biller failure when not told."""
    entry = RESPONSE_CODES.get(str(body.get("originalResponseCode")))
    return entry[1] if entry and entry[1] else FailureClass.PRODUCT


def _order_outcome(body: Mapping[str, Any], code: str, message: str) -> SupplierOutcome:
    """Outcome of a 2xx order answer (purchase, status or callback) from its transactionStatus."""
    status = str(body.get("transactionStatus") or "").upper()
    if not status:
        status = {"2003800": "SUCCESS", "2023800": "PENDING"}.get(code, "")
    serial = body.get("serialNumber") or None
    common = {"supplier_code": code, "message": message, "supplier_txn_id": body.get("referenceNo")}
    price, note = _price(body)
    common["message"] = f"{message}; {note}" if note else message
    if status == "SUCCESS":
        delivery = delivery_from(str(serial) if serial else None)
        return SupplierOutcome(_S, artifact=shown(delivery), delivery=delivery, price_idr=price, **common)
    if status == "PENDING":
        return SupplierOutcome(_P, price_idr=price, **common)
    if status == "FAILED":
        return SupplierOutcome(_F, failure_class=_failure_class(body), price_idr=price, **common)
    return SupplierOutcome(_U, **{**common, "message": f"unknown transactionStatus {status!r}: {message}"})


def _price(body: Mapping[str, Any]) -> tuple[int | None, str]:
    if "amount" not in body:
        return None, ""
    try:
        return idr_from_amount(body["amount"]), ""
    except ValueError as exc:  # the outcome still stands; the price is left for a person to check
        return None, str(exc)


def outcome_from_answer(
    body: Any, http_status: int | None, reference: str, *, is_status_query: bool
) -> SupplierOutcome:
    """Map one Redision answer to exactly one outcome.

    `body` is the parsed JSON (None if unparseable), `reference` our partnerReferenceNo, and
    `is_status_query` True for GET /orders/{ref}: a rejected query says nothing about the order, so only
    its 2xx answers and "not found" are read as the order's state.
    """
    if not isinstance(body, Mapping) or not body.get("responseCode"):
        if http_status == 401 and not is_status_query:
            return SupplierOutcome(_F, FailureClass.CONFIG, message="HTTP 401 without a SNAP body")
        return SupplierOutcome(_U, message=f"HTTP {http_status} with an unparseable body")
    code = str(body["responseCode"])
    message = str(body.get("responseMessage") or "")
    answered_ref = body.get("partnerReferenceNo") or body.get("originalPartnerReferenceNo")
    if answered_ref and answered_ref != reference:
        return SupplierOutcome(_U, supplier_code=code, message=f"answer is about reference {answered_ref!r}")
    if code.startswith("2"):
        answered = _order_outcome(body, code, message)
        if (
            answered.outcome is _F and http_status is not None and http_status >= 500
        ):  # a 5xx is never definite
            return SupplierOutcome(_U, supplier_code=code, message=f"HTTP {http_status}: {answered.message}")
        return answered
    if is_status_query:
        if code in NOT_FOUND_CODES:
            return SupplierOutcome(
                _U,
                supplier_code=code,
                message=f"no transaction with this reference: {message}",
                no_transaction=True,
            )
        return SupplierOutcome(_U, supplier_code=code, message=f"status query rejected: {message}")
    outcome, failure_class, meaning = classify(code)
    if outcome is not _U and http_status is not None and http_status >= 500:
        outcome, failure_class = _U, None  # whatever the body says, a 5xx leaves the order in doubt
    return SupplierOutcome(outcome, failure_class, supplier_code=code, message=f"{meaning}: {message}")


# ---- the adapter ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisionConfig:
    """Where and how to reach Redision.

    `client_id` is sent as X-CLIENT-KEY, `client_secret` keys every HMAC, `partner_id` goes in X-PARTNER-ID.
    `token_refresh_margin_s` is how long before expiry a cached token is replaced; `callback_max_skew_s`
    bounds how old a callback's X-TIMESTAMP may be (None: no check).
    """

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    partner_id: str
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 15.0
    token_refresh_margin_s: float = 60.0
    callback_max_skew_s: float | None = 600.0


def snap_timestamp(now: datetime | None = None) -> str:
    """X-TIMESTAMP: ISO 8601 with offset, in Jakarta time."""
    return (now or datetime.now(WIB)).astimezone(WIB).isoformat(timespec="seconds")


def external_id() -> str:
    """X-EXTERNAL-ID: a fresh 32-digit number for each request."""
    return f"{uuid.uuid4().int % 10**32:032d}"


class RedisionAdapter:
    """The SupplierAdapter for Redision; thread-safe (one cached token shared by all calls)."""

    code = "redision"

    def __init__(
        self,
        config: RedisionConfig,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`transport` routes calls elsewhere (tests); `clock` gives the current time for X-TIMESTAMP."""
        if not (config.base_url and config.client_id and config.client_secret and config.partner_id):
            raise SupplierError("Redision needs base_url, client_id, client_secret and partner_id")
        self._config = config
        self._clock = clock or (lambda: datetime.now(WIB))
        self._client = build_client(
            transport=transport,
            connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=config.read_timeout_s,
        )
        self._base = config.base_url.rstrip("/")
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_expires = 0.0  # time.monotonic() deadline

    # -- token

    def _fetch_token(self, exchanges: list[Exchange]) -> str | None:
        ts = snap_timestamp(self._clock())
        headers = {
            "X-CLIENT-KEY": self._config.client_id,
            "X-TIMESTAMP": ts,
            "X-SIGNATURE": token_signature(self._config.client_secret, self._config.client_id, ts),
        }
        body_out = {"grantType": "client_credentials"}
        response, exchange = timed_request(
            self._client,
            "token",
            "POST",
            self._base + TOKEN_PATH,
            json=body_out,
            headers=headers,
            redact_keys=REDACT_KEYS,
        )
        exchanges.append(exchange)
        body = _json(response)
        token = body.get("accessToken") if isinstance(body, dict) else None
        if response is None or response.status_code != 200 or not token:
            return None
        try:
            lifetime = float(body.get("expiresIn", 900))
        except (TypeError, ValueError):
            lifetime = 900.0
        self._token = str(token)
        self._token_expires = time.monotonic() + lifetime - self._config.token_refresh_margin_s
        return self._token

    def _valid_token(self, exchanges: list[Exchange], force: bool = False) -> str | None:
        with self._lock:
            if force or self._token is None or time.monotonic() >= self._token_expires:
                self._token = None
                return self._fetch_token(exchanges)
            return self._token

    # -- signed calls

    def _call(
        self, operation: str, method: str, path: str, body: dict[str, Any] | None, exchanges: list[Exchange]
    ) -> tuple[httpx.Response | None, bool]:
        """One signed call, retried once with a fresh token on a 401; returns (response, token_ok)."""
        for attempt in range(2):
            token = self._valid_token(exchanges, force=attempt > 0)
            if token is None:
                return None, False
            ts = snap_timestamp(self._clock())
            payload = minify(body) if body is not None else ""
            headers = {
                "Authorization": f"Bearer {token}",
                "X-PARTNER-ID": self._config.partner_id,
                "X-EXTERNAL-ID": external_id(),
                "X-TIMESTAMP": ts,
                "X-SIGNATURE": request_signature(  # over the full path the server sees, base prefix included
                    self._config.client_secret,
                    method,
                    urlsplit(self._base).path.rstrip("/") + path,
                    token,
                    payload,
                    ts,
                ),
            }
            response, exchange = timed_request(
                self._client,
                operation,
                method,
                self._base + path,
                json=body,
                headers=headers,
                redact_keys=REDACT_KEYS,
            )
            exchanges.append(exchange)
            # An expired or revoked token is rejected before the order is looked at: safe to resend once.
            if response is not None and response.status_code == 401 and attempt == 0:
                continue
            return response, True
        return None, True  # unreachable: the loop always returns

    def purchase(self, request: PurchaseRequest) -> CallResult:
        """POST /v1.0/orders for `request`; a lost answer is UNKNOWN, never FAILED."""
        if request.postpaid:
            raise SupplierError("Redision (assumed contract) has no bill payment flow")
        body: dict[str, Any] = {
            "partnerReferenceNo": request.reference,
            "sku": request.sku,
            "customerNo": request.target,
        }
        if request.expected_cost_idr is not None:
            body["amount"] = amount_from_idr(request.expected_cost_idr)
        if request.callback_url:
            body["additionalInfo"] = {"callbackUrl": request.callback_url}
        exchanges: list[Exchange] = []
        response, token_ok = self._call("purchase", "POST", ORDERS_PATH, body, exchanges)
        if not token_ok:
            return CallResult(_token_failure(exchanges[-1], is_status_query=False), exchanges)
        return CallResult(self._outcome(response, request.reference, is_status_query=False), exchanges)

    def check_status(self, request: PurchaseRequest) -> CallResult:
        """GET /v1.0/orders/{reference}."""
        exchanges: list[Exchange] = []
        response, token_ok = self._call(
            "status", "GET", f"{ORDERS_PATH}/{request.reference}", None, exchanges
        )
        if not token_ok:
            return CallResult(_token_failure(exchanges[-1], is_status_query=True), exchanges)
        return CallResult(self._outcome(response, request.reference, is_status_query=True), exchanges)

    @staticmethod
    def _outcome(
        response: httpx.Response | None, reference: str, *, is_status_query: bool
    ) -> SupplierOutcome:
        if response is None:
            return SupplierOutcome(_U, message="no answer (timeout or connection error): the order may exist")
        return outcome_from_answer(
            _json(response), response.status_code, reference, is_status_query=is_status_query
        )

    def fetch_catalog(self) -> CatalogResult:
        """GET /v1.0/products; entries whose price is not whole IDR are left out."""
        exchanges: list[Exchange] = []
        response, _ = self._call("catalog", "GET", PRODUCTS_PATH, None, exchanges)
        body = _json(response)
        if not isinstance(body, dict) or body.get("responseCode") != "2003800":
            raise SupplierError(f"Redision product list unavailable: {_describe(exchanges)}")
        entries = []
        for item in body.get("products") or []:
            try:
                cost = idr_from_amount(item.get("price"))
            except (ValueError, AttributeError):
                continue
            entries.append(
                CatalogEntry(
                    sku=str(item.get("sku")),
                    name=str(item.get("name") or item.get("sku")),
                    cost_idr=cost,
                    available=str(item.get("status", "")).upper() == "ACTIVE",
                    category=item.get("category"),
                )
            )
        return CatalogResult(entries, exchanges)

    def balance(self) -> BalanceResult:
        """POST /v1.0/balance-inquiry (ASSUMED+): the deposit left, in whole IDR."""
        exchanges: list[Exchange] = []
        response, _ = self._call("balance", "POST", BALANCE_PATH, {}, exchanges)
        body = _json(response)
        try:
            amount = body["accountInfos"][0]["availableBalance"]  # type: ignore[index]
            return BalanceResult(idr_from_amount(amount), exchanges)
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            raise SupplierError(f"Redision balance unavailable ({exc}): {_describe(exchanges)}") from None

    def parse_callback(self, request: CallbackRequest) -> CallbackResult:
        """Verify X-SIGNATURE over POST:path:digest(body):timestamp, then read the order it reports."""
        timestamp = request.headers.get("x-timestamp", "")
        signature = request.headers.get("x-signature", "")
        stored = {
            "path": request.path,
            "headers": redact(dict(request.headers), REDACT_KEYS),
            "body": request.body.decode("utf-8", "replace")[:4000],
        }
        problem = ""
        if not timestamp or not signature:
            problem = "missing X-TIMESTAMP or X-SIGNATURE"
        else:
            expected = callback_signature(self._config.client_secret, request.path, request.body, timestamp)
            if request.method.upper() != "POST" or not hmac.compare_digest(
                expected.encode(), signature.lower().encode()
            ):
                problem = "signature does not match"
            elif not self._fresh(timestamp):
                problem = f"X-TIMESTAMP {timestamp!r} is outside the accepted window"
        if problem:
            return _callback_rejected(problem, 401, "4013800", stored)
        try:
            body = json.loads(request.body)
            reference = str(body["partnerReferenceNo"])
        except (ValueError, KeyError, TypeError):
            return _callback_rejected(
                "signed, but not an order JSON with partnerReferenceNo", 400, "4003800", stored
            )
        code = str(body.get("responseCode") or "2003800")
        outcome = _order_outcome(body, code, str(body.get("responseMessage") or ""))
        return CallbackResult(
            authenticated=True,
            reference=reference,
            outcome=outcome,
            reply_body=minify({"responseCode": "2003800", "responseMessage": "Successful"}),
            reply_media_type="application/json",
            price_idr=outcome.price_idr,
            redacted=stored,
        )

    def _fresh(self, timestamp: str) -> bool:
        if self._config.callback_max_skew_s is None:
            return True
        try:
            sent = datetime.fromisoformat(timestamp)
        except ValueError:
            return False
        if sent.tzinfo is None:
            return False
        return abs((self._clock() - sent).total_seconds()) <= self._config.callback_max_skew_s

    def __repr__(self) -> str:
        return f"RedisionAdapter(base_url={self._base!r}, client_id={self._config.client_id!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _json(response: httpx.Response | None) -> Any:
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _describe(exchanges: list[Exchange]) -> str:
    last = exchanges[-1] if exchanges else None
    if last is None:
        return "no request sent"
    return f"{last.method} {last.url} -> {last.http_status or last.error}"


def _token_failure(exchange: Exchange, *, is_status_query: bool) -> SupplierOutcome:
    """No access token, so the business call was not sent.

    For a purchase nothing was ordered by this call: a rejected key is a config failure, an unreachable
    token endpoint a product (supplier down) failure. A status query learnt nothing: UNKNOWN.
    """
    body = exchange.response if isinstance(exchange.response, dict) else {}
    code = str(body.get("responseCode") or "") or None
    what = f"access token not obtained ({exchange.http_status or exchange.error}); request not sent"
    if is_status_query:
        return SupplierOutcome(_U, supplier_code=code, message=what)
    rejected = exchange.http_status is not None and 400 <= exchange.http_status < 500
    failure_class = FailureClass.CONFIG if rejected else FailureClass.PRODUCT
    return SupplierOutcome(_F, failure_class, supplier_code=code, message=what)


def _callback_rejected(reason: str, status: int, code: str, stored: dict[str, Any]) -> CallbackResult:
    return CallbackResult(
        authenticated=False,
        reference=None,
        outcome=None,
        reply_status=status,
        reply_body=minify({"responseCode": code, "responseMessage": reason}),
        reply_media_type="application/json",
        reason=reason,
        redacted=stored,
    )
