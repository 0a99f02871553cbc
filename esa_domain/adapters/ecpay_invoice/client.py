"""ECPay's B2C e-invoice API (電子發票 B2C, developers.ecpay.com.tw ?p=7809): Issue, GetIssue, Allowance,
AllowanceInvalid, Invalid, CheckBarcode, CheckLoveCode.

Every call is one POST of JSON `{"MerchantID", "RqHeader": {"Timestamp", "Revision": "3.0.0"}, "Data"}` where
Data is the business payload, URL-encoded then AES-128-CBC encrypted with the merchant's HashKey/HashIV
(esa_domain.adapters.ecpay.codec.aes_encrypt). The answer is `{"MerchantID", "RpHeader", "TransCode",
"TransMsg", "Data"}`: TransCode 1 means ECPay read the request, and its Data (decrypted) carries RtnCode/RtnMsg
and the operation's fields; TransCode other than 1 means the request was not processed (nothing was done).

Outcomes: a network failure, a timeout, HTTP 5xx or an answer that cannot be decrypted raise InvoiceUnavailable
(the outcome is unknown: ask with GetIssue before anything is sent again); HTTP 403 raises InvoiceThrottled
(ECPay's documented rate limit: wait 30 minutes). Everything else is a typed result carrying the exchange (the
Data as sent and as answered, never the keys) for the record.

Sync httpx, like esa_domain.adapters.ecpay.client: the base URL decides stage, production or the sandbox.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from esa_domain.adapters.ecpay.codec import aes_decrypt, aes_encrypt

log = logging.getLogger(__name__)

STAGE_BASE_URL = "https://einvoice-stage.ecpay.com.tw"
PRODUCTION_BASE_URL = "https://einvoice.ecpay.com.tw"
# ECPay's published stage merchant for e-invoices (ECPay/SDK_PHP example/Invoice/B2C/*.php; the B2C guide's
# 測試介接資訊, developers.ecpay.com.tw ?p=7849). Production refuses these (esa_domain/infra/production.py).
STAGE_MERCHANT_ID = "2000132"
STAGE_HASH_KEY = "ejCk326UnaZWKisg"
STAGE_HASH_IV = "q9jcZX8Ib9LM8wYk"
REVISION = "3.0.0"

ISSUE, GET_ISSUE, ALLOWANCE, ALLOWANCE_INVALID, INVALID = (
    "/B2CInvoice/Issue",
    "/B2CInvoice/GetIssue",
    "/B2CInvoice/Allowance",
    "/B2CInvoice/AllowanceInvalid",
    "/B2CInvoice/Invalid",
)
CHECK_BARCODE, CHECK_LOVE_CODE = "/B2CInvoice/CheckBarcode", "/B2CInvoice/CheckLoveCode"

RTN_OK = 1
# Issue: "RelateNumber already used" (自訂編號重複): an earlier Issue with it got through. ECPay lists its e-invoice
# error codes only in the merchant back office (developers.ecpay.com.tw/?p=13853); 5070357 is the code a merchant's
# ECPay Magento 2 module reads as this, and then reads the invoice with GetIssue by RelateNumber (as ?p=7923
# 情境一 documents). The RtnMsg is read too, in both of its spellings, should the code differ.
RTN_DUPLICATE_RELATE_NUMBER = 5070357
_DUPLICATE_WORDS = ("自訂編號重複", "自訂編號重覆")


class InvoiceError(Exception):
    """Base class of what this client raises."""

    def __init__(self, message: str, exchange: Exchange | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange


class InvoiceUnavailable(InvoiceError):
    """No trustworthy answer (network, timeout, 5xx, undecryptable): the outcome is unknown; ask again later."""


class InvoiceThrottled(InvoiceUnavailable):
    """HTTP 403: calls came too fast; ECPay asks to wait 30 minutes."""


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as they may be stored (no keys; Data as plain JSON both ways)."""

    operation: str  # Issue, GetIssue, ...
    request: dict[str, Any]
    response: dict[str, Any] | None
    http_status: int | None
    trans_code: int | None
    rtn_code: int | None
    latency_ms: int

    def record(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "request_json": self.request,
            "response_json": self.response,
            "http_status": self.http_status,
            "trans_code": self.trans_code,
            "rtn_code": self.rtn_code,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True)
