"""Server-to-server calls to ECPay: QueryTradeInfo/V5 (the source of truth), CreditDetail/DoAction (refunds),
CreditDetail/QueryTrade/V2 (a card trade's closings and refunds: what a refund whose answer was lost did).

Sync httpx; the base URL or the transport decides whether it talks to ECPay stage, production or the sandbox.
Keys and MACs are never logged; results carry the received fields with the CheckMacValue removed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx

from esa_domain.adapters.ecpay.codec import (
    MAC_FIELD,
    check_mac_value,
    parse_query_response,
    verify_check_mac_value,
)
from esa_domain.adapters.ecpay.notification import redact

log = logging.getLogger(__name__)

STAGE_BASE_URL = "https://payment-stage.ecpay.com.tw"
PRODUCTION_BASE_URL = "https://payment.ecpay.com.tw"
QUERY_PATH = "/Cashier/QueryTradeInfo/V5"
DO_ACTION_PATH = "/CreditDetail/DoAction"
CREDIT_DETAIL_PATH = "/CreditDetail/QueryTrade/V2"
# CreditDetail/QueryTrade/V2 close_data rows that stand (developers.ecpay.com.tw ?p=2894: 要關帳 to be closed,
# 已關帳 closed; 已取消 and 操作取消 are cancelled rows). A refund (退刷) is a row with a negative amount.
_CLOSE_ROWS_THAT_COUNT = ("要關帳", "已關帳")
VOIDED = "已取消"  # the trade's status once its authorisation was voided (DoAction N): nothing was charged
THROTTLE_BACKOFF = timedelta(minutes=30)  # ECPay answers 403 to queries that come too fast
TRADE_STATUS = {"1": "paid", "0": "unpaid", "10200095": "failed"}
_BODY_SNIPPET = 200

TradeStatus = Literal["paid", "unpaid", "failed", "unknown"]
Action = Literal["R", "N", "C", "E"]


class EcpayError(Exception):
    """Base class of every error this client raises."""


class EcpayUnavailable(EcpayError):
    """The network failed or ECPay answered with a server error: the outcome is unknown, ask again later.

    For `do_action` an unknown outcome means the refund may have happened: check before retrying.
    """


class EcpayThrottled(EcpayError):
    """ECPay refused with HTTP 403 (queries too frequent); no query is sent until `until`."""

    def __init__(self, until: datetime, now: datetime) -> None:
        self.until = until
        self.retry_after: timedelta = max(until - now, timedelta(0))
        super().__init__(f"ECPay throttled queries; retry after {until.isoformat()}")


class EcpayInvalidResponse(EcpayError):
    """ECPay's answer could not be trusted (bad or missing CheckMacValue, another trade, malformed)."""


@dataclass(frozen=True)
class TradeQueryResult:
    merchant_trade_no: str
    status: TradeStatus
    trade_status: str  # ECPay's TradeStatus as answered
    amount_twd: int | None  # TradeAmt
    trade_no: str  # ECPay's trade number ("" when none yet)
    payment_type: str
    payment_date: str
    fields: dict[str, str]  # everything received, CheckMacValue removed: safe to store
    latency_ms: int


@dataclass(frozen=True)
class DoActionResult:
    ok: bool  # RtnCode == 1
    rtn_code: str
    rtn_msg: str
    fields: dict[str, str]  # everything received, CheckMacValue removed: safe to store
    latency_ms: int


@dataclass(frozen=True)
class CreditDetail:
    """One card trade's authorisation and its closings (CreditDetail/QueryTrade/V2)."""

    status: str  # the trade's status as answered (已授權, 已關帳, 已取消, 操作取消, 未授權)
    amount_twd: int  # the authorised amount
    closed_twd: int  # clsamt: what was closed (captured), net of refunds
    refunded_twd: int  # the refunds standing in close_data (or the whole amount once voided)
    fields: dict[str, object]  # RtnValue as received: safe to store (no card data in it)
    latency_ms: int

    @property
    def voided(self) -> bool:
        return self.status == VOIDED


def _whole(value: object) -> int:
    text = str(value).strip()
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if not digits.isdigit():
        raise EcpayInvalidResponse(f"ECPay answered a non-integer amount {text[:20]!r}")
    return sign * int(digits)


