"""IAK simulator: prepaid (/api/...) and postpaid (/api/v1/bill/check) on one app, with callbacks.

Speaks IAK's contract from the supplier side (shared/specs/suppliers.md): md5 signs in the JSON body,
`{"data": {...}}` answers with `rc`/`status` (prepaid) or `response_code` (postpaid), the first top-up answer
is always PROCESS (rc 39), and a re-sent ref_id is answered as a status check, never a second delivery.
Behaviours come from the destination's last four digits (sandbox/behaviours.py); postpaid also honours
IAK's magic PLN numbers (530000000001 success ... 530000000008 biller error; 530000000009 here: the first
inquiry of the number expires before its payment, rc 04 "billing id expired", a fresh one pays).

As iak-id/iak-api-reference-docs documents: a game voucher (here `hsteam12000`, the docs' own example) is
delivered with `sn` and `pin` in the status answer and the callback (docs/prepaid/callback.md); a game that needs
a zone takes `customer_id` as `{userid}|{zoneid}` (docs/prepaid/game-format.md) and answers rc 141 without it;
a PLN `sn` is `token/name/segment/power/kWh` (docs/prepaid/sn-format.md); out of stock is rc 106.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

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

DEFAULT_USERNAME = "081200000001"
DEFAULT_API_KEY = "iak-sandbox-key-0001"


@dataclass(frozen=True)
class IakProduct:
    code: str
    description: str
    nominal: str
    price: int  # IDR charged to the reseller
    type: str  # pulsa | data | pln | game | etc.
    operator: str
    active: bool = True
    voucher: bool = False  # delivered as sn + pin: the customer redeems it
    zone: bool = False  # customer_id must be {userid}|{zoneid}


# IAK is the cheapest of the three for pulsa, dearest for games.
PRODUCTS: tuple[IakProduct, ...] = (
    IakProduct("htelkomsel10000", "Telkomsel 10.000", "10000", 10_450, "pulsa", "telkomsel"),
    IakProduct("htelkomsel25000", "Telkomsel 25.000", "25000", 25_150, "pulsa", "telkomsel"),
    IakProduct("htelkomsel50000", "Telkomsel 50.000", "50000", 49_800, "pulsa", "telkomsel"),
    IakProduct("hindosat10000", "Indosat 10.000", "10000", 10_600, "pulsa", "indosat"),
    IakProduct("hxl10000", "XL 10.000", "10000", 10_700, "pulsa", "xl"),
    IakProduct("hpln20000", "PLN Token 20.000", "20000", 20_350, "pln", "pln"),
    IakProduct("hpln50000", "PLN Token 50.000", "50000", 50_300, "pln", "pln"),
    IakProduct(
        "mobilelegend86", "Mobile Legends 86 Diamonds", "86", 22_500, "game", "mobile_legends", zone=True
    ),
    IakProduct("hsteam12000", "Steam Wallet IDR 12.000", "12000", 16_500, "game", "steam", voucher=True),
    IakProduct("freefire140", "Free Fire 140 Diamonds", "140", 19_900, "game", "free_fire"),
    IakProduct("htelkomsel5000", "Telkomsel 5.000", "5000", 5_900, "pulsa", "telkomsel", active=False),
)

POSTPAID_BILL_IDR = 150_000
GAME_TEST_PLAYER = "156378300|8483"  # docs/prepaid/core/v2/inquiry/game/game-id.md "Test Case"
PLN_TEST_METER = "12345678901"  # docs/prepaid/core/v2/inquiry/pln.md "Test Case"
# docs/postpaid/core/price-list.md: `pricelist-pasca` rows (code, name, status 1/4, fee, komisi, type[, province])
POSTPAID_PRICELIST: tuple[dict[str, Any], ...] = (
    {"code": "PLNPOSTPAID", "name": "PLN Postpaid", "status": 1, "fee": 2500, "komisi": 600, "type": "pln"},
    {"code": "BPJS", "name": "BPJS Kesehatan", "status": 1, "fee": 2500, "komisi": 100, "type": "bpjs"},
    {
        "code": "PDAMKOTA.SURABAYA",
        "name": "PDAM Kota Surabaya",
        "status": 1,
        "fee": 2000,
        "komisi": 700,
        "type": "pdam",
        "province": "Jawa Timur",
    },
    {
        "code": "PDAMKOTA.BANDUNG",
        "name": "PDAM Kota Bandung",
        "status": 1,
        "fee": 2000,
        "komisi": 700,
        "type": "pdam",
        "province": "Jawa Barat",
    },
    # the docs' telco example is HPTHREE (docs/postpaid/core/product/telco/inquiry.md); Telkomsel Halo's code is
    # assumed to follow it (HP + operator): check it against IAK's live price list before selling it
    {"code": "HPTSEL", "name": "Telkomsel Halo", "status": 1, "fee": 2500, "komisi": 500, "type": "hp"},
    {"code": "HPTHREE", "name": "Three Postpaid", "status": 1, "fee": 0, "komisi": 0, "type": "hp"},
)
# Postpaid product code -> admin fee (IDR); the bill amount comes from the "biller".
POSTPAID_ADMIN: dict[str, int] = {r["code"]: r["fee"] for r in POSTPAID_PRICELIST}
# docs/postpaid/core/product/bpjs-kesehatan/inquiry.md: its test numbers 8801234560001 (success) ... 0008 behave
# like the PLN magic numbers; its example bills "VERGIE" 50000 for `month` 2 (period "02"): 25000 a month here
BPJS_TEST_PREFIX = "880123456000"
BPJS_MONTHLY_IDR = 25_000
# docs/postpaid/core/product/telco/inquiry.md: HPTHREE 08991234501 success ... 08991234508 biller error
TELCO_TEST_PREFIX = "0899123450"
# docs/postpaid/core/product/pdam/inquiry.md: 10202001 success ... 10202008 biller error; its example answer
PDAM_TEST_PREFIX = "1020200"
PDAM_EXAMPLE = {"tr_name": "DADANG SOEKARDI", "period": "201412", "nominal": 35490}
PDAM_EXAMPLE_DESC = {
    "bill_quantity": 1,
    "address": "WONOKROMO S.S BARU 2 8",
    "biller_admin": "",
    "pdam_name": "PDAM SURABAYA",
    "stamp_duty": "",
    "due_date": "1-15 DES 2014",
    "kode_tarif": "3A",
    "bill": {
        "detail": [
            {
                "period": "201412",
                "first_meter": 4589,
                "last_meter": 4613,
                "penalty": 7500,
                "bill_amount": 27240,
                "misc_amount": 750,
                "stand": "",
            }
        ]
    },
}
MAGIC_PREFIXES = ("53000000", BPJS_TEST_PREFIX, TELCO_TEST_PREFIX, PDAM_TEST_PREFIX)
# here only (the docs have no such number): the first inquiry expires before payment and the fresh one asks more,
# as a bill that changed between the customer's inquiry and the payment
AMOUNT_CHANGED_MAGIC = "0010"
AMOUNT_CHANGE_IDR = 5_000


def magic_of(hp: str) -> str:
    """The documented sandbox behaviour of a postpaid number (what follows its test prefix, as 4 digits), or ''."""
    if hp.startswith("53000000"):  # IAK's PLN numbers; tests put a unique middle before the last four digits
        return hp[-4:]
    for prefix in MAGIC_PREFIXES:
        rest = hp[len(prefix) :]
        if hp.startswith(prefix) and rest.isdigit() and len(rest) <= 4:
            return rest.zfill(4)
    return ""


# rc sent for each definite-failure behaviour (all documented IAK codes).
FAILURE_RC = {
    Behaviour.CUSTOMER_FAILURE: ("14", "INCORRECT DESTINATION NUMBER"),
    Behaviour.PRODUCT_FAILURE: ("106", "PRODUCT IS TEMPORARILY OUT OF SERVICE"),
    Behaviour.CONFIG_FAILURE: ("17", "BALANCE NOT ENOUGH"),
}
PENDING_FAILURE_RC = ("206", "CUSTOMER NUMBER BLOCKED")  # what PENDING_THEN_FAILURE ends with


def iak_sign(username: str, api_key: str, salt: str) -> str:
    """IAK's signature: md5(username + api_key + salt), lowercase hex."""
    return hashlib.md5(f"{username}{api_key}{salt}".encode(), usedforsecurity=False).hexdigest()


