"""A simulator of ECPay's B2C e-invoice API (電子發票 B2C, developers.ecpay.com.tw ?p=7809) for the demo and the
tests, following the published envelope and rules:

- POST JSON {"MerchantID", "RqHeader": {"Timestamp", ...}, "Data"}; Data is the URL-encoded JSON payload
  encrypted with AES-128-CBC (PKCS7) under the merchant's HashKey/HashIV and base64'd. It answers
  {"MerchantID", "RpHeader": {"Timestamp"}, "TransCode", "TransMsg", "Data"} with Data encrypted the same way
  and carrying RtnCode / RtnMsg and the operation's fields. The AES here is written independently of ESA's
  codec (PHP urlencode, as ECPay's SDK), so agreement is a cross-check.
- TransCode other than 1: the envelope could not be read (another merchant, Data that does not decrypt).
- Issue: RelateNumber unique for the merchant, letters compared without case (the guide: 123abc = 123ABC):
  a second use answers RTN_DUPLICATE (5070357, 自訂編號重複, as ECPay's Magento module reads it); SalesAmount must
  equal the items' total; a mobile barcode (CarrierType 3) must exist (DEMO_BARCODES), a love code
  (Donation 1) too (DEMO_LOVE_CODES); a donated or carrier invoice is never printed; an e-mail or phone is
  required. Answers InvoiceNo (2 letters, 8 digits), InvoiceDate, RandomNumber (4 digits).
- GetIssue by RelateNumber (or InvoiceNo + InvoiceDate): IIS_* fields; unknown: RTN_NOT_FOUND.
- Allowance: AllowanceAmount at most what remains of the invoice (else RTN_ALLOWANCE_OVER), items must add
  up; answers IA_Allow_No (16 digits), IA_Invoice_No, IA_Date, IA_Remain_Allowance_Amt.
- Invalid: only inside the allowed period (until the 13th, 23:59:59, of the month after the invoice's two-month
  period, Asia/Taipei; esa_domain.invoicing.period documents the rule), only with no standing allowance
  (invalidate those first), never a donated invoice: else RTN_INVALID_PERIOD / RTN_HAS_ALLOWANCE / RTN_DONATED.
- CheckBarcode / CheckLoveCode: IsExist Y or N.

Control routes under /_sandbox: the ledger (GET /_sandbox/ledger), failures to inject (POST
/_sandbox/failures: the next calls of an operation answer HTTP 500 before or after doing it), slow answers (POST
/_sandbox/delays: an operation answers seconds after doing it), the clock (POST /_sandbox/clock) and reset.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus
from zoneinfo import ZoneInfo

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad, unpad
from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse

TAIPEI = ZoneInfo("Asia/Taipei")
MERCHANT_ID, HASH_KEY, HASH_IV = "2000132", "ejCk326UnaZWKisg", "q9jcZX8Ib9LM8wYk"  # ECPay's stage merchant

# mobile barcodes and love codes the simulated Ministry of Finance knows; others are answered IsExist N
DEMO_BARCODES = frozenset({"/ABC+123", "/1234567", "/TEST123", "/ESA.2026", "/QWE-RTY"})
DEMO_LOVE_CODES = frozenset({"168001", "919", "51811", "8585", "25885"})

RTN_OK = 1
RTN_DUPLICATE = 5070357  # 自訂編號重複 (RelateNumber used before)
# the simulator's codes for the other documented refusals (ECPay answers RtnCode != 1 with an RtnMsg)
RTN_BAD_DATA = 9000001  # a required field missing or malformed
RTN_AMOUNT = 9000002  # SalesAmount differs from the items' total
RTN_BAD_CARRIER = 9000003  # a mobile barcode the MOF does not know
RTN_BAD_LOVE_CODE = 9000004  # a love code that does not exist
RTN_NOT_FOUND = 9000005  # no such invoice
RTN_ALLOWANCE_OVER = 9000006  # the allowance exceeds what remains of the invoice
RTN_INVALID_PERIOD = 9000007  # invalidation after the allowed period
RTN_HAS_ALLOWANCE = 9000008  # the invoice has standing allowances: invalidate them first
RTN_ALREADY_INVALID = 9000009  # the invoice is invalidated already
RTN_DONATED = 9000010  # a donated invoice cannot be invalidated (the B2C guide's 法規提醒: 捐贈發票不可作廢)
TRANS_OK, TRANS_BAD = 1, 9999
TIMESTAMP_WINDOW_S = 600  # a request's RqHeader.Timestamp is valid 10 minutes


def _php_urlencode(text: str) -> str:
    return quote_plus(text, safe="", encoding="utf-8").replace("~", "%7E")


def encrypt(payload: dict[str, Any], key: str = HASH_KEY, iv: str = HASH_IV) -> str:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    cipher = AES.new(key.encode(), AES.MODE_CBC, iv=iv.encode())
    return base64.b64encode(cipher.encrypt(pad(_php_urlencode(text).encode("ascii"), 16))).decode("ascii")


def decrypt(data: str, key: str = HASH_KEY, iv: str = HASH_IV) -> dict[str, Any]:
    cipher = AES.new(key.encode(), AES.MODE_CBC, iv=iv.encode())
    plain = unpad(cipher.decrypt(base64.b64decode(data, validate=True)), 16).decode("utf-8")
    decoded = json.loads(unquote_plus(plain))
    if not isinstance(decoded, dict):
        raise ValueError("not an object")
    return decoded


def invalidation_deadline(issued: datetime) -> datetime:
    """The end of the period in which an invoice may be invalidated: 00:00 (Taipei) on the 14th of the month
    after its two-month period (developers.ecpay.com.tw/?p=7906: not after the 13th, 23:59:59)."""
    local = issued.astimezone(TAIPEI)
    period_end_month = local.month + (local.month % 2)  # 2, 4, ..., 12
    month, year = period_end_month + 1, local.year
    if month > 12:
        month, year = 1, year + 1
    return datetime(year, month, 14, tzinfo=TAIPEI)


@dataclass
class Allowance:
    allowance_no: str
    amount: int
    items: list[dict[str, Any]]
    at: str
    invalid: bool = False


@dataclass
class Issued:
    invoice_no: str
    relate_number: str
    invoice_date: str
    random_number: str
    sales_amount: int
    items: list[dict[str, Any]]
    carrier_type: str
    carrier_num: str
    love_code: str
    issued_at: float
    invalid: bool = False
    invalid_reason: str = ""
    allowances: list[Allowance] = field(default_factory=list)

    @property
    def remain(self) -> int:
        return self.sales_amount - sum(a.amount for a in self.allowances if not a.invalid)


@dataclass
class InvoiceSimulator:
    merchant_id: str = MERCHANT_ID
    hash_key: str = HASH_KEY
    hash_iv: str = HASH_IV
    invoices: dict[str, Issued] = field(default_factory=dict)  # by InvoiceNo
    by_relate: dict[str, str] = field(default_factory=dict)  # upper-cased RelateNumber -> InvoiceNo
    requests: list[dict[str, Any]] = field(default_factory=list)  # every call: operation, Data, RtnCode
    failures: dict[str, list[str]] = field(default_factory=dict)  # operation -> ["before" | "after", ...]
    clock_offset_s: float = 0.0
    delays: dict[str, float] = field(default_factory=dict)  # operation -> seconds its answer waits, once done
    lock: threading.Lock = field(default_factory=threading.Lock)
    _numbers: Any = field(default_factory=lambda: itertools.count(10000001))

    def now(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.clock_offset_s, TAIPEI)

    def reset(self) -> None:
        with self.lock:
            self.invoices.clear()
            self.by_relate.clear()
            self.requests.clear()
            self.failures.clear()
            self.delays.clear()
            self.clock_offset_s = 0.0

    def ledger(self) -> dict[str, Any]:
        with self.lock:
            return {
                "invoices": [asdict(i) | {"remain": i.remain} for i in self.invoices.values()],
                "requests": list(self.requests),
            }

    # ---- operations ---------------------------------------------------------------------------------

    def issue(self, d: dict[str, Any]) -> dict[str, Any]:
        relate = str(d.get("RelateNumber") or "")
        if not relate or len(relate) > 30:
            return _err(RTN_BAD_DATA, "RelateNumber 格式錯誤")
        if relate.upper() in self.by_relate:
            return _err(RTN_DUPLICATE, "自訂編號重複")
        items = d.get("Items") or []
        if not isinstance(items, list) or not items:
            return _err(RTN_BAD_DATA, "Items 不可為空")
        try:
            amount = int(d.get("SalesAmount"))
            total = sum(int(i["ItemAmount"]) for i in items)
            if any(int(i["ItemPrice"]) * int(i["ItemCount"]) != int(i["ItemAmount"]) for i in items):
                return _err(RTN_AMOUNT, "ItemAmount 與 ItemPrice * ItemCount 不符")
        except (KeyError, TypeError, ValueError):
            return _err(RTN_BAD_DATA, "金額格式錯誤")
        if amount <= 0 or amount != total:
            return _err(RTN_AMOUNT, "SalesAmount 與商品合計不符")
        if str(d.get("TaxType")) not in ("1", "2", "3", "9") or str(d.get("InvType")) not in ("07", "08"):
            return _err(RTN_BAD_DATA, "TaxType 或 InvType 錯誤")
        if not (d.get("CustomerEmail") or d.get("CustomerPhone")):
            return _err(RTN_BAD_DATA, "CustomerEmail 與 CustomerPhone 至少填一個")
        donation = str(d.get("Donation") or "0") == "1"
        printed = str(d.get("Print") or "0") == "1"
        carrier_type, carrier_num = str(d.get("CarrierType") or ""), str(d.get("CarrierNum") or "")
        love = str(d.get("LoveCode") or "")
        if donation:
            if printed or carrier_type:
                return _err(RTN_BAD_DATA, "捐贈發票不可列印、不可使用載具")
            if love not in DEMO_LOVE_CODES:
                return _err(RTN_BAD_LOVE_CODE, "捐贈碼不存在")
        elif carrier_type:
            if printed:
                return _err(RTN_BAD_DATA, "使用載具不可列印")
            if carrier_type == "3" and carrier_num not in DEMO_BARCODES:
                return _err(RTN_BAD_CARRIER, "手機條碼載具不存在")
            if carrier_type == "1" and carrier_num:
                return _err(RTN_BAD_DATA, "綠界會員載具 CarrierNum 需為空")
            if carrier_type not in ("1", "2", "3"):
                return _err(RTN_BAD_DATA, "CarrierType 錯誤")
        elif not printed:
            return _err(RTN_BAD_DATA, "無載具且不捐贈須列印")
        number = next(self._numbers)
        now = self.now()
        invoice = Issued(
            invoice_no=f"ZZ{number:08d}",
            relate_number=relate,
            invoice_date=now.strftime("%Y-%m-%d %H:%M:%S"),
            random_number=f"{random.randrange(10000):04d}",
            sales_amount=amount,
            items=items,
            carrier_type=carrier_type,
            carrier_num=carrier_num,
            love_code=love,
            issued_at=now.timestamp(),
        )
        self.invoices[invoice.invoice_no] = invoice
        self.by_relate[relate.upper()] = invoice.invoice_no
        return {
            "RtnCode": RTN_OK,
            "RtnMsg": "開立發票成功",
            "InvoiceNo": invoice.invoice_no,
            "InvoiceDate": invoice.invoice_date,
            "RandomNumber": invoice.random_number,
        }

    def _find(self, d: dict[str, Any]) -> Issued | None:
        relate = str(d.get("RelateNumber") or "")
        if relate:
            number = self.by_relate.get(relate.upper())
            return self.invoices.get(number) if number else None
        invoice = self.invoices.get(str(d.get("InvoiceNo") or ""))
        if invoice is None or invoice.invoice_date[:10] != str(d.get("InvoiceDate") or "")[:10]:
            return None
        return invoice

    def get_issue(self, d: dict[str, Any]) -> dict[str, Any]:
        invoice = self._find(d)
        if invoice is None:
            return _err(RTN_NOT_FOUND, "查無發票資料")
        return {
            "RtnCode": RTN_OK,
            "RtnMsg": "查詢成功",
            "IIS_Mer_ID": self.merchant_id,
            "IIS_Number": invoice.invoice_no,
            "IIS_Relate_Number": invoice.relate_number,
            "IIS_Create_Date": invoice.invoice_date,
            "IIS_Random_Number": invoice.random_number,
            "IIS_Sales_Amount": invoice.sales_amount,
            "IIS_Tax_Type": "1",
            "IIS_Carrier_Type": invoice.carrier_type,
            "IIS_Carrier_Num": invoice.carrier_num,
            "IIS_Love_Code": invoice.love_code,
            "IIS_Invalid_Status": "1" if invoice.invalid else "0",
            "IIS_Remain_Allowance_Amt": invoice.remain,
            "IIS_Upload_Status": "1",
            "Items": invoice.items,
        }

    def allowance(self, d: dict[str, Any]) -> dict[str, Any]:
        invoice = self._find({"InvoiceNo": d.get("InvoiceNo"), "InvoiceDate": d.get("InvoiceDate")})
        if invoice is None:
            return _err(RTN_NOT_FOUND, "查無發票資料")
        if invoice.invalid:
            return _err(RTN_ALREADY_INVALID, "發票已作廢")
        try:
            amount = int(d.get("AllowanceAmount"))
            items = list(d.get("Items") or [])
            total = sum(int(i["ItemAmount"]) for i in items)
        except (KeyError, TypeError, ValueError):
            return _err(RTN_BAD_DATA, "金額格式錯誤")
        if amount <= 0 or not items or total != amount:
            return _err(RTN_AMOUNT, "AllowanceAmount 與商品合計不符")
        if amount > invoice.remain:
            return _err(RTN_ALLOWANCE_OVER, "折讓金額超過發票剩餘可折讓金額")
        now = self.now()
        allowance = Allowance(
            now.strftime("%Y%m%d%H%M%S") + f"{len(invoice.allowances) + 1:02d}",
            amount,
            items,
            now.strftime("%Y-%m-%d %H:%M:%S"),
        )
        invoice.allowances.append(allowance)
        return {
            "RtnCode": RTN_OK,
            "RtnMsg": "開立折讓成功",
            "IA_Allow_No": allowance.allowance_no,
            "IA_Invoice_No": invoice.invoice_no,
            "IA_Date": allowance.at,
            "IA_Remain_Allowance_Amt": invoice.remain,
        }

    def invalid(self, d: dict[str, Any]) -> dict[str, Any]:
        invoice = self._find({"InvoiceNo": d.get("InvoiceNo"), "InvoiceDate": d.get("InvoiceDate")})
        if invoice is None:
            return _err(RTN_NOT_FOUND, "查無發票資料")
        if not str(d.get("Reason") or "").strip():
            return _err(RTN_BAD_DATA, "作廢原因不可為空")
        if invoice.invalid:
            return _err(RTN_ALREADY_INVALID, "發票已作廢")
        if invoice.love_code:
            return _err(RTN_DONATED, "捐贈發票不可作廢")
        if any(not a.invalid for a in invoice.allowances):
            return _err(RTN_HAS_ALLOWANCE, "發票已有折讓，請先作廢折讓")
        issued = datetime.fromtimestamp(invoice.issued_at, TAIPEI)
        if self.now() >= invalidation_deadline(issued):
            return _err(RTN_INVALID_PERIOD, "已超過可作廢期限")
        invoice.invalid, invoice.invalid_reason = True, str(d["Reason"])
        return {"RtnCode": RTN_OK, "RtnMsg": "作廢發票成功", "InvoiceNo": invoice.invoice_no}

    def allowance_invalid(self, d: dict[str, Any]) -> dict[str, Any]:
        invoice = self.invoices.get(str(d.get("InvoiceNo") or ""))
        allowance = next(
            (a for a in (invoice.allowances if invoice else []) if a.allowance_no == d.get("AllowanceNo")),
            None,
        )
        if invoice is None or allowance is None:
            return _err(RTN_NOT_FOUND, "查無折讓資料")
        if allowance.invalid:
            return _err(RTN_ALREADY_INVALID, "折讓已作廢")
        allowance.invalid = True
        return {"RtnCode": RTN_OK, "RtnMsg": "作廢折讓成功", "IA_Allow_No": allowance.allowance_no}

    def check_barcode(self, d: dict[str, Any]) -> dict[str, Any]:
        code = str(d.get("BarCode") or "")
        if len(code) != 8 or not code.startswith("/"):
            return _err(RTN_BAD_DATA, "BarCode 格式錯誤")
        return {"RtnCode": RTN_OK, "RtnMsg": "執行成功", "IsExist": "Y" if code in DEMO_BARCODES else "N"}

    def check_love_code(self, d: dict[str, Any]) -> dict[str, Any]:
        code = str(d.get("LoveCode") or "")
        if not code.isdigit() or not 3 <= len(code) <= 7:
            return _err(RTN_BAD_DATA, "LoveCode 格式錯誤")
        return {"RtnCode": RTN_OK, "RtnMsg": "執行成功", "IsExist": "Y" if code in DEMO_LOVE_CODES else "N"}


def _err(code: int, message: str) -> dict[str, Any]:
    return {"RtnCode": code, "RtnMsg": message}


_OPERATIONS = {
    "Issue": InvoiceSimulator.issue,
    "GetIssue": InvoiceSimulator.get_issue,
    "Allowance": InvoiceSimulator.allowance,
    "Invalid": InvoiceSimulator.invalid,
    "AllowanceInvalid": InvoiceSimulator.allowance_invalid,
    "CheckBarcode": InvoiceSimulator.check_barcode,
    "CheckLoveCode": InvoiceSimulator.check_love_code,
}


def create_ecpay_invoice_sandbox(sim: InvoiceSimulator | None = None) -> FastAPI:
    """The simulator app: /B2CInvoice/<operation> and /_sandbox/... (mounted under /einvoice in the demo)."""
    sim = sim or InvoiceSimulator()
    app = FastAPI(
        title="ECPay e-invoice sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json"
    )
    app.state.simulator = sim

    @app.post("/B2CInvoice/{operation}")
    async def call(operation: str, request: Request) -> JSONResponse:
        handler = _OPERATIONS.get(operation)
        if handler is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        stamp = int(sim.now().timestamp())

        def answer(trans_code: int, trans_msg: str, data: dict[str, Any] | None) -> JSONResponse:
            body = {
                "MerchantID": sim.merchant_id,
                "RpHeader": {"Timestamp": stamp},
                "TransCode": trans_code,
                "TransMsg": trans_msg,
                "Data": encrypt(data, sim.hash_key, sim.hash_iv) if data is not None else "",
            }
            return JSONResponse(body)

        try:
            outer = await request.json()
            if str(outer.get("MerchantID")) != sim.merchant_id:
                return answer(TRANS_BAD, "MerchantID 錯誤", None)
            # ECPay checks the request's time: valid 10 minutes (developers.ecpay.com.tw, RqHeader.Timestamp)
            stamp_sent = int((outer.get("RqHeader") or {}).get("Timestamp") or 0)
            if abs(time.time() - stamp_sent) > TIMESTAMP_WINDOW_S:
                return answer(TRANS_BAD, "Timestamp 逾時", None)
            data = decrypt(str(outer.get("Data") or ""), sim.hash_key, sim.hash_iv)
        except (ValueError, AttributeError, TypeError):
            return answer(TRANS_BAD, "Data 解密失敗", None)
        if str(data.get("MerchantID")) != sim.merchant_id:
            return answer(TRANS_BAD, "Data MerchantID 錯誤", None)
        with sim.lock:
            planned = sim.failures.get(operation) or []
            failure = planned.pop(0) if planned else None
            if failure == "throttle":  # calls too fast: ECPay's documented HTTP 403, nothing done
                sim.requests.append(
                    {"operation": operation, "data": data, "rtn_code": None, "failed": "throttle"}
                )
                return JSONResponse({"error": "too many requests"}, status_code=403)
            if failure == "before":
                sim.requests.append(
                    {"operation": operation, "data": data, "rtn_code": None, "failed": "before"}
                )
                return JSONResponse({"error": "simulated outage"}, status_code=500)
            result = handler(sim, data)
            sim.requests.append(
                {"operation": operation, "data": data, "rtn_code": result["RtnCode"], "failed": failure}
            )
        delay = sim.delays.get(operation, 0.0)
        if delay:  # done; the answer is slow (a worker may be killed meanwhile)
            await asyncio.sleep(delay)
        if failure == "after":  # done, but the answer is lost on the way back
            return JSONResponse({"error": "simulated lost answer"}, status_code=500)
        return answer(TRANS_OK, "", result)

    @app.get("/_sandbox/ledger")
    def ledger() -> dict[str, Any]:
        return sim.ledger()

    @app.post("/_sandbox/failures")
    def failures(spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """The next `count` calls of `operation` answer HTTP 500, `when` "before" (nothing done) or "after"
        (done, the answer lost), or HTTP 403 when "throttle" (too fast, nothing done)."""
        when = str(spec.get("when", "before"))
        with sim.lock:
            sim.failures.setdefault(str(spec["operation"]), []).extend([when] * int(spec.get("count", 1)))
            return {"failures": dict(sim.failures)}

    @app.post("/_sandbox/delays")
    def delays(spec: dict[str, float] = Body(...)) -> dict[str, float]:
        """Answer `operation` only `seconds` after doing it: {"Issue": 3, "Allowance": 3}; {} for none."""
        with sim.lock:
            sim.delays = {str(k): float(v) for k, v in spec.items()}
            return dict(sim.delays)

    @app.post("/_sandbox/clock")
    def clock(spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """Move the simulator's clock `advance_days` ahead (invalidation periods in tests)."""
        with sim.lock:
            sim.clock_offset_s = float(spec.get("advance_days", 0)) * 86400
            return {"now": sim.now().isoformat()}

    @app.post("/_sandbox/reset")
    def reset() -> dict[str, str]:
        sim.reset()
        return {"status": "reset"}

    return app


def create_app(sim: InvoiceSimulator | None = None) -> FastAPI:
    """Alias of `create_ecpay_invoice_sandbox`, the name sandbox/app.py mounts every simulator by."""
    return create_ecpay_invoice_sandbox(sim)