def parse_credit_detail(body: str, latency_ms: int = 0) -> CreditDetail:
    """ECPay's JSON answer to CreditDetail/QueryTrade/V2; raises EcpayInvalidResponse for an error answer."""
    try:
        answer = json.loads(body)
    except ValueError:
        raise EcpayInvalidResponse(
            f"ECPay's credit detail answer is not JSON: {body[:_BODY_SNIPPET]}"
        ) from None
    if not isinstance(answer, dict):
        raise EcpayInvalidResponse("ECPay's credit detail answer is not an object")
    value = answer.get("RtnValue")
    if answer.get("RtnMsg") or not isinstance(value, dict):
        # error_Stop (merchant stopped), error_nopay (no such authorisation), error (a check failed)
        raise EcpayInvalidResponse(f"ECPay's credit detail query failed: {str(answer.get('RtnMsg'))[:80]!r}")
    amount = _whole(value.get("amount", ""))
    rows = value.get("close_data") or []
    if not isinstance(rows, list):
        raise EcpayInvalidResponse("ECPay's close_data is not a list")
    status = str(value.get("status", ""))
    refunded = sum(
        -_whole(r.get("amount", "0"))
        for r in rows
        if isinstance(r, dict)
        and r.get("status") in _CLOSE_ROWS_THAT_COUNT
        and _whole(r.get("amount", "0")) < 0
    )
    if status == VOIDED:
        refunded = amount
    return CreditDetail(status, amount, _whole(value.get("clsamt", "0")), refunded, value, latency_ms)


def _now() -> datetime:
    return datetime.now(UTC)


