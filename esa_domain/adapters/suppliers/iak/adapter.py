"""IAK adapter: prepaid top-ups, postpaid bills (inquiry then payment), price list, balance, callbacks.

Auth is `sign = md5(username + api_key + X)` in the JSON body (X per call, see shared/specs/suppliers.md).
Every answer maps to one `SupplierOutcome` through the tables of `codes.py`; a code not in them is UNKNOWN.

What IAK's docs say and this adapter does (iak-id/iak-api-reference-docs):
- docs/prepaid/callback.md and core/v2/check-status.md: a game voucher's `pin` comes beside `sn`; it is the
  product, so it goes into the `Delivery` (stored encrypted) and is masked in every stored exchange.
- docs/prepaid/sn-format.md: a PLN `sn` is `token/customer name/segment/power/kWh`; it is split.
- docs/prepaid/game-format.md: a game needing a zone or server takes `customer_id` as `{userid}|{zoneid}`.
- docs/prepaid/callback.md: a callback is only ever success (`status` "1") or failed ("2"), signed with
  md5(username+api_key+ref_id); it points to IAK's security page for securing the callback, which adds IAK's
  source addresses: `IAK_CALLBACK_ALLOWED_IPS` (set it from that page) refuses any other sender.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from dataclasses import replace
from typing import Any

import httpx
from pydantic import SecretStr

from esa_domain.adapters.suppliers._delivery import delivery_from, shown
from esa_domain.adapters.suppliers._http import build_client, redact, timed_request
from esa_domain.adapters.suppliers.base import (
    BalanceResult,
    BillAnswer,
    BillQuery,
    CallbackRequest,
    CallbackResult,
    CallResult,
    CatalogEntry,
    CatalogResult,
    Delivery,
    Exchange,
    FailureClass,
    GameAccount,
    MeterOwner,
    Outcome,
    PurchaseRequest,
    SupplierError,
    SupplierOutcome,
)
from esa_domain.adapters.suppliers.iak.codes import (
    CHECK_REFUSED_CODES,
    NOT_FOUND_CODES,
    POSTPAID_RC_OUTCOMES,
    POSTPAID_STATUS,
    RC_OUTCOMES,
)

SANDBOX_PREPAID_URL = "https://prepaid.iak.dev"
SANDBOX_POSTPAID_URL = "https://testpostpaid.mobilepulsa.net"
# the username is the account's phone number: keep it out of the record; `pin` (a voucher's PIN) is the product
REDACT_KEYS = ("sign", "username", "pin")
# Postpaid rc 04 "billing id expired" answers a payment whose inquiry went stale: one fresh inquiry and payment
# follow under `<reference>B` (the docs ask for a different ref_id); a status check that finds the first ref_id
# failed looks at that one too, so a paid bill is never bought again elsewhere.
BILLING_ID_EXPIRED = "04"
FRESH_INQUIRY_SUFFIX = "B"
# IAK's game codes for the player-id inquiry, by the start of our SKU. docs/prepaid/core/v2/inquiry/game/
# game-format-hp.md: code 103 takes `[userid]|[zoneid]`, Mobile Legends' format; the code list itself is in
# IAK's game-format.md (check a new game there before adding it here)
GAME_CODES = {"mobilelegend": "103"}


def _as_status_answer(outcome: SupplierOutcome) -> SupplierOutcome:
    if outcome.supplier_code in NOT_FOUND_CODES:
        return replace(outcome, outcome=Outcome.UNKNOWN, failure_class=None, no_transaction=True)
    if outcome.outcome is Outcome.FAILED and outcome.supplier_code in CHECK_REFUSED_CODES:
        return SupplierOutcome(Outcome.UNKNOWN, supplier_code=outcome.supplier_code,
                               message=f"status check refused: {outcome.message}")  # fmt: skip
    return outcome


def iak_sign(username: str, api_key: str, salt: str) -> str:
    """IAK's signature over `salt` (ref_id, "pl", "bl", "cs", tr_id or customer_id)."""
    return hashlib.md5(f"{username}{api_key}{salt}".encode(), usedforsecurity=False).hexdigest()


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value).split(".")[0]) if value not in (None, "") else None
    except ValueError:
        return None


