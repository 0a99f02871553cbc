"""A faithful ECPay simulator: AioCheckOut/V5, ReturnURL notifications, QueryTradeInfo/V5, DoAction and
CreditDetail/QueryTrade/V2 (a card trade's closings and refunds).

Run it with `uvicorn sandbox.ecpay:app` (or `--factory sandbox.ecpay:create_ecpay_sandbox`).
It computes CheckMacValue on its own, the way ECPay's PHP SDK does (urlencode, lowercase, .NET fix-ups),
instead of importing `esa_domain.adapters.ecpay`: an independent implementation is what makes the contract tests mean
something. Control and inspection endpoints live under /_sandbox/ (see `_add_control_routes`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from sandbox import ecpay_templates as pages

log = logging.getLogger(__name__)

TAIPEI = ZoneInfo("Asia/Taipei")
DELIVERY_MODES = ("normal", "late", "twice", "never", "out_of_order")
FAILED_RTN_CODE = "10100058"  # a declined card, as ECPay reports it
NEVER_CHOSE = "10200095"  # TradeStatus: the payer never completed a payment method
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_DOTNET_FIXUPS = {"%2d": "-", "%5f": "_", "%2e": ".", "%21": "!", "%2a": "*", "%28": "(", "%29": ")"}


def _php_urlencode(text: str) -> str:
    """PHP's `urlencode`: alphanumerics and `-_.` kept, space as '+', every other UTF-8 byte as %XX."""
    out = []
    for byte in text.encode("utf-8"):
        if byte in _UNRESERVED:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def ecpay_mac(fields: dict[str, str], hash_key: str, hash_iv: str, encrypt_type: str = "1") -> str:
    """CheckMacValue as ECPay's official PHP SDK computes it."""
    pairs = sorted(((k, v) for k, v in fields.items() if k != "CheckMacValue"), key=lambda kv: kv[0].lower())
    raw = "HashKey=" + hash_key + "".join(f"&{k}={v}" for k, v in pairs) + "&HashIV=" + hash_iv
    encoded = _php_urlencode(raw).lower()
    for search, replace in _DOTNET_FIXUPS.items():
        encoded = encoded.replace(search, replace)
    digest = hashlib.md5 if encrypt_type == "0" else hashlib.sha256
    return digest(encoded.encode("ascii")).hexdigest().upper()


@dataclass
class SandboxConfig:
    """Knobs; tests shrink the intervals."""

    retry_intervals: tuple[float, ...] = (5.0, 10.0, 15.0, 30.0)  # ECPay: every 5-15 min, up to 4 more times
    notify_timeout: float = 5.0
    timestamp_window_s: int = 180  # QueryTradeInfo TimeStamp is valid 3 minutes
    default_mode: str = "normal"
    default_delay_s: float = 3.0  # for the "late" mode
    throttle_queries: bool = False  # answer every QueryTradeInfo with 403
    query_min_interval_s: float | None = None  # 403 when one trade is queried again sooner than this
    do_action_delay_s: float = 0.0  # DoAction makes the refund at once and answers this much later
    do_action_answer: str = "normal"  # "drop": the refund is made but the answer is lost (HTTP 502)


@dataclass
class Trade:
    merchant_trade_no: str
    trade_no: str
    amount: int
    request: dict[str, str]  # the checkout form as received, without its CheckMacValue
    trade_date: str
    status: str = "created"  # created | paid | failed | expired
    payment_date: str = ""
    payment_type: str = ""
    mode: str = "normal"
    delay_s: float = 0.0
    refunded: int = 0
    voided: bool = False
    last_query: float | None = None
    gwsr: str = ""  # the card authorisation number (CreditRefundId of CreditDetail/QueryTrade/V2)
    refunds: list[dict[str, Any]] = field(default_factory=list)  # the ledger: every DoAction R/N that took


@dataclass
class SentNotification:
    merchant_trade_no: str
    url: str
    attempt: int
    fields: dict[str, str]
    http_status: int | None
    answer: str | None
    error: str | None
    acknowledged: bool
    sent_at: float = field(default_factory=time.time)


