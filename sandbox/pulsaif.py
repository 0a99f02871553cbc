"""Pulsa IF simulator: the ASSUMED OtomaX-style H2H contract of shared/specs/suppliers.md.

Plain GET requests signed with base64url(sha1(...)), one-line Indonesian text replies, and report callbacks
as GET ?refid=&status=20|40|1&price=&message= to the configured report URL. The behaviour of a transaction
comes from the last four digits of `dest` (sandbox/behaviours.py).
Run alone: `uvicorn sandbox.pulsaif:app --port 9105`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

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

# code -> (name, price IDR, status). Cheapest of the five for some pulsa denominations.
PRICES: dict[str, tuple[str, int, str]] = {
    "S10": ("Telkomsel 10.000", 10_150, "aktif"),
    "S20": ("Telkomsel 20.000", 20_100, "aktif"),
    "S50": ("Telkomsel 50.000", 49_650, "aktif"),
    "X10": ("XL 10.000", 10_250, "aktif"),
    "X25": ("XL 25.000", 24_950, "aktif"),
    "I10": ("Indosat 10.000", 10_400, "aktif"),
    "T10": ("Tri 10.000", 10_300, "gangguan"),
    "PLN20": ("PLN Token 20.000", 20_700, "aktif"),
    "SD5": ("Telkomsel Data 5GB", 54_000, "aktif"),
}
REASONS = {
    Behaviour.CUSTOMER_FAILURE: "Nomor tujuan salah",
    Behaviour.PRODUCT_FAILURE: "Stok kosong",
    Behaviour.CONFIG_FAILURE: "Saldo tidak cukup",
}


def _sign(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha1(text.encode()).digest()).rstrip(b"=").decode()


def _rupiah(idr: int) -> str:
    return f"{idr:,}".replace(",", ".")


def _clock() -> str:
    return datetime.now(WIB).strftime("@%H:%M")


def serial_for(txn: Txn) -> str:
    """A numeric voucher serial, or a PLN token with name/segment/power/kwh."""
    number = str(int(hashlib.sha256(txn.reference.encode()).hexdigest()[:16], 16))[:20].rjust(20, "0")
    if txn.sku.startswith("PLN"):
        return f"{number}/SANDBOX PELANGGAN/R1/900/{txn.cost // 1450}.1"
    return number[:16]


def create_app(
    member_id: str = "ESA001",
    pin: str = "1234",
    password: str = "pulsaif-sandbox",
    report_url: str | None = None,
    config: SimulatorConfig | None = None,
    allowed_ips: frozenset[str] | None = None,
) -> FastAPI:
    """A Pulsa IF simulator.

    `member_id`/`pin`/`password` are the account it accepts; `report_url` is where report callbacks go (set
    once per account, as in OtomaX); `allowed_ips`, when given, is the IP whitelist.
    """
    app = FastAPI(title="Pulsa IF simulator (assumed OtomaX H2H contract)")
    state = SimulatorState(config or SimulatorConfig())
    app.state.sim = state

    def line(txn: Txn, status: str | None = None) -> str:
        head = f"R#{txn.reference} {txn.sku}.{txn.target}"
        tail = f"Saldo {_rupiah(state.ledger.balance)} {_clock()}"
        shown = status or txn.status
        if shown == SUCCESS:
            return f"{head} SUKSES. SN: {txn.serial}. Harga {_rupiah(txn.cost)}. {tail}"
        if shown == FAILED:
            return f"{head} GAGAL. {txn.extra.get('reason', 'Stok kosong')}. {tail}"
        return f"{head} akan diproses. {tail}"

    def notify(txn: Txn, status: str | None) -> None:
        shown = status or txn.status
        code = {SUCCESS: "20", FAILED: "40"}.get(shown, "1")
        if shown == SUCCESS:
            message = f"R#{txn.reference} SUKSES. SN: {txn.serial}. Harga {_rupiah(txn.cost)}"
        elif shown == FAILED:
            message = f"R#{txn.reference} GAGAL. {txn.extra.get('reason', 'Stok kosong')}"
        else:
            message = f"R#{txn.reference} sedang diproses"
        params = {"refid": txn.reference, "status": code, "price": str(txn.cost), "message": message}
        state.send_callback(txn.callback_url, params=params, method="GET")

    state.notify = notify
    add_sandbox_routes(app, state, serial_for)

    def refused(request: Request, signed: str, sign: str, member: str) -> str | None:
        """The account checks, the OtomaX way: a GAGAL line, or None when the request may proceed."""
        if allowed_ips is not None and (request.client is None or request.client.host not in allowed_ips):
            return "GAGAL. IP tidak terdaftar"
        if not hmac.compare_digest(member, member_id) or not hmac.compare_digest(_sign(signed), sign):
            return "GAGAL. Sign salah"
        return None

    @app.get("/pricelist", response_class=PlainTextResponse)
    def pricelist(request: Request, memberID: str = "", sign: str = "") -> str:
        if problem := refused(request, f"OtomaX|{memberID}|{pin}|{password}", sign, memberID):
            return problem
        return "\n".join(f"{code};{name};{price};{status}" for code, (name, price, status) in PRICES.items())

    @app.get("/balance", response_class=PlainTextResponse)
    def balance(request: Request, memberID: str = "", sign: str = "") -> str:
        if problem := refused(request, f"OtomaX|{memberID}|{pin}|{password}", sign, memberID):
            return problem
        return f"Saldo {_rupiah(state.ledger.balance)} {_clock()}"

    @app.get("/trx", response_class=PlainTextResponse)
    async def trx(
        request: Request,
        memberID: str = "",
        product: str = "",
        dest: str = "",
        refID: str = "",
        sign: str = "",
        check: str = "",
    ) -> PlainTextResponse:
        signed = f"OtomaX|{memberID}|{product}|{dest}|{refID}|{pin}|{password}"
        if problem := refused(request, signed, sign, memberID):
            return PlainTextResponse(f"R#{refID} {problem}")
        existing = state.ledger.get(refID)
        if check == "1":
            text = line(existing) if existing else f"R#{refID} Transaksi tidak ditemukan"
            return PlainTextResponse(text)
        if existing is not None:  # never deliver twice
            return PlainTextResponse(f"R#{refID} {product}.{dest} GAGAL. Transaksi dobel, refID sudah ada")
        item = PRICES.get(product)
        if item is None:
            return PlainTextResponse(f"R#{refID} {product}.{dest} GAGAL. Kode produk salah atau stok kosong")
        if item[2] != "aktif":
            return PlainTextResponse(f"R#{refID} {product}.{dest} GAGAL. Produk sedang gangguan")
        if product in state.out_of_stock:
            return PlainTextResponse(f"R#{refID} {product}.{dest} GAGAL. Stok kosong")
        behaviour = behaviour_for(dest)
        if behaviour is not Behaviour.CONFIG_FAILURE and state.ledger.balance < item[1]:
            behaviour = Behaviour.CONFIG_FAILURE
        txn = Txn(refID, product, dest, PENDING, item[1], supplier_txn_id=state.ledger.next_id("PIF"))
        txn.callback_url, txn.behaviour = report_url, behaviour.value
        if behaviour in REASONS:
            txn.status, txn.debited, txn.extra["reason"] = FAILED, False, REASONS[behaviour]
            state.ledger.accept(txn)
            return PlainTextResponse(line(txn))
        state.ledger.accept(txn)
        start_lifecycle(state, txn, behaviour, serial_for(txn))
        await asyncio.sleep(answer_delay(state, behaviour))
        if behaviour is Behaviour.SERVER_ERROR_CREATED:
            return PlainTextResponse("Internal Server Error", status_code=500)
        return PlainTextResponse(line(txn))

    return app


app = create_app()