def _serial(txn: Txn) -> str:
    if txn.sku.startswith("hpln"):
        # PLN: token/name/segment/power/kwh, as docs/prepaid/sn-format.md shows it
        return f"{txn.supplier_txn_id[-4:]:0>4}-5612-8910-1112-1314/SIMULATED CUSTOMER/R1 /000001300/13.5"
    if txn.extra.get("pin"):  # a game voucher: ABCD-EFGH-IJKL-MNOP, as in docs/prepaid/sn-format.md
        digest = hashlib.sha256(txn.reference.encode()).hexdigest().upper()
        return "-".join(digest[i : i + 4] for i in range(0, 16, 4))
    return f"SN{txn.supplier_txn_id}"


def _pin(reference: str) -> str:
    """A voucher PIN (9 digits, as the docs' example), fixed per reference so a re-send shows the same one."""
    return f"{int(hashlib.sha256(f'pin:{reference}'.encode()).hexdigest(), 16) % 10**9:09d}"


def create_app(
    *,
    username: str = DEFAULT_USERNAME,
    api_key: str = DEFAULT_API_KEY,
    callback_url: str | None = None,
    config: SimulatorConfig | None = None,
) -> FastAPI:
    """An IAK simulator for one reseller account.

    `username`/`api_key` are the credentials it accepts; `callback_url` is where it POSTs callbacks (IAK
    keeps it in the account settings, not per request); `config` sets balance and delays.
    """
    state = SimulatorState(config or SimulatorConfig())
    products = {p.code: p for p in PRODUCTS}
    inquiries: dict[str, dict[str, Any]] = {}  # postpaid tr_id -> inquiry
    expired: set[str] = set()  # ref_ids whose inquiry expired before payment (rc 04)
    inquired_numbers: set[str] = set()
    app = FastAPI(title="IAK simulator")
    app.state.sim = state

    def signed(body: dict[str, Any], salt: str) -> bool:
        given = str(body.get("sign", ""))
        return body.get("username") == username and hmac.compare_digest(
            given, iak_sign(username, api_key, salt)
        )

    def bad_sign() -> JSONResponse:
        return JSONResponse({"data": {"rc": "204", "status": 2, "message": "WRONG SIGNATURE"}}, 400)

    def prepaid_view(txn: Txn) -> dict[str, Any]:
        rc = {"success": "00", "pending": "39"}.get(txn.status, txn.extra.get("rc", "07"))
        data: dict[str, Any] = {
            "ref_id": txn.reference,
            "status": {"pending": 0, "success": 1, "failed": 2}[txn.status],
            "product_code": txn.sku,
            "customer_id": txn.target,
            "price": txn.cost,
            "message": txn.extra.get("message", "")
            if txn.status == FAILED
            else {"success": "SUCCESS"}.get(txn.status, "PROCESS"),
            "balance": state.ledger.balance,
            "tr_id": txn.supplier_txn_id,
            "rc": rc,
        }
        if txn.status == SUCCESS:
            data["sn"] = txn.serial
            if txn.extra.get("pin"):
                data["pin"] = txn.extra["pin"]
        return data

    def notify(txn: Txn, override: str | None) -> None:
        if not callback_url:
            return
        status = override or txn.status
        if status == PENDING:
            return
        rc = "00" if status == SUCCESS else txn.extra.get("rc", PENDING_FAILURE_RC[0])
        data = {
            "ref_id": txn.reference,
            "status": "1" if status == SUCCESS else "2",
            "product_code": txn.sku,
            "customer_id": txn.target,
            "price": str(txn.cost),
            "message": "SUCCESS" if status == SUCCESS else txn.extra.get("message", PENDING_FAILURE_RC[1]),
            "sn": txn.serial if status == SUCCESS else "",
            "balance": str(state.ledger.balance),
            "tr_id": txn.supplier_txn_id,
            "rc": rc,
            "sign": iak_sign(username, api_key, txn.reference),
        }
        if status == SUCCESS and txn.extra.get("pin"):
            data["pin"] = txn.extra["pin"]
        state.send_callback(callback_url, json={"data": data})

    state.notify = notify
    add_sandbox_routes(app, state, _serial)

    @app.post("/api/pricelist")
    @app.post("/api/pricelist/{ptype}")
    @app.post("/api/pricelist/{ptype}/{operator}")
    async def pricelist(
        request: Request, ptype: str | None = None, operator: str | None = None
    ) -> JSONResponse:
        body = await request.json()
        if not signed(body, "pl"):
            return bad_sign()
        rows = [
            {
                "product_code": p.code,
                "product_description": p.description,
                "product_nominal": p.nominal,
                "product_details": "-",
                "product_price": p.price,
                "product_type": p.type,
                "active_period": "30",
                "status": "active" if p.active else "non active",
                "icon_url": "",
                "product_category": p.operator,
            }
            for p in PRODUCTS
            if (ptype is None or p.type == ptype) and (operator is None or p.operator == operator)
        ]
        return JSONResponse({"data": {"pricelist": rows, "rc": "00", "message": "SUCCESS"}})

    @app.post("/api/inquiry-pln")
    async def inquiry_pln(request: Request) -> JSONResponse:
        # docs/prepaid/core/v2/inquiry/pln.md: 12345678901 is the documented meter (its example answer);
        # any other is INCORRECT DESTINATION NUMBER in development
        body = await request.json()
        meter = str(body.get("customer_id", ""))
        if not signed(body, meter):
            return JSONResponse({"data": {"rc": "100", "message": "INVALID SIGNATURE", "status": "2"}}, 400)
        if meter != PLN_TEST_METER:
            return JSONResponse(
                {
                    "data": {
                        "status": "2",
                        "customer_id": meter,
                        "rc": "14",
                        "message": "INCORRECT DESTINATION NUMBER",
                    }
                }
            )
        return JSONResponse(
            {
                "data": {
                    "status": "1",
                    "customer_id": meter,
                    "meter_no": "548933889287",
                    "subscriber_id": meter,
                    "name": "Sintya Oktaviani",
                    "segment_power": "R1 /000001300",
                    "message": "SUCCESS",
                    "rc": "00",
                }
            }
        )

    @app.post("/api/inquiry-game")
    async def inquiry_game(request: Request) -> JSONResponse:
        # docs/prepaid/core/v2/inquiry/game/game-id.md "Test Case": game 103 with 156378300|8483 is "budi";
        # another game code: CODE NOT FOUND; another player: INCORECT DESTINATION NUMBER (the docs' spelling)
        body = await request.json()
        game_code = str(body.get("game_code", ""))
        if not signed(body, game_code):
            return JSONResponse({"data": {"rc": "100", "message": "INVALID SIGNATURE", "status": 2}}, 400)
        if game_code != "103":
            return JSONResponse({"data": {"status": 2, "message": "CODE NOT FOUND", "rc": "20"}})
        if str(body.get("customer_id", "")) != GAME_TEST_PLAYER:
            return JSONResponse({"data": {"status": 2, "message": "INCORECT DESTINATION NUMBER", "rc": "14"}})
        return JSONResponse({"data": {"username": "budi", "status": 1, "message": "SUCCESS", "rc": "00"}})

    @app.post("/api/check-balance")
    async def check_balance(request: Request) -> JSONResponse:
        body = await request.json()
        if not signed(body, "bl"):
            return bad_sign()
        return JSONResponse({"data": {"balance": state.ledger.balance, "message": "SUCCESS", "rc": "00"}})

    @app.post("/api/check-status")
    async def check_status(request: Request) -> JSONResponse:
        body = await request.json()
        ref_id = str(body.get("ref_id", ""))
        if not signed(body, ref_id):
            return bad_sign()
        txn = state.ledger.get(ref_id)
        if txn is None:
            return JSONResponse(
                {"data": {"ref_id": ref_id, "status": 2, "rc": "06", "message": "TRANSACTION NOT FOUND"}}, 400
            )
        return JSONResponse({"data": prepaid_view(txn)})

    @app.post("/api/top-up")
    async def top_up(request: Request) -> Any:
        body = await request.json()
        ref_id = str(body.get("ref_id", ""))
        if not signed(body, ref_id):
            return bad_sign()
        existing = state.ledger.get(ref_id)
        if existing is not None:  # IAK: a re-sent ref_id is a status check
            return JSONResponse({"data": prepaid_view(existing)})
        target = str(body.get("customer_id", ""))
        product = products.get(str(body.get("product_code", "")))
        user_id, _, zone_id = target.partition("|")  # a game: {userid}|{zoneid} (game-format.md)
        behaviour = behaviour_for(user_id)
        base = Txn(
            reference=ref_id,
            sku=str(body.get("product_code", "")),
            target=target,
            status=FAILED,
            cost=product.price if product else 0,
            debited=False,
            behaviour=behaviour.value,
            supplier_txn_id=state.ledger.next_id("IAK"),
        )
        rc_msg: tuple[str, str] | None = None
        if product is None:
            rc_msg = ("20", "PRODUCT CODE NOT FOUND")
        elif not product.active or product.code in state.out_of_stock:
            rc_msg = ("106", "PRODUCT IS TEMPORARILY OUT OF SERVICE")
        elif product.zone and not (user_id.isdigit() and zone_id.isdigit()):
            rc_msg = ("141", "INVALID USER ID / ZONE ID / SERVER ID / ROLENAME")
        elif behaviour in FAILURE_RC:
            rc_msg = FAILURE_RC[behaviour]
        elif state.ledger.balance < product.price:
            rc_msg = ("17", "BALANCE NOT ENOUGH")
        if rc_msg is not None:
            base.extra.update(rc=rc_msg[0], message=rc_msg[1])
            state.ledger.accept(base)
            return JSONResponse({"data": prepaid_view(base)})
        txn = state.ledger.accept(
            Txn(
                reference=ref_id,
                sku=base.sku,
                target=target,
                status=PENDING,
                cost=base.cost,
                behaviour=behaviour.value,
                supplier_txn_id=base.supplier_txn_id,
                callback_url=callback_url,
                extra={"pin": _pin(ref_id)} if product is not None and product.voucher else {},
            )
        )
        if behaviour is Behaviour.PENDING_THEN_FAILURE:
            txn.extra.update(rc=PENDING_FAILURE_RC[0], message=PENDING_FAILURE_RC[1])
        first_answer = {"data": prepaid_view(txn)}  # always PROCESS, even when it is delivered at once
        start_lifecycle(state, txn, behaviour, _serial(txn))
        await asyncio.sleep(answer_delay(state, behaviour))
        if behaviour is Behaviour.SERVER_ERROR_CREATED:
            return PlainTextResponse("Internal Server Error", 500)
        return JSONResponse(first_answer)

    @app.post("/api/v1/bill/check")
    async def bill(request: Request) -> Any:
        body = await request.json()
        command = body.get("commands")
        if command == "inq-pasca":
            return inquiry(body)
        if command == "pay-pasca":
            return await payment(body)
        if command == "checkstatus":
            return postpaid_status(body)
        if command == "pricelist-pasca":
            if not signed(body, "pl"):
                return postpaid_answer("100", "INVALID SIGNATURE", 400)
            wanted = str(body.get("status") or "all")
            rows = [
                r for r in POSTPAID_PRICELIST if wanted == "all" or (r["status"] == 1) == (wanted == "active")
            ]
            return JSONResponse({"data": {"pasca": rows}, "meta": []})
        return JSONResponse({"data": {"response_code": "101", "message": "INVALID COMMAND"}}, 400)

    def postpaid_answer(rc: str, msg: str, http: int = 200, /, **fields: Any) -> JSONResponse:
        return JSONResponse({"data": {**fields, "response_code": rc, "message": msg}, "meta": []}, http)

    def inquiry(body: dict[str, Any]) -> JSONResponse:
        ref_id = str(body.get("ref_id", ""))
        if not signed(body, ref_id):
            return postpaid_answer("100", "INVALID SIGNATURE", 400)
        hp, code = str(body.get("hp", "")), str(body.get("code", ""))
        if code not in POSTPAID_ADMIN:
            return postpaid_answer("20", "PRODUCT UNREGISTERED", 400)
        magic = magic_of(hp)
        behaviour = behaviour_for(hp)
        if magic == "0003":
            return postpaid_answer("103", "TIMEOUT")
        if magic == "0004":
            return postpaid_answer("34", "BILL HAS BEEN PAID")
        if magic == "0005" or behaviour is Behaviour.CUSTOMER_FAILURE:
            return postpaid_answer("14", "INCORRECT DESTINATION NUMBER")
        if behaviour is Behaviour.PRODUCT_FAILURE:
            return postpaid_answer("110", "SYSTEM UNDER MAINTENANCE")
        admin = POSTPAID_ADMIN[code]
        tr_id = state.ledger.next_id("9")
        nominal, name, period = POSTPAID_BILL_IDR, "SIMULATED CUSTOMER", "202501"
        desc: dict[str, Any] = {"tarif": "R1", "daya": 1300, "lembar_tagihan": "1"}
        if code == "BPJS":  # the docs' example answer, `month` months of it
            months = int(str(body.get("month") or "1"))
            nominal, name, period = BPJS_MONTHLY_IDR * months, "VERGIE", f"{months:02d}"
            desc = {
                "kode_cabang": "0901",
                "nama_cabang": "JAKARTA PUSAT",
                "sisa_pembayaran": "0",
                "jumlah_peserta": "2",
            }
        if code.startswith("PDAM"):  # the docs' example answer
            nominal, name, period = PDAM_EXAMPLE["nominal"], PDAM_EXAMPLE["tr_name"], PDAM_EXAMPLE["period"]
            desc = PDAM_EXAMPLE_DESC
        if magic == AMOUNT_CHANGED_MAGIC and hp in inquired_numbers:
            nominal += AMOUNT_CHANGE_IDR
        inq = {
            "tr_id": tr_id,
            "code": code,
            "hp": hp,
            "tr_name": name,
            "period": period,
            "nominal": nominal,
            "admin": admin,
            "ref_id": ref_id,
            "price": nominal + admin,
            "selling_price": nominal + admin - 150,
            "desc": desc,
        }
        inquiries[tr_id] = inq
        inquiries[ref_id] = inq
        if magic in ("0009", AMOUNT_CHANGED_MAGIC) and hp not in inquired_numbers:
            expired.add(ref_id)  # this number's first inquiry goes stale before it is paid
        inquired_numbers.add(hp)
        return postpaid_answer("00", "INQUIRY SUCCESS", **inq)

    async def payment(body: dict[str, Any]) -> JSONResponse:
        tr_id = str(body.get("tr_id", ""))
        if not signed(body, tr_id):
            return postpaid_answer("100", "INVALID SIGNATURE", 400)
        inq = inquiries.get(tr_id)
        if inq is None:
            return postpaid_answer("06", "INQUIRY ID NOT FOUND", 400)
        ref_id, hp = inq["ref_id"], inq["hp"]
        if ref_id in expired:
            return postpaid_answer("04", "BILLING ID EXPIRED", **inq)
        existing = state.ledger.get(ref_id)
        if existing is not None:
            return postpaid_answer("11", "DUPLICATE REF ID", 400)
        magic = magic_of(hp)
        behaviour = behaviour_for(hp)
        cost = int(inq["selling_price"])
        if behaviour is Behaviour.CONFIG_FAILURE or state.ledger.balance < cost:
            return postpaid_answer("17", "BALANCE NOT ENOUGH")
        txn = state.ledger.accept(
            Txn(
                reference=ref_id,
                sku=inq["code"],
                target=hp,
                status=PENDING,
                cost=cost,
                supplier_txn_id=tr_id,
                behaviour=behaviour.value,
                extra={"postpaid": True},
            )
        )
        if magic == "0006":
            state.ledger.settle(ref_id, FAILED)
            return postpaid_answer("07", "TRANSACTION FAILED", **inq)
        if magic == "0008":
            state.ledger.settle(ref_id, FAILED)
            return postpaid_answer("105", "MISC ERROR / BILLER SYSTEM ERROR", **inq)
        if magic == "0007" or behaviour in (Behaviour.PENDING_THEN_SUCCESS, Behaviour.PENDING_THEN_FAILURE):
            final = FAILED if behaviour is Behaviour.PENDING_THEN_FAILURE else SUCCESS
            state.scheduler.later(
                state.config.callback_delay, lambda: state.ledger.settle(ref_id, final, f"NOREF{tr_id}")
            )
            return postpaid_answer("39", "PENDING / TRANSACTION IN PROCESS", **inq)
        state.ledger.settle(ref_id, SUCCESS, f"NOREF{tr_id}")
        await asyncio.sleep(answer_delay(state, behaviour))
        if behaviour is Behaviour.SERVER_ERROR_CREATED:
            return JSONResponse({"message": "Server Error"}, 500)
        return postpaid_answer("00", "PAYMENT SUCCESS", noref=txn.serial, **inq)

    def postpaid_status(body: dict[str, Any]) -> JSONResponse:
        if not signed(body, "cs"):
            return postpaid_answer("100", "INVALID SIGNATURE", 400)
        ref_id = str(body.get("ref_id", ""))
        inq = inquiries.get(ref_id)
        txn = state.ledger.get(ref_id)
        if inq is None:
            return postpaid_answer("06", "INQUIRY ID NOT FOUND", 400)
        if ref_id in expired:
            return postpaid_answer("04", "BILLING ID EXPIRED", status=2, **inq)
        if txn is None:
            return postpaid_answer("42", "PAYMENT REQUEST HAVEN'T BEEN RECEIEVED", status=0, **inq)
        if txn.status == SUCCESS:
            return postpaid_answer("00", "PAYMENT SUCCESS", status=1, noref=txn.serial, **inq)
        if txn.status == PENDING:
            return postpaid_answer("39", "PENDING / TRANSACTION IN PROCESS", status=3, **inq)
        return postpaid_answer("07", "TRANSACTION FAILED", status=2, **inq)

    return app


app = create_app()