class EcpaySimulator:
    """The simulator's state and behaviour; one instance per app, thread-safe behind one lock."""

    def __init__(self, merchant_id: str, hash_key: str, hash_iv: str, config: SandboxConfig) -> None:
        self.merchant_id = merchant_id
        self.hash_key = hash_key
        self.hash_iv = hash_iv
        self.config = config
        self.lock = threading.RLock()
        self.trades: dict[str, Trade] = {}
        self.sent: list[SentNotification] = []
        self._serial = itertools.count(1)
        self._stop = threading.Event()  # replaced on reset: pending deliveries of the old state give up

    # -- signing ---------------------------------------------------------------------------------------
    def sign(self, fields: dict[str, str]) -> dict[str, str]:
        return {**fields, "CheckMacValue": ecpay_mac(fields, self.hash_key, self.hash_iv)}

    def mac_ok(self, fields: dict[str, str]) -> bool:
        expected = ecpay_mac(fields, self.hash_key, self.hash_iv, fields.get("EncryptType", "1"))
        return hmac.compare_digest(expected, fields.get("CheckMacValue", "").upper())

    # -- trades ----------------------------------------------------------------------------------------
    def create_trade(self, form: dict[str, str]) -> Trade:
        now = datetime.now(TAIPEI)
        trade = Trade(
            merchant_trade_no=form["MerchantTradeNo"],
            trade_no=now.strftime("%y%m%d%H%M%S") + f"{next(self._serial) % 10000:04d}",
            amount=int(form["TotalAmount"]),
            request={k: v for k, v in form.items() if k != "CheckMacValue"},
            trade_date=now.strftime("%Y/%m/%d %H:%M:%S"),
            mode=self.config.default_mode,
            delay_s=self.config.default_delay_s,
            gwsr=str(10_000_000 + next(self._serial)),
        )
        with self.lock:
            self.trades[trade.merchant_trade_no] = trade
        return trade

    def settle(self, merchant_trade_no: str, paid: bool, mode: str | None = None) -> Trade:
        """Pay or fail a created trade and start delivering its notification; a finished trade is refused."""
        with self.lock:
            trade = self.trades.get(merchant_trade_no)
            if trade is None:
                raise KeyError(merchant_trade_no)
            if trade.status != "created":
                raise ValueError(f"trade {merchant_trade_no} is already {trade.status}")
            if mode is not None:
                trade.mode = mode
            trade.status = "paid" if paid else "failed"
            trade.payment_type = trade.payment_type or "Credit_CreditCard"  # an ATM/CVS number keeps its type
            if paid:
                trade.payment_date = datetime.now(TAIPEI).strftime("%Y/%m/%d %H:%M:%S")
            notices = self._notices_for(trade)
            stop = self._stop
        if notices:
            threading.Thread(target=self._deliver, args=(trade, notices, stop), daemon=True).start()
        return trade

    def result_fields(self, trade: Trade, rtn_code: str, rtn_msg: str) -> dict[str, str]:
        """The signed ReturnURL / OrderResultURL fields for `trade` (NeedExtraPaidInfo not simulated)."""
        req = trade.request
        fields = {
            "MerchantID": self.merchant_id,
            "MerchantTradeNo": trade.merchant_trade_no,
            "StoreID": req.get("StoreID", ""),
            "RtnCode": rtn_code,
            "RtnMsg": rtn_msg,
            "TradeNo": trade.trade_no,
            "TradeAmt": str(trade.amount),
            "PaymentDate": trade.payment_date,
            "PaymentType": trade.payment_type,
            "PaymentTypeChargeFee": str(max(1, trade.amount * 275 // 10000)),  # 2.75 % card fee, whole TWD
            "TradeDate": trade.trade_date,
            "SimulatePaid": "0",
            **{f"CustomField{i}": req.get(f"CustomField{i}", "") for i in range(1, 5)},
        }
        return self.sign(fields)

    def _notices_for(self, trade: Trade) -> list[dict[str, str]]:
        paid_notice = self.result_fields(trade, "1", "交易成功")
        failed_notice = self.result_fields(trade, FAILED_RTN_CODE, "授權失敗")
        first = paid_notice if trade.status == "paid" else failed_notice
        if trade.mode == "never":
            return []
        if trade.mode == "twice":
            return [first, self._resent(first)]
        if trade.mode == "out_of_order" and trade.status == "paid":
            return [paid_notice, failed_notice]  # a stale failure after the success
        return [first]

    def take_number(self, trade: Trade, kind: str) -> dict[str, str]:
        """An offline method chosen (ATM, CVS, BARCODE): the payment code ECPay posts to PaymentInfoURL, as
        ECPay's 取號結果通知 documents it (developers.ecpay.com.tw/?p=2881): RtnCode 2 with BankCode, vAccount
        and a yyyy/MM/dd ExpireDate for ATM; 10100073 with PaymentNo (CVS) or Barcode1-3 (BARCODE) and a
        yyyy/MM/dd HH:mm:ss ExpireDate for the convenience stores."""
        req = trade.request
        now = datetime.now(TAIPEI)
        serial = f"{next(self._serial):06d}"
        fields = {
            "MerchantID": self.merchant_id,
            "MerchantTradeNo": trade.merchant_trade_no,
            "StoreID": req.get("StoreID", ""),
            "TradeNo": trade.trade_no,
            "TradeAmt": str(trade.amount),
            "TradeDate": trade.trade_date,
            **{f"CustomField{i}": req.get(f"CustomField{i}", "") for i in range(1, 5)},
        }
        if kind == "atm":
            days = int(req.get("ExpireDate") or 3)
            fields |= {
                "RtnCode": "2",
                "RtnMsg": "Get VirtualAccount Succeeded",
                "PaymentType": "ATM_TAISHIN",
                "BankCode": "812",
                "vAccount": "9103522" + serial[-6:],
                "ExpireDate": (now + timedelta(days=days)).strftime("%Y/%m/%d"),
            }
        else:
            store = now + timedelta(minutes=int(req.get("StoreExpireDate") or 10080))
            fields |= {
                "RtnCode": "10100073",
                "RtnMsg": "Get CVS Code Succeeded.",
                "PaymentType": "CVS_CVS" if kind == "cvs" else "BARCODE_BARCODE",
                "PaymentNo": ("LLL22" + serial + "9") if kind == "cvs" else "",
                "ExpireDate": store.strftime("%Y/%m/%d %H:%M:%S"),
                "Barcode1": store.strftime("%y%m%d") + "7L0" if kind == "barcode" else "",
                "Barcode2": ("88" + serial + "4502") if kind == "barcode" else "",
                "Barcode3": ("0912" + f"{trade.amount:011d}") if kind == "barcode" else "",
            }
        with self.lock:
            trade.payment_type = fields["PaymentType"]
        signed = self.sign(fields)
        url = req.get("PaymentInfoURL", "")
        if url:
            stop = self._stop
            threading.Thread(
                target=self._send_until_acknowledged, args=(trade.merchant_trade_no, url, signed, stop), daemon=True
            ).start()
        return signed

    def _resent(self, fields: dict[str, str]) -> dict[str, str]:
        # ECPay's re-sends carry a different RtnMsg than the first notice
        return self.sign({**{k: v for k, v in fields.items() if k != "CheckMacValue"}, "RtnMsg": "paid"})

    # -- delivery --------------------------------------------------------------------------------------
    def _deliver(self, trade: Trade, notices: list[dict[str, str]], stop: threading.Event) -> None:
        if trade.mode == "late" and stop.wait(trade.delay_s):
            return
        url = trade.request.get("ReturnURL", "")
        for notice in notices:
            if not self._send_until_acknowledged(trade.merchant_trade_no, url, notice, stop):
                return

    def _send_until_acknowledged(
        self, merchant_trade_no: str, url: str, notice: dict[str, str], stop: threading.Event
    ) -> bool:
        """Send `notice`, re-sending until answered exactly `1|OK`; False when reset stopped it."""
        for attempt in range(1 + len(self.config.retry_intervals)):
            if stop.is_set():
                return False
            fields = notice if attempt == 0 else self._resent(notice)
            status = answer = error = None
            try:
                response = httpx.post(url, data=fields, timeout=self.config.notify_timeout)
                status, answer = response.status_code, response.text
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            acknowledged = status == 200 and answer == "1|OK"
            with self.lock:
                self.sent.append(
                    SentNotification(
                        merchant_trade_no, url, attempt + 1, fields, status, answer, error, acknowledged
                    )
                )
            if acknowledged:
                return True
            if attempt < len(self.config.retry_intervals) and stop.wait(self.config.retry_intervals[attempt]):
                return False
        return True  # ECPay gives up after the last re-send; later notices still go out

    def reset(self) -> None:
        with self.lock:
            self._stop.set()
            self._stop = threading.Event()
            self.trades.clear()
            self.sent.clear()


def _form_error(sim: EcpaySimulator, form: dict[str, str]) -> tuple[str, str] | None:
    """What ECPay would refuse in a checkout form, as (code, message); None when it is acceptable."""
    required = (
        "MerchantID",
        "MerchantTradeNo",
        "MerchantTradeDate",
        "PaymentType",
        "TotalAmount",
        "TradeDesc",
    )
    missing = [
        k for k in (*required, "ItemName", "ReturnURL", "ChoosePayment", "CheckMacValue") if not form.get(k)
    ]
    if missing:
        return "10200052", f"Parameter Error. {', '.join(missing)} is required."
    if not sim.mac_ok(form):
        return "10200073", "CheckMacValue Error"
    if form["MerchantID"] != sim.merchant_id:
        return "10200043", "MerchantID Error"
    trade_no = form["MerchantTradeNo"]
    if not (trade_no.isascii() and trade_no.isalnum() and len(trade_no) <= 20):
        return "10200052", "MerchantTradeNo Error"
    if not form["TotalAmount"].isdigit() or int(form["TotalAmount"]) <= 0:
        return "10200052", "TotalAmount Error"
    try:
        datetime.strptime(form["MerchantTradeDate"], "%Y/%m/%d %H:%M:%S")
    except ValueError:
        return "10200052", "MerchantTradeDate Error"
    if form["PaymentType"] != "aio":
        return "10200052", "PaymentType Error"
    if len(form["ItemName"]) > 400:
        return "10200052", "ItemName Error"
    with sim.lock:
        if trade_no in sim.trades:
            return "10200047", "MerchantTradeNo is duplicate. 訂單編號重覆"
    return None


def _raw_body(fields: dict[str, str]) -> str:
    # ECPay answers raw `k=v&...`: values are not percent-encoded
    return "&".join(f"{k}={v}" for k, v in fields.items())


def _add_payer_routes(app: FastAPI, sim: EcpaySimulator) -> None:
    @app.post("/Cashier/AioCheckOut/V5", response_class=HTMLResponse)
    async def checkout(request: Request) -> str:
        form = {k: str(v) for k, v in (await request.form()).multi_items()}
        error = _form_error(sim, form)
        if error:
            return pages.error_page(*error)
        trade = sim.create_trade(form)
        methods = form["ChoosePayment"] + (
            f" (except {form['IgnorePayment']})" if form.get("IgnorePayment") else ""
        )
        return pages.checkout_page(
            merchant_trade_no=trade.merchant_trade_no,
            amount=trade.amount,
            item_names=form["ItemName"].split("#"),
            methods=methods,
            action=f"/Cashier/SandboxChoice/{trade.merchant_trade_no}",
        )

    @app.post("/Cashier/SandboxChoice/{merchant_trade_no}")
    async def choice(merchant_trade_no: str, request: Request) -> Response:
        chosen = str((await request.form()).get("choice", ""))
        with sim.lock:
            trade = sim.trades.get(merchant_trade_no)
        if trade is None:
            return HTMLResponse(pages.error_page("10200050", "Trade not found"), status_code=404)
        back = trade.request.get("ClientBackURL") or None
        if chosen == "abandon":
            return HTMLResponse(pages.result_page("Payment abandoned", "Nothing was charged.", back))
        if chosen in ("atm", "cvs", "barcode"):
            offered = trade.request.get("ChoosePayment", "") in ("ALL", chosen.upper())
            ignored = chosen.upper() in trade.request.get("IgnorePayment", "").upper().split("#")
            if not offered or ignored:
                return HTMLResponse(pages.error_page("10200052", f"{chosen.upper()} is not offered"), 400)
            info = sim.take_number(trade, chosen)
            code = info.get("vAccount") or info.get("PaymentNo") or " ".join(
                info[k] for k in ("Barcode1", "Barcode2", "Barcode3")
            )
            return HTMLResponse(
                pages.result_page(
                    "Payment code issued", f"Pay NT${trade.amount} with {code} by {info['ExpireDate']}.", back
                )
            )
        if chosen not in ("pay", "fail"):
            return HTMLResponse(pages.error_page("10200052", "Choose pay, fail or abandon"), status_code=400)
        try:
            sim.settle(merchant_trade_no, paid=chosen == "pay")
        except ValueError as exc:
            return HTMLResponse(pages.error_page("10200049", str(exc)), status_code=409)
        paid = trade.status == "paid"
        result_url = trade.request.get("OrderResultURL")
        if result_url:
            fields = sim.result_fields(
                trade, "1" if paid else FAILED_RTN_CODE, "Succeeded" if paid else "授權失敗"
            )
            return HTMLResponse(pages.autosubmit_page(result_url, fields))
        if back:
            return RedirectResponse(back, status_code=303)
        title = "Payment succeeded" if paid else "Payment failed"
        return HTMLResponse(pages.result_page(title, f"Trade {merchant_trade_no}", None))


def _add_server_routes(app: FastAPI, sim: EcpaySimulator) -> None:
    @app.post("/Cashier/QueryTradeInfo/V5")
    async def query_trade_info(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).multi_items()}
        if not sim.mac_ok(form):
            return PlainTextResponse("10200073|CheckMacValue Error")
        if form.get("MerchantID") != sim.merchant_id:
            return PlainTextResponse("10200043|MerchantID Error")
        stamp = form.get("TimeStamp", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > sim.config.timestamp_window_s:
            return PlainTextResponse("10200007|TimeStamp Error")
        with sim.lock:
            trade = sim.trades.get(form.get("MerchantTradeNo", ""))
            now = time.monotonic()
            too_soon = (
                trade is not None
                and sim.config.query_min_interval_s is not None
                and trade.last_query is not None
                and now - trade.last_query < sim.config.query_min_interval_s
            )
            if trade is not None:
                trade.last_query = now
            if sim.config.throttle_queries or too_soon:
                return Response("Forbidden", status_code=403)
            if trade is None:  # sandbox's choice: a signed answer with an unknown TradeStatus
                fields = {"MerchantID": sim.merchant_id, "MerchantTradeNo": form.get("MerchantTradeNo", "")}
                fields |= {"TradeAmt": "0", "TradeNo": "", "TradeStatus": "10200047"}
                return PlainTextResponse(_raw_body(sim.sign(fields)), media_type="text/html")
            status = {"paid": "1", "failed": NEVER_CHOSE, "expired": NEVER_CHOSE}.get(trade.status, "0")
            req = trade.request
            fields = {
                **{f"CustomField{i}": req.get(f"CustomField{i}", "") for i in range(1, 5)},
                "HandlingCharge": str(max(1, trade.amount * 275 // 10000)) if status == "1" else "0",
                "ItemName": req.get("ItemName", ""),
                "MerchantID": sim.merchant_id,
                "MerchantTradeNo": trade.merchant_trade_no,
                "PaymentDate": trade.payment_date,
                "PaymentType": trade.payment_type,
                "PaymentTypeChargeFee": str(max(1, trade.amount * 275 // 10000)) if status == "1" else "0",
                "StoreID": req.get("StoreID", ""),
                "TradeAmt": str(trade.amount),
                "TradeDate": trade.trade_date,
                "TradeNo": trade.trade_no,
                "TradeStatus": status,
            }
            if status == "1" and trade.payment_type.startswith("Credit"):
                # card trades also answer their authorisation (developers.ecpay.com.tw ?p=2890: gwsr,
                # process_date, auth_code, amount, card4no, card6no); gwsr is CreditDetail's CreditRefundId
                fields |= {
                    "gwsr": trade.gwsr,
                    "process_date": trade.payment_date,
                    "auth_code": "777777",
                    "amount": str(trade.amount),
                    "card4no": "2222",
                    "card6no": "431195",
                }
        return PlainTextResponse(_raw_body(sim.sign(fields)), media_type="text/html")

    @app.post("/CreditDetail/DoAction")
    async def do_action(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).multi_items()}
        base = {k: form.get(k, "") for k in ("MerchantID", "MerchantTradeNo", "TradeNo")}

        def answer(code: str, msg: str) -> Response:
            return PlainTextResponse(
                _raw_body({**base, "RtnCode": code, "RtnMsg": msg}), media_type="text/html"
            )

        if not sim.mac_ok(form):
            return answer("10200073", "CheckMacValue Error")
        if form.get("MerchantID") != sim.merchant_id:
            return answer("10200043", "MerchantID Error")
        amount_text, action = form.get("TotalAmount", ""), form.get("Action", "")
        if not amount_text.isdigit() or int(amount_text) <= 0:
            return answer("10200052", "TotalAmount Error")
        amount = int(amount_text)
        with sim.lock:
            trade = sim.trades.get(form.get("MerchantTradeNo", ""))
            if trade is None or trade.trade_no != form.get("TradeNo"):
                return answer("10200050", "Trade not found")
            if trade.status != "paid" or trade.voided:
                return answer("10200051", f"Trade is {'voided' if trade.voided else trade.status}")
            at = datetime.now(TAIPEI).strftime("%Y/%m/%d %H:%M:%S")
            if action == "R":
                if amount > trade.amount - trade.refunded:
                    return answer("10200061", "Refund amount exceeds the paid amount")
                trade.refunded += amount
                trade.refunds.append(
                    {"action": "R", "amount": amount, "at": at, "sno": len(trade.refunds) + 2}
                )
            elif action == "N":
                if trade.refunded:
                    return answer("10200062", "Cannot void a trade with refunds")
                trade.voided = True
                trade.refunds.append({"action": "N", "amount": trade.amount, "at": at, "sno": 0})
            elif action not in ("C", "E"):
                return answer("10200052", "Action Error")
            delay, drop = sim.config.do_action_delay_s, sim.config.do_action_answer == "drop"
        if delay:
            await asyncio.sleep(delay)  # the refund is made; its answer is still on its way
        if drop:
            return Response("Bad Gateway", status_code=502)
        return answer("1", "OK")

    @app.post("/CreditDetail/QueryTrade/V2")
    async def credit_detail(request: Request) -> Response:
        """JSON `{"RtnMsg": "", "RtnValue": {...}}` (developers.ecpay.com.tw ?p=2894); RtnMsg error_nopay when
        no authorisation has that number, error when a check fails. The sandbox cannot know a merchant's
        CreditCheckCode: any number is taken."""
        form = {k: str(v) for k, v in (await request.form()).multi_items()}

        def fail(msg: str) -> Response:
            return Response(json.dumps({"RtnMsg": msg, "RtnValue": ""}), media_type="application/json")

        if not sim.mac_ok(form) or form.get("MerchantID") != sim.merchant_id:
            return fail("error")
        if not form.get("CreditCheckCode", "").isdigit() or not form.get("CreditAmount", "").isdigit():
            return fail("error")
        with sim.lock:
            trade = next(
                (t for t in sim.trades.values() if t.gwsr and t.gwsr == form.get("CreditRefundId")), None
            )
            if trade is None or trade.status != "paid" or str(trade.amount) != form["CreditAmount"]:
                return fail("error_nopay")
            closings = (
                []
                if trade.voided
                else [
                    {
                        "status": "要關帳",
                        "sno": "1",
                        "amount": str(trade.amount),
                        "datetime": trade.payment_date,
                    }
                ]
            )
            closings += [
                {"status": "要關帳", "sno": str(r["sno"]), "amount": f"-{r['amount']}", "datetime": r["at"]}
                for r in trade.refunds
                if r["action"] == "R"
            ]
            value = {
                "TradeID": trade.gwsr,
                "amount": str(trade.amount),
                "clsamt": "0" if trade.voided else str(trade.amount - trade.refunded),
                "authtime": trade.payment_date,
                "status": "已取消" if trade.voided else ("已關帳" if closings else "已授權"),
                "close_data": closings,
            }
        return Response(
            json.dumps({"RtnMsg": "", "RtnValue": value}, ensure_ascii=False), media_type="application/json"
        )


def _trade_view(trade: Trade) -> dict[str, Any]:
    return asdict(trade)


def _add_control_routes(app: FastAPI, sim: EcpaySimulator) -> None:
    def get_trade(merchant_trade_no: str) -> Trade:
        with sim.lock:
            trade = sim.trades.get(merchant_trade_no)
        if trade is None:
            raise HTTPException(404, f"no trade {merchant_trade_no}")
        return trade

    def check_mode(mode: str | None) -> None:
        if mode is not None and mode not in DELIVERY_MODES:
            raise HTTPException(422, f"mode must be one of {', '.join(DELIVERY_MODES)}")

    @app.get("/_sandbox/trades")
    def list_trades() -> list[dict[str, Any]]:
        with sim.lock:
            return [_trade_view(t) for t in sim.trades.values()]

    @app.get("/_sandbox/trades/{merchant_trade_no}")
    def show_trade(merchant_trade_no: str) -> dict[str, Any]:
        return _trade_view(get_trade(merchant_trade_no))

    @app.put("/_sandbox/trades/{merchant_trade_no}/delivery")
    def set_delivery(merchant_trade_no: str, mode: str, delay_seconds: float | None = None) -> dict[str, Any]:
        check_mode(mode)
        trade = get_trade(merchant_trade_no)
        with sim.lock:
            trade.mode = mode
            if delay_seconds is not None:
                trade.delay_s = delay_seconds
        return _trade_view(trade)

    def settle(merchant_trade_no: str, paid: bool, mode: str | None) -> dict[str, Any]:
        check_mode(mode)
        get_trade(merchant_trade_no)
        try:
            return _trade_view(sim.settle(merchant_trade_no, paid=paid, mode=mode))
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from exc

    @app.post("/_sandbox/trades/{merchant_trade_no}/pay")
    def pay(merchant_trade_no: str, mode: str | None = None) -> dict[str, Any]:
        return settle(merchant_trade_no, True, mode)

    @app.post("/_sandbox/trades/{merchant_trade_no}/fail")
    def fail(merchant_trade_no: str, mode: str | None = None) -> dict[str, Any]:
        return settle(merchant_trade_no, False, mode)

    @app.post("/_sandbox/trades/{merchant_trade_no}/expire")
    def expire(merchant_trade_no: str) -> dict[str, Any]:
        trade = get_trade(merchant_trade_no)
        with sim.lock:
            if trade.status != "created":
                raise HTTPException(409, f"trade {merchant_trade_no} is already {trade.status}")
            trade.status = "expired"  # the payer never chose a method: TradeStatus 10200095, no notice
        return _trade_view(trade)

    @app.get("/_sandbox/refunds")
    def refunds() -> list[dict[str, Any]]:
        """The refund ledger: every DoAction R or N that ECPay carried out, with its trade."""
        with sim.lock:
            return [
                {"merchant_trade_no": t.merchant_trade_no, "trade_no": t.trade_no, **r}
                for t in sim.trades.values()
                for r in t.refunds
            ]

    @app.get("/_sandbox/notifications")
    def notifications(merchant_trade_no: str | None = None) -> list[dict[str, Any]]:
        with sim.lock:
            sent = [asdict(n) for n in sim.sent]
        return [n for n in sent if merchant_trade_no in (None, n["merchant_trade_no"])]

    @app.get("/_sandbox/config")
    def get_config() -> dict[str, Any]:
        return asdict(sim.config)

    @app.post("/_sandbox/config")
    def set_config(changes: dict[str, Any] = Body(...)) -> dict[str, Any]:
        allowed = set(asdict(sim.config))
        unknown = set(changes) - allowed
        if unknown:
            raise HTTPException(422, f"unknown settings: {', '.join(sorted(unknown))}")
        check_mode(changes.get("default_mode"))
        if changes.get("do_action_answer", "normal") not in ("normal", "drop"):
            raise HTTPException(422, "do_action_answer must be normal or drop")
        with sim.lock:
            for key, value in changes.items():
                setattr(sim.config, key, tuple(value) if key == "retry_intervals" else value)
        return asdict(sim.config)

    @app.post("/_sandbox/reset")
    def reset() -> dict[str, str]:
        sim.reset()
        return {"status": "reset"}


def create_ecpay_sandbox(
    *,
    merchant_id: str = "3002607",
    hash_key: str = "pwFHCqoQZGmho4w6",
    hash_iv: str = "EkRm7iFT261dpevs",
    config: SandboxConfig | None = None,
) -> FastAPI:
    """The ECPay simulator app for one merchant (defaults: ECPay's public stage merchant).

    `config`: retry intervals, TimeStamp window, throttling, default delivery mode; tests shrink intervals.
    """
    sim = EcpaySimulator(merchant_id, hash_key, hash_iv, config or SandboxConfig())
    app = FastAPI(title="ECPay sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    app.state.simulator = sim
    _add_payer_routes(app, sim)
    _add_server_routes(app, sim)
    _add_control_routes(app, sim)
    return app


app = create_ecpay_sandbox()