class Answer:
    """ECPay's answer to one call: TransCode, and RtnCode/RtnMsg with the decrypted Data."""

    trans_code: int
    trans_msg: str
    rtn_code: int | None  # None when TransCode is not 1 (Data not processed)
    rtn_msg: str
    data: dict[str, Any]
    exchange: Exchange

    @property
    def ok(self) -> bool:
        return self.trans_code == 1 and self.rtn_code == RTN_OK

    @property
    def text(self) -> str:
        """RtnCode/RtnMsg (or TransCode/TransMsg) in one short line, for the record."""
        if self.rtn_code is None:
            return f"TransCode {self.trans_code}: {self.trans_msg}"[:200]
        return f"{self.rtn_code}: {self.rtn_msg}"[:200]


@dataclass(frozen=True)
class IssueResult:
    answer: Answer
    invoice_no: str = ""
    invoice_date: str = ""
    random_number: str = ""

    @property
    def ok(self) -> bool:
        return self.answer.ok and bool(self.invoice_no)

    @property
    def duplicate(self) -> bool:
        if self.answer.rtn_code == RTN_DUPLICATE_RELATE_NUMBER:
            return True
        return self.answer.trans_code == 1 and any(w in self.answer.rtn_msg for w in _DUPLICATE_WORDS)


@dataclass(frozen=True)
class IssuedInvoice:
    """GetIssue's answer about one invoice (IIS_* fields)."""

    invoice_no: str
    relate_number: str
    invoice_date: str
    random_number: str
    sales_amount: int
    invalid: bool  # IIS_Invalid_Status == "1"
    remain_allowance: int  # IIS_Remain_Allowance_Amt


@dataclass(frozen=True)
class QueryResult:
    answer: Answer
    invoice: IssuedInvoice | None = None  # None: ECPay has no such invoice (a definite "not issued")


@dataclass(frozen=True)
class AllowanceResult:
    answer: Answer
    allowance_no: str = ""
    remain: int | None = None

    @property
    def ok(self) -> bool:
        return self.answer.ok and bool(self.allowance_no)


@dataclass(frozen=True)
class CheckResult:
    answer: Answer
    exists: bool = False  # IsExist == "Y"


@dataclass(frozen=True)
class Line:
    """One invoice line: whole TWD, tax included."""

    name: str
    price: int
    count: int = 1
    word: str = "筆"  # the unit (ItemWord)
    remark: str = ""


@dataclass(frozen=True)
class IssueRequest:
    relate_number: str
    amount: int  # SalesAmount, tax included (vat=1)
    lines: tuple[Line, ...]
    carrier_type: str = ""  # "" none | "1" ECPay member carrier | "3" mobile barcode
    carrier_num: str = ""
    love_code: str = ""  # donation: Donation=1, no carrier, never printed
    customer_email: str = ""
    customer_phone: str = ""
    remark: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def data(self, merchant_id: str) -> dict[str, Any]:
        """The Issue Data (B2C, 應稅 TaxType 1, 一般稅額 InvType 07, prices tax included vat 1)."""
        if sum(line.price * line.count for line in self.lines) != self.amount:
            raise ValueError("the invoice lines do not add up to its amount")
        donation = bool(self.love_code)
        # the field order of ECPay's own example (developers.ecpay.com.tw 電子發票示範): the AES blocks then match
        data: dict[str, Any] = {
            "MerchantID": merchant_id,
            "RelateNumber": self.relate_number,
            "CustomerID": "",
            "CustomerIdentifier": "",
            "CustomerName": "",
            "CustomerAddr": "",
            "CustomerPhone": self.customer_phone,
            "CustomerEmail": self.customer_email,
            "ClearanceMark": "",
            "Print": "0",
            "Donation": "1" if donation else "0",
            "LoveCode": self.love_code,
            "CarrierType": "" if donation else self.carrier_type,
            "CarrierNum": "" if donation else self.carrier_num,
            "TaxType": "1",
            "SalesAmount": self.amount,
            "InvoiceRemark": self.remark,
            "InvType": "07",
            "vat": "1",
            "Items": [
                {
                    "ItemSeq": n,
                    "ItemName": line.name[:100],
                    "ItemCount": line.count,
                    "ItemWord": line.word,
                    "ItemPrice": line.price,
                    "ItemTaxType": "1",
                    "ItemAmount": line.price * line.count,
                    "ItemRemark": line.remark,
                }
                for n, line in enumerate(self.lines, start=1)
            ],
        }
        data.update(self.extra)  # a field given here keeps its place
        return data


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