class EcpayClient:
    """Calls ECPay's server APIs for one merchant.

    `base_url`: e.g. `STAGE_BASE_URL`, `PRODUCTION_BASE_URL` or the sandbox's URL.
    `merchant_id`, `hash_key`, `hash_iv`: the merchant credentials (never logged).
    `transport`: an httpx transport for tests; None sends real HTTP.
    `timeout`: seconds for connect and for each read.
    `throttled_until`: a back-off persisted by the caller from an earlier `EcpayThrottled`, if any.
    """

    def __init__(
        self,
        base_url: str,
        merchant_id: str,
        hash_key: str,
        hash_iv: str,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 15.0,
        throttled_until: datetime | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.merchant_id = merchant_id
        self._hash_key = hash_key
        self._hash_iv = hash_iv
        self._http = httpx.Client(
            transport=transport, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))
        )
        self._lock = threading.Lock()
        self._throttled_until = throttled_until

    def __repr__(self) -> str:  # keys stay out of reprs, and so out of tracebacks and logs
        return f"EcpayClient(base_url={self.base_url!r}, merchant_id={self.merchant_id!r})"

    @property
    def throttled_until(self) -> datetime | None:
        """When queries may be sent again after a 403, or None when not throttled."""
        with self._lock:
            return self._throttled_until

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EcpayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, fields: dict[str, str], operation: str) -> tuple[httpx.Response, int]:
        started = time.monotonic()
        try:
            response = self._http.post(self.base_url + path, data=fields)
        except httpx.HTTPError as exc:
            trade = fields.get("MerchantTradeNo")
            log.warning("ECPay %s for %s failed: %s", operation, trade, type(exc).__name__)
            raise EcpayUnavailable(f"ECPay {operation} failed: {type(exc).__name__}") from exc
        latency_ms = int((time.monotonic() - started) * 1000)
        log.info(
            "ECPay %s for %s: HTTP %s in %d ms",
            operation,
            fields.get("MerchantTradeNo"),
            response.status_code,
            latency_ms,
        )
        return response, latency_ms

    def query_trade(self, merchant_trade_no: str, now: datetime | None = None) -> TradeQueryResult:
        """Ask ECPay for the state of one trade (QueryTradeInfo/V5).

        `merchant_trade_no`: the MerchantTradeNo we sent at checkout.
        `now`: the current time (aware); its unix seconds become the TimeStamp, valid 3 minutes at ECPay.
        Raises EcpayThrottled (also while an earlier back-off runs), EcpayUnavailable, EcpayInvalidResponse.
        """
        now = now or _now()
        with self._lock:
            if self._throttled_until is not None and now < self._throttled_until:
                raise EcpayThrottled(self._throttled_until, now)
        fields = {
            "MerchantID": self.merchant_id,
            "MerchantTradeNo": merchant_trade_no,
            "TimeStamp": str(int(now.timestamp())),
        }
        fields["CheckMacValue"] = check_mac_value(fields, self._hash_key, self._hash_iv)
        response, latency_ms = self._post(QUERY_PATH, fields, "query")
        if response.status_code == 403:
            until = now + THROTTLE_BACKOFF
            with self._lock:
                self._throttled_until = until
            raise EcpayThrottled(until, now)
        received = self._signed_fields(response, require_mac=True)
        if received.get("MerchantTradeNo") != merchant_trade_no:
            raise EcpayInvalidResponse(
                f"ECPay answered about trade {received.get('MerchantTradeNo')!r}, not {merchant_trade_no!r}"
            )
        amount = received.get("TradeAmt", "")
        trade_status = received.get("TradeStatus", "")
        return TradeQueryResult(
            merchant_trade_no=merchant_trade_no,
            status=TRADE_STATUS.get(trade_status, "unknown"),  # type: ignore[arg-type]
            trade_status=trade_status,
            amount_twd=int(amount) if amount.isdigit() else None,
            trade_no=received.get("TradeNo", ""),
            payment_type=received.get("PaymentType", ""),
            payment_date=received.get("PaymentDate", ""),
            fields=redact(received),
            latency_ms=latency_ms,
        )

    def do_action(self, merchant_trade_no: str, trade_no: str, action: Action, amount: int) -> DoActionResult:
        """Refund (R), void (N), capture (C) or cancel a capture (E) of a credit-card trade.

        `trade_no`: ECPay's TradeNo from the notification or the query. `amount`: whole TWD (partial refunds
        allowed). Raises EcpayUnavailable when the outcome is unknown, EcpayInvalidResponse for a bad answer.
        """
        if action not in ("R", "N", "C", "E"):
            raise ValueError(f"DoAction Action must be R, N, C or E, got {action!r}")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValueError(f"amount must be a positive whole number of TWD, got {amount!r}")
        fields = {
            "MerchantID": self.merchant_id,
            "MerchantTradeNo": merchant_trade_no,
            "TradeNo": trade_no,
            "Action": action,
            "TotalAmount": str(amount),
        }
        fields["CheckMacValue"] = check_mac_value(fields, self._hash_key, self._hash_iv)
        response, latency_ms = self._post(DO_ACTION_PATH, fields, f"DoAction {action}")
        # DoAction answers are not always signed; a MAC that is present must verify
        received = self._signed_fields(response, require_mac=False)
        rtn_code = received.get("RtnCode", "")
        return DoActionResult(
            ok=rtn_code == "1",
            rtn_code=rtn_code,
            rtn_msg=received.get("RtnMsg", ""),
            fields=redact(received),
            latency_ms=latency_ms,
        )

    def query_credit_detail(self, credit_refund_id: str, amount: int, check_code: str) -> CreditDetail:
        """What ECPay did with one card trade: its closings and refunds (CreditDetail/QueryTrade/V2).

        `credit_refund_id`: the authorisation number (gwsr, from QueryTradeInfo or NeedExtraPaidInfo).
        `amount`: the authorised amount. `check_code`: the merchant's CreditCheckCode from ECPay's back office.
        Raises EcpayThrottled (403), EcpayUnavailable, EcpayInvalidResponse (an error answer).
        """
        now = _now()
        with self._lock:
            if self._throttled_until is not None and now < self._throttled_until:
                raise EcpayThrottled(self._throttled_until, now)
        fields = {
            "MerchantID": self.merchant_id,
            "CreditRefundId": credit_refund_id,
            "CreditAmount": str(amount),
            "CreditCheckCode": check_code,
        }
        fields["CheckMacValue"] = check_mac_value(fields, self._hash_key, self._hash_iv)
        response, latency_ms = self._post(CREDIT_DETAIL_PATH, fields, "credit detail")
        if response.status_code == 403:
            until = now + THROTTLE_BACKOFF
            with self._lock:
                self._throttled_until = until
            raise EcpayThrottled(until, now)
        if response.status_code >= 500:
            raise EcpayUnavailable(f"ECPay answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise EcpayInvalidResponse(f"ECPay answered HTTP {response.status_code}")
        return parse_credit_detail(response.content.decode("utf-8", errors="replace"), latency_ms)

    def _signed_fields(self, response: httpx.Response, *, require_mac: bool) -> dict[str, str]:
        if response.status_code >= 500:
            raise EcpayUnavailable(f"ECPay answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise EcpayInvalidResponse(f"ECPay answered HTTP {response.status_code}")
        body = response.content.decode("utf-8", errors="replace")
        received = parse_query_response(body)
        signed = MAC_FIELD in received
        if (signed or require_mac) and not verify_check_mac_value(received, self._hash_key, self._hash_iv):
            # an unsigned body is an error text from ECPay (e.g. "CheckMacValue Error"): worth keeping
            snippet = "(signed body)" if signed else body[:_BODY_SNIPPET]
            raise EcpayInvalidResponse(f"ECPay answer has no valid CheckMacValue: {snippet}")
        return received