def _data(body: Any) -> dict[str, Any] | None:
    if isinstance(body, dict) and isinstance(body.get("data"), dict):
        return body["data"]
    return None


# docs/prepaid/sn-format.md, Voucher: `SerialNumber / ExpiredDate` ("BA4B52862X7P / 2018-12-07"); for a shop
# voucher (docs/prepaid/voucher/indomaret.md: "show the voucher code to the cashier") that number is the code
VOUCHER_SN = re.compile(r"^\s*(?P<code>[A-Za-z0-9-]{6,40})\s*/\s*(?P<expires>\d{4}-\d{2}-\d{2})\s*$")


def delivery_from_data(data: dict[str, Any]) -> Delivery | None:
    """What a successful answer delivered: `sn` (split for PLN, docs/prepaid/sn-format.md), `pin`, `noref`; a
    voucher's `code / expiry` sn is its voucher code (sealed like a PIN)."""
    sn = str(data.get("sn") or data.get("noref") or "")
    pin = str(data.get("pin") or "")
    if not pin and (voucher := VOUCHER_SN.match(sn)):
        return Delivery(voucher_code=voucher.group("code"))
    return delivery_from(sn, pin=pin)


def outcome_from_data(
    data: dict[str, Any], table: dict[str, tuple[Outcome, FailureClass | None]], postpaid_status: bool = False
) -> SupplierOutcome:
    """Map one IAK `data` object to an outcome using `table` (rc or response_code)."""
    rc = str(data.get("rc", data.get("response_code", "")) or "")
    message = str(data.get("message", ""))
    outcome, failure = table.get(rc, (Outcome.UNKNOWN, None))
    if postpaid_status and rc not in table and str(data.get("status", "")) in POSTPAID_STATUS:
        outcome, failure = POSTPAID_STATUS[str(data["status"])]
    if outcome is Outcome.SUCCESS and str(data.get("status", "1")) not in ("1", ""):
        outcome = Outcome.UNKNOWN  # rc says success, status disagrees: don't guess
    delivery = delivery_from_data(data) if outcome is Outcome.SUCCESS else None
    artifact = shown(delivery)  # what lists and alerts show: the serial or the PLN token, never the PIN
    return SupplierOutcome(
        outcome=outcome,
        failure_class=failure,
        delivery=delivery,
        artifact=artifact,
        supplier_code=rc or None,
        message=message,
        supplier_txn_id=str(data["tr_id"]) if data.get("tr_id") not in (None, "") else None,
        price_idr=_int_or_none(data.get("selling_price", data.get("price"))),
    )


def outcome_from_response(
    response: httpx.Response | None, exchange: Exchange, postpaid: bool = False
) -> SupplierOutcome:
    """Any answer, or none, to one outcome: the body first; 5xx, no answer or no `data` is UNKNOWN."""
    if response is None:
        return SupplierOutcome(Outcome.UNKNOWN, message=exchange.error or "no answer")
    try:
        data = _data(response.json())
    except ValueError:
        data = None
    if data is None:
        return SupplierOutcome(Outcome.UNKNOWN, message=f"HTTP {response.status_code}, unparseable body")
    table = POSTPAID_RC_OUTCOMES if postpaid else RC_OUTCOMES
    result = outcome_from_data(data, table, postpaid_status=postpaid)
    if response.status_code >= 500 and result.outcome is not Outcome.UNKNOWN:
        return SupplierOutcome(
            Outcome.UNKNOWN,
            supplier_code=result.supplier_code,
            message=f"HTTP {response.status_code}: {result.message}",
        )
    return result


def game_customer_id(target: str, zone: str | None) -> str:
    """IAK's `customer_id` for a game: `{userid}|{zoneid}` when a zone/server is needed (game-format.md)."""
    return f"{target}|{zone}" if zone else target