class EcpayInvoiceClient:
    """Calls ECPay's B2C e-invoice API for one merchant (keys never logged, never stored)."""

    def __init__(
        self,
        base_url: str,
        merchant_id: str,
        hash_key: str,
        hash_iv: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.merchant_id = merchant_id
        self._hash_key = hash_key
        self._hash_iv = hash_iv
        self._http = httpx.Client(
            transport=transport, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))
        )

    def __repr__(self) -> str:  # keys stay out of reprs, tracebacks and logs
        return f"EcpayInvoiceClient(base_url={self.base_url!r}, merchant_id={self.merchant_id!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EcpayInvoiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the envelope ---------------------------------------------------------------------------------

    def envelope(self, data: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
        """The JSON body posted for `data` (Data encrypted)."""
        stamp = int((now or datetime.now(UTC)).timestamp())
        return {
            "MerchantID": self.merchant_id,
            "RqHeader": {"Timestamp": stamp, "Revision": REVISION},
            "Data": aes_encrypt(data, self._hash_key, self._hash_iv),
        }

    def call(self, path: str, data: dict[str, Any]) -> Answer:
        """POST `data` to `path`; the decrypted answer. Raises InvoiceUnavailable / InvoiceThrottled."""
        operation = path.rsplit("/", 1)[-1]
        body = self.envelope(data)
        started = time.monotonic()

        def exchange(
            response: dict[str, Any] | None, status: int | None, trans: int | None, rtn: int | None
        ) -> Exchange:
            return Exchange(
                operation, dict(data), response, status, trans, rtn, int((time.monotonic() - started) * 1000)
            )

        try:
            response = self._http.post(self.base_url + path, json=body)
        except httpx.HTTPError as exc:
            log.warning("ECPay e-invoice %s failed: %s", operation, type(exc).__name__)
            raise InvoiceUnavailable(
                f"ECPay e-invoice {operation}: {type(exc).__name__}",
                exchange({"error": type(exc).__name__}, None, None, None),
            ) from exc
        status = response.status_code
        if status == 403:
            raise InvoiceThrottled(
                f"ECPay e-invoice {operation}: HTTP 403 (too fast)", exchange(None, status, None, None)
            )
        if status != 200:
            raise InvoiceUnavailable(
                f"ECPay e-invoice {operation}: HTTP {status}",
                exchange({"body": response.text[:200]}, status, None, None),
            )
        try:
            outer = response.json()
            trans_code = _int(outer.get("TransCode"), -1)
            trans_msg = str(outer.get("TransMsg") or "")
            decrypted: dict[str, Any] = {}
            if trans_code == 1:
                decrypted = aes_decrypt(str(outer.get("Data") or ""), self._hash_key, self._hash_iv)
        except (ValueError, AttributeError) as exc:
            raise InvoiceUnavailable(
                f"ECPay e-invoice {operation}: an answer that cannot be read",
                exchange({"body": response.text[:200]}, status, None, None),
            ) from exc
        rtn_code = _int(decrypted.get("RtnCode"), -1) if trans_code == 1 else None
        stored = {"TransCode": trans_code, "TransMsg": trans_msg, "Data": decrypted}
        answer = Answer(
            trans_code,
            trans_msg,
            rtn_code,
            str(decrypted.get("RtnMsg") or ""),
            decrypted,
            exchange(stored, status, trans_code, rtn_code),
        )
        log.info("ECPay e-invoice %s: %s in %d ms", operation, answer.text, answer.exchange.latency_ms)
        return answer

    # ---- operations -----------------------------------------------------------------------------------

    def issue(self, request: IssueRequest) -> IssueResult:
        """開立發票 (B2CInvoice/Issue). A duplicate RelateNumber (result.duplicate) means it was issued before."""
        answer = self.call(ISSUE, request.data(self.merchant_id))
        d = answer.data
        if not answer.ok:
            return IssueResult(answer)
        return IssueResult(
            answer,
            str(d.get("InvoiceNo") or ""),
            str(d.get("InvoiceDate") or ""),
            str(d.get("RandomNumber") or ""),
        )

    def get_issue(
        self, *, relate_number: str = "", invoice_no: str = "", invoice_date: str = ""
    ) -> QueryResult:
        """查詢發票明細 (B2CInvoice/GetIssue) by our RelateNumber, or by InvoiceNo and InvoiceDate."""
        data: dict[str, Any] = {"MerchantID": self.merchant_id}
        if relate_number:
            data["RelateNumber"] = relate_number
        else:
            data.update(InvoiceNo=invoice_no, InvoiceDate=invoice_date[:10])
        answer = self.call(GET_ISSUE, data)
        d = answer.data
        if not answer.ok or not d.get("IIS_Number"):
            return QueryResult(answer)
        return QueryResult(
            answer,
            IssuedInvoice(
                invoice_no=str(d["IIS_Number"]),
                relate_number=str(d.get("IIS_Relate_Number") or ""),
                invoice_date=str(d.get("IIS_Create_Date") or ""),
                random_number=str(d.get("IIS_Random_Number") or ""),
                sales_amount=_int(d.get("IIS_Sales_Amount")),
                invalid=str(d.get("IIS_Invalid_Status") or "0") == "1",
                remain_allowance=_int(d.get("IIS_Remain_Allowance_Amt")),
            ),
        )

    def allowance(
        self,
        *,
        invoice_no: str,
        invoice_date: str,
        amount: int,
        lines: tuple[Line, ...],
        notify_email: str = "",
    ) -> AllowanceResult:
        """一般開立折讓 (B2CInvoice/Allowance): part of an issued invoice given back, tax included."""
        if sum(line.price * line.count for line in lines) != amount:
            raise ValueError("the allowance lines do not add up to its amount")
        data = {
            "MerchantID": self.merchant_id,
            "InvoiceNo": invoice_no,
            "InvoiceDate": invoice_date[:10],
            "AllowanceNotify": "E" if notify_email else "N",
            "CustomerName": "",
            "NotifyMail": notify_email,
            "NotifyPhone": "",
            "AllowanceAmount": amount,
            "Items": [
                {
                    "ItemSeq": n,
                    "ItemName": line.name[:100],
                    "ItemCount": line.count,
                    "ItemWord": line.word,
                    "ItemPrice": line.price,
                    "ItemTaxType": "1",
                    "ItemAmount": line.price * line.count,
                }
                for n, line in enumerate(lines, start=1)
            ],
        }
        answer = self.call(ALLOWANCE, data)
        d = answer.data
        if not answer.ok:
            return AllowanceResult(answer)
        remain = d.get("IA_Remain_Allowance_Amt")
        return AllowanceResult(
            answer, str(d.get("IA_Allow_No") or ""), None if remain is None else _int(remain)
        )

    def invalid(self, *, invoice_no: str, invoice_date: str, reason: str) -> Answer:
        """作廢發票 (B2CInvoice/Invalid)."""
        return self.call(
            INVALID,
            {
                "MerchantID": self.merchant_id,
                "InvoiceNo": invoice_no,
                "InvoiceDate": invoice_date[:10],
                "Reason": reason[:20],
            },
        )

    def allowance_invalid(self, *, invoice_no: str, allowance_no: str, reason: str) -> Answer:
        """作廢折讓 (B2CInvoice/AllowanceInvalid)."""
        return self.call(
            ALLOWANCE_INVALID,
            {
                "MerchantID": self.merchant_id,
                "InvoiceNo": invoice_no,
                "AllowanceNo": allowance_no,
                "Reason": reason[:20],
            },
        )

    def check_barcode(self, barcode: str) -> CheckResult:
        """手機條碼驗證 (B2CInvoice/CheckBarcode): IsExist Y/N."""
        answer = self.call(CHECK_BARCODE, {"MerchantID": self.merchant_id, "BarCode": barcode})
        return CheckResult(answer, answer.ok and str(answer.data.get("IsExist", "")).upper() == "Y")

    def check_love_code(self, love_code: str) -> CheckResult:
        """捐贈碼驗證 (B2CInvoice/CheckLoveCode): IsExist Y/N."""
        answer = self.call(CHECK_LOVE_CODE, {"MerchantID": self.merchant_id, "LoveCode": love_code})
        return CheckResult(answer, answer.ok and str(answer.data.get("IsExist", "")).upper() == "Y")