class IakAdapter:
    """IAK, prepaid and postpaid.

    `username` is the IAK account's phone number, `api_key` its key (development or production);
    `prepaid_url`/`postpaid_url` the two bases; `transport` lets tests route to a simulator.
    """

    code = "iak"

    def __init__(
        self,
        *,
        username: str,
        api_key: SecretStr | str,
        prepaid_url: str = SANDBOX_PREPAID_URL,
        postpaid_url: str = SANDBOX_POSTPAID_URL,
        callback_allowed_ips: str = "",
        transport: httpx.BaseTransport | None = None,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 15.0,
    ) -> None:
        if not username or not api_key:
            raise SupplierError("IAK needs a username and an api_key")
        self._username = username
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self._prepaid = prepaid_url.rstrip("/")
        self._postpaid = postpaid_url.rstrip("/")
        # IAK's callback source addresses (its security page); empty: any sender whose sign matches
        self._callback_networks = tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in callback_allowed_ips.split(",")
            if part.strip()
        )
        self._client = build_client(
            transport=transport, connect_timeout_s=connect_timeout_s, read_timeout_s=read_timeout_s
        )

    def __repr__(self) -> str:
        return f"IakAdapter(prepaid_url={self._prepaid!r}, postpaid_url={self._postpaid!r})"

    def _sign(self, salt: str) -> str:
        return iak_sign(self._username, self._api_key.get_secret_value(), salt)

    def _post(self, operation: str, url: str, body: dict[str, Any]) -> tuple[httpx.Response | None, Exchange]:
        return timed_request(self._client, operation, "POST", url, json=body, redact_keys=REDACT_KEYS)

    def purchase(self, request: PurchaseRequest) -> CallResult:
        if request.postpaid:
            return self._pay_bill(request)
        body = {
            "username": self._username,
            "ref_id": request.reference,
            "customer_id": game_customer_id(request.target, request.zone),
            "product_code": request.sku,
            "sign": self._sign(request.reference),
        }
        response, exchange = self._post("purchase", f"{self._prepaid}/api/top-up", body)
        return CallResult(outcome_from_response(response, exchange), [exchange])

    def _postpaid_status(self, ref_id: str) -> CallResult:
        body = {
            "commands": "checkstatus",
            "username": self._username,
            "ref_id": ref_id,
            "sign": self._sign("cs"),
        }
        response, exchange = self._post("status", f"{self._postpaid}/api/v1/bill/check", body)
        outcome = outcome_from_response(response, exchange, postpaid=True)
        return CallResult(_as_status_answer(outcome), [exchange])

    def check_status(self, request: PurchaseRequest) -> CallResult:
        if request.postpaid:
            # a bill paid from the customer's inquiry is IAK's transaction under that inquiry's ref_id
            reference = request.bill.reference if request.bill else request.reference
            original = self._postpaid_status(reference)
            if original.outcome.outcome is not Outcome.FAILED:
                return original
            # a definite failure of the first ref_id: did a fresh inquiry after rc 04 pay under the second one?
            fresh = self._postpaid_status(reference + FRESH_INQUIRY_SUFFIX)
            exchanges = [*original.exchanges, *fresh.exchanges]
            if fresh.outcome.no_transaction:
                return CallResult(original.outcome, exchanges)
            return CallResult(fresh.outcome, exchanges)
        body = {
            "username": self._username,
            "ref_id": request.reference,
            "sign": self._sign(request.reference),
        }
        response, exchange = self._post("status", f"{self._prepaid}/api/check-status", body)
        return CallResult(_as_status_answer(outcome_from_response(response, exchange)), [exchange])

    def inquire_bill(self, query: BillQuery) -> BillAnswer:
        """inq-pasca alone (docs/postpaid/core/product/*/inquiry.md): the bill's name, period, nominal, admin fee,
        `price` (nominal + admin) and `selling_price` (what our deposit pays); BPJS takes `month`."""
        body: dict[str, Any] = {
            "commands": "inq-pasca",
            "username": self._username,
            "code": query.sku,
            "hp": query.customer_no,
            "ref_id": query.reference,
            "sign": self._sign(query.reference),
        }
        if query.months is not None:
            body["month"] = str(query.months)  # the docs' example sends it as a string
        response, exchange = self._post("inquiry", f"{self._postpaid}/api/v1/bill/check", body)
        outcome = outcome_from_response(response, exchange, postpaid=True)
        data: dict[str, Any] = {}
        if response is not None:
            try:
                data = _data(response.json()) or {}
            except ValueError:
                data = {}
        if outcome.outcome is not Outcome.SUCCESS:
            return BillAnswer(outcome, exchanges=[exchange])
        period = data.get("period")
        return BillAnswer(
            outcome,
            customer_name=str(data.get("tr_name") or "") or None,
            periods=str(period) if period not in (None, "") else None,
            bill_idr=_int_or_none(data.get("nominal")),
            admin_idr=_int_or_none(data.get("admin")),
            price_idr=_int_or_none(data.get("price")),
            cost_idr=_int_or_none(data.get("selling_price")),
            detail=data.get("desc") if isinstance(data.get("desc"), dict) else None,
            exchanges=[exchange],
        )

    def _pay_inquired(self, request: PurchaseRequest) -> CallResult:
        """Pay the bill the customer saw: pay-pasca with its inquiry's tr_id (docs/postpaid/core/product/*/
        payment.md). rc 04 (billing id expired) asks for a fresh inquiry under a different ref_id: it is paid
        only if it asks for exactly the quoted total, else the item fails (never paid above what was paid for)."""
        bill = request.bill
        assert bill is not None
        exchanges: list[Exchange] = []
        if bill.txn_id:
            tr_id = bill.txn_id
            body = {
                "commands": "pay-pasca",
                "username": self._username,
                "tr_id": tr_id,
                "sign": self._sign(tr_id),
            }
            response, exchange = self._post("purchase", f"{self._postpaid}/api/v1/bill/check", body)
            outcome = outcome_from_response(response, exchange, postpaid=True)
            exchanges.append(exchange)
            if not (outcome.outcome is Outcome.FAILED and outcome.supplier_code == BILLING_ID_EXPIRED):
                return CallResult(outcome, exchanges)
        fresh = BillQuery(
            bill.reference + FRESH_INQUIRY_SUFFIX, request.sku, request.target, months=bill.months
        )
        answer = self.inquire_bill(fresh)
        exchanges.extend(answer.exchanges)
        if answer.outcome.outcome is not Outcome.SUCCESS:
            return CallResult(answer.outcome, exchanges)
        if bill.price_idr is not None and answer.price_idr != bill.price_idr:
            changed = SupplierOutcome(
                Outcome.FAILED,
                FailureClass.PRODUCT,
                supplier_code=answer.outcome.supplier_code,
                message=f"the bill now asks {answer.price_idr} IDR, {bill.price_idr} IDR was quoted and paid for",
                supplier_txn_id=answer.outcome.supplier_txn_id,
                price_idr=answer.price_idr,
            )
            return CallResult(changed, exchanges)
        tr_id = answer.outcome.supplier_txn_id or ""
        body = {
            "commands": "pay-pasca",
            "username": self._username,
            "tr_id": tr_id,
            "sign": self._sign(tr_id),
        }
        response, exchange = self._post("purchase", f"{self._postpaid}/api/v1/bill/check", body)
        exchanges.append(exchange)
        return CallResult(outcome_from_response(response, exchange, postpaid=True), exchanges)

    def _pay_bill(self, request: PurchaseRequest) -> CallResult:
        if request.bill is not None:
            return self._pay_inquired(request)
        first = self._inquire_and_pay(request, request.reference)
        o = first.outcome
        if (
            len(first.exchanges) == 2
            and o.outcome is Outcome.FAILED
            and o.supplier_code == BILLING_ID_EXPIRED
        ):
            # docs/postpaid/response-code.md 04: "retry your inquiry request with a different reference ID"
            again = self._inquire_and_pay(request, request.reference + FRESH_INQUIRY_SUFFIX)
            return CallResult(again.outcome, [*first.exchanges, *again.exchanges])
        return first

    def _inquire_and_pay(self, request: PurchaseRequest, ref_id: str) -> CallResult:
        # Inquiry first: it fixes the amount and yields the tr_id the payment is signed with.
        inq_body = {
            "commands": "inq-pasca",
            "username": self._username,
            "code": request.sku,
            "hp": request.target,
            "ref_id": ref_id,
            "sign": self._sign(ref_id),
        }
        url = f"{self._postpaid}/api/v1/bill/check"
        response, inq_exchange = self._post("inquiry", url, inq_body)
        inquiry = outcome_from_response(response, inq_exchange, postpaid=True)
        if inquiry.outcome is not Outcome.SUCCESS:
            return CallResult(inquiry, [inq_exchange])
        if request.expected_cost_idr is not None and inquiry.price_idr not in (
            None,
            request.expected_cost_idr,
        ):
            price_changed = SupplierOutcome(
                Outcome.FAILED,
                FailureClass.PRODUCT,
                supplier_code="00",
                message=f"bill costs {inquiry.price_idr} IDR, expected {request.expected_cost_idr}",
                supplier_txn_id=inquiry.supplier_txn_id,
                price_idr=inquiry.price_idr,
            )
            return CallResult(price_changed, [inq_exchange])
        tr_id = inquiry.supplier_txn_id or ""
        pay_body = {
            "commands": "pay-pasca",
            "username": self._username,
            "tr_id": tr_id,
            "sign": self._sign(tr_id),
        }
        response, pay_exchange = self._post("purchase", url, pay_body)
        return CallResult(
            outcome_from_response(response, pay_exchange, postpaid=True), [inq_exchange, pay_exchange]
        )

    def fetch_catalog(self) -> CatalogResult:
        body = {"username": self._username, "sign": self._sign("pl"), "status": "all"}
        response, exchange = self._post("catalog", f"{self._prepaid}/api/pricelist", body)
        payload: Any = None
        if response is not None:
            try:
                payload = response.json()
            except ValueError:
                payload = None
        rows: Any = payload.get("data") if isinstance(payload, dict) else None
        if isinstance(rows, dict):
            rows = rows.get("pricelist")
        if not isinstance(rows, list):
            raise SupplierError(f"IAK price list unreadable: {exchange.error or exchange.http_status}")
        entries = []
        for row in rows:
            cost = _int_or_none(row.get("product_price")) if isinstance(row, dict) else None
            if cost is None or not row.get("product_code"):
                continue  # a row we cannot price is left out rather than guessed
            entries.append(
                CatalogEntry(
                    sku=str(row["product_code"]),
                    name=str(row.get("product_description", row["product_code"])),
                    cost_idr=cost,
                    available=row.get("status") == "active",
                    category=row.get("product_type"),
                )
            )
        return CatalogResult(entries, [exchange])

    def inquire_pln(self, meter: str) -> MeterOwner | None:
        """docs/prepaid/core/v2/inquiry/pln.md: the PLN prepaid meter's owner `name` and `segment_power`
        (status "1"); rc 14 (incorrect destination number) says there is no such meter; anything else: None."""
        body = {"username": self._username, "customer_id": meter, "sign": self._sign(meter)}
        response, _ = self._post("inquiry", f"{self._prepaid}/api/inquiry-pln", body)
        data = None
        if response is not None and response.status_code < 500:
            try:
                data = _data(response.json())
            except ValueError:
                data = None
        if not data:
            return None
        if str(data.get("status")) == "1" and data.get("name"):
            return MeterOwner(True, str(data["name"]), str(data.get("segment_power") or "") or None)
        if str(data.get("rc")) == "14":
            return MeterOwner(False)
        return None

    def inquire_game(self, sku: str, user_id: str, zone: str | None) -> GameAccount | None:
        """docs/prepaid/core/v2/inquiry/game/game-id.md: `api/inquiry-game` with the game's code and the player id
        in its format (`{userid}|{zoneid}` for code 103, docs' game-format-hp.md) answers the player's `username`
        (status 1); rc 14 (incorrect destination) says there is no such player. A game we hold no code for, or
        any other answer: None (the check cannot say)."""
        game_code = next((code for prefix, code in GAME_CODES.items() if sku.startswith(prefix)), None)
        if game_code is None:
            return None
        body = {
            "username": self._username,
            "game_code": game_code,
            "customer_id": game_customer_id(user_id, zone),
            "sign": self._sign(game_code),
        }
        response, _ = self._post("inquiry", f"{self._prepaid}/api/inquiry-game", body)
        data = None
        if response is not None and response.status_code < 500:
            try:
                data = _data(response.json())
            except ValueError:
                data = None
        if not data:
            return None
        if str(data.get("status")).split(".")[0] == "1" and data.get("username"):
            return GameAccount(True, str(data["username"]))
        if str(data.get("rc")) == "14":
            return GameAccount(False)
        return None

    def fetch_postpaid_catalog(self) -> CatalogResult:
        """docs/postpaid/core/price-list.md: `pricelist-pasca` answers `data.pasca` rows of code, name, status
        (1 active, 4 non active), fee (the admin fee) and komisi (our commission). A bill's amount is known only
        from its inquiry: the offer's cost is what the bill costs us on top of it, the fee less the commission
        (at least 1 IDR: costs are positive; it only ranks suppliers and guards the deposit)."""
        body = {
            "commands": "pricelist-pasca",
            "username": self._username,
            "sign": self._sign("pl"),
            "status": "all",
        }
        response, exchange = self._post("catalog", f"{self._postpaid}/api/v1/bill/check", body)
        payload: Any = None
        if response is not None:
            try:
                payload = response.json()
            except ValueError:
                payload = None
        data = payload.get("data") if isinstance(payload, dict) else None
        rows = data.get("pasca") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise SupplierError(
                f"IAK postpaid price list unreadable: {exchange.error or exchange.http_status}"
            )
        entries = []
        for row in rows:
            fee = _int_or_none(row.get("fee")) if isinstance(row, dict) else None
            if fee is None or not row.get("code"):
                continue  # a row we cannot price is left out rather than guessed
            net = fee - (_int_or_none(row.get("komisi")) or 0)
            entries.append(
                CatalogEntry(
                    sku=str(row["code"]),
                    name=str(row.get("name") or row["code"]),
                    cost_idr=max(net, 1),
                    available=str(row.get("status")) == "1",
                    category=f"postpaid:{row.get('type') or ''}",
                )
            )
        return CatalogResult(entries, [exchange])

    def balance(self) -> BalanceResult:
        body = {"username": self._username, "sign": self._sign("bl")}
        response, exchange = self._post("balance", f"{self._prepaid}/api/check-balance", body)
        data = None
        if response is not None:
            try:
                data = _data(response.json())
            except ValueError:
                data = None
        balance = _int_or_none(data.get("balance")) if data else None
        if balance is None:
            raise SupplierError(f"IAK balance unreadable: {exchange.error or exchange.http_status}")
        return BalanceResult(balance, [exchange])

    def _sender_allowed(self, remote_addr: str | None) -> bool:
        if not self._callback_networks:
            return True
        try:
            address = ipaddress.ip_address((remote_addr or "").strip())
        except ValueError:
            return False
        return any(address in network for network in self._callback_networks)

    def parse_callback(self, request: CallbackRequest) -> CallbackResult:
        if not self._sender_allowed(request.remote_addr):
            return CallbackResult(
                False,
                None,
                None,
                reply_status=403,
                reply_body="forbidden",
                reason="sender is not one of IAK's callback addresses (IAK_CALLBACK_ALLOWED_IPS)",
            )
        try:
            data = _data(json.loads(request.body))
        except (ValueError, UnicodeDecodeError):
            data = None
        if data is None or not data.get("ref_id"):
            return CallbackResult(
                False,
                None,
                None,
                reply_status=400,
                reply_body="bad request",
                reason="body is not IAK callback JSON",
            )
        reference = str(data["ref_id"])
        stored = redact({"data": data}, REDACT_KEYS)
        expected = self._sign(reference)
        if not hmac.compare_digest(str(data.get("sign", "")).encode(), expected.encode()):
            return CallbackResult(
                False,
                reference,
                None,
                reply_status=403,
                reply_body="invalid sign",
                reason="sign does not match md5(username+api_key+ref_id)",
                redacted=stored,
            )
        # The callback says status "1"/"2" as text; rc decides the class, as in every other answer. A callback
        # is only ever success or failed (docs/prepaid/callback.md): any other status is not believed.
        normalised = {**data, "status": str(data.get("status", ""))}
        outcome = outcome_from_data(normalised, RC_OUTCOMES)
        if (outcome.outcome is Outcome.SUCCESS and normalised["status"] != "1") or (
            outcome.outcome is Outcome.FAILED and normalised["status"] != "2"
        ):
            outcome = SupplierOutcome(
                Outcome.UNKNOWN, supplier_code=outcome.supplier_code, message=outcome.message
            )
        return CallbackResult(
            True, reference, outcome, price_idr=_int_or_none(data.get("price")), redacted=stored
        )
