"""ECPay's PaymentInfoURL: the payment code of an offline method (ATM virtual account, convenience-store code,
barcode), before any money moves. Documented by ECPay as 取號結果通知 (developers.ecpay.com.tw/?p=2881):
RtnCode 2 (ATM: BankCode, vAccount, ExpireDate yyyy/MM/dd) or 10100073 (CVS: PaymentNo; BARCODE: Barcode1-3;
ExpireDate yyyy/MM/dd HH:mm:ss), signed with the same CheckMacValue as every other notification.

Stored as received first (gateway_events, kind "payment_info"), like a ReturnURL notice; then, verified, on its
hand-off (payment_checkouts), with the order's payment window stretched to the code's deadline (an ATM code
lives days, not the card's 30 minutes) and the customer's LINE message, in one transaction. A forged one
changes nothing. It never moves the payment's status: only ReturnURL (RtnCode 1) or a query says paid.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import text

from esa_domain.adapters.ecpay import ACK, nack, verify_check_mac_value
from esa_domain.infra.db import UnitOfWork, driver
from esa_domain.ordering import notify
from esa_domain.payments.accept import EcpayConfig, _settle_event, _store_received

UowFactory = Callable[[], UnitOfWork]
TAIPEI = timezone(timedelta(hours=8))
GOT_CODE = ("2", "10100073")  # ATM virtual account issued; CVS code or barcode issued
_CODE = re.compile(r"^[A-Za-z0-9]{1,20}$")


@dataclass(frozen=True)
class InfoReply:
    body: str  # "1|OK" once durably handled
    status_code: int
    payment_id: int | None = None


def _deadline(value: str) -> datetime | None:
    for fmt, end_of_day in (("%Y/%m/%d %H:%M:%S", False), ("%Y/%m/%d", True)):
        try:
            at = datetime.strptime(value.strip(), fmt).replace(tzinfo=TAIPEI)
        except ValueError:
            continue
        return at + timedelta(days=1) - timedelta(seconds=1) if end_of_day else at
    return None


def _code(fields: Mapping[str, str], name: str) -> str | None:
    value = fields.get(name, "")
    return value if _CODE.fullmatch(value) else None


def handle_payment_info(
    uow_factory: UowFactory, fields: Mapping[str, str], config: EcpayConfig, *, remote_addr: str | None = None
) -> InfoReply:
    with uow_factory() as uow:
        s = uow.session
        event_id = _store_received(s, "payment_info", fields, remote_addr)
        reply, outcome, verified, payment_id = _apply(s, fields, config)
        _settle_event(s, event_id, outcome, verified, payment_id)
        uow.commit()
        return reply


def _apply(s, fields: Mapping[str, str], config: EcpayConfig) -> tuple[InfoReply, str, bool, int | None]:  # type: ignore[no-untyped-def]
    if not verify_check_mac_value(fields, config.hash_key, config.hash_iv):
        return InfoReply(nack("CheckMacValue does not match"), 400), "rejected: CheckMacValue", False, None
    if fields.get("MerchantID") != config.merchant_id:
        return InfoReply(nack("not our merchant"), 400), "rejected: another MerchantID", False, None
    trade_no = fields.get("MerchantTradeNo", "")
    row = (
        driver(s)
        .execute(
            "SELECT c.id, c.payment_id, p.amount_twd, p.status FROM payment_checkouts c "
            "JOIN payments p ON p.id = c.payment_id WHERE c.merchant_trade_no = %(t)s",
            {"t": trade_no},
        )
        .fetchone()
    )
    if row is None:
        return InfoReply(nack("unknown MerchantTradeNo"), 400), "rejected: unknown trade", True, None
    checkout_id, payment_id, amount, status = row
    rtn_code = fields.get("RtnCode", "")
    if rtn_code not in GOT_CODE:  # ECPay could not issue a code: kept like a declined card, pay again
        s.execute(
            text(
                "UPDATE payment_checkouts SET rtn_code = :c, rtn_msg = :m, result_at = now() WHERE id = :id"
            ),
            {"c": rtn_code[:20], "m": fields.get("RtnMsg", "")[:200], "id": checkout_id},
        )
        return InfoReply(ACK, 200, payment_id), f"no code: RtnCode {rtn_code[:20]}", True, payment_id
    if fields.get("TradeAmt") != str(amount):
        return InfoReply(nack("amount mismatch"), 400, payment_id), "rejected: amount", True, payment_id
    pay_by = _deadline(fields.get("ExpireDate", ""))
    barcodes = [_code(fields, f"Barcode{i}") for i in (1, 2, 3)]
    s.execute(
        text(
            """
            UPDATE payment_checkouts SET payment_type = :type, bank_code = :bank, v_account = :account,
                payment_no = :no, barcode1 = :b1, barcode2 = :b2, barcode3 = :b3, info_amount_twd = :amount,
                pay_by = :pay_by, info_at = now(), rtn_code = NULL, rtn_msg = NULL
            WHERE id = :id
            """
        ),
        {
            "type": fields.get("PaymentType", "")[:40] or None,
            "bank": (fields.get("BankCode") or "")[:10] or None,
            "account": _code(fields, "vAccount"),
            "no": _code(fields, "PaymentNo"),
            "b1": barcodes[0],
            "b2": barcodes[1],
            "b3": barcodes[2],
            "amount": amount,
            "pay_by": pay_by,
            "id": checkout_id,
        },
    )
    if pay_by is not None:  # the window follows the method: the order waits until the code's deadline
        s.execute(
            text(
                "UPDATE payments SET expires_at = GREATEST(expires_at, :pay_by), updated_at = now() "
                "WHERE id = :id AND status = 'PENDING'"
            ),
            {"pay_by": pay_by, "id": payment_id},
        )
    if status == "PENDING":
        notify.queue(s, payment_id, f"{notify.PAYMENT_CODE}:{trade_no}")
        if pay_by is not None and pay_by - datetime.now(UTC) > 2 * notify.REMIND_BEFORE:
            notify.queue(s, payment_id, f"{notify.REMINDER}:{trade_no}", at=pay_by - notify.REMIND_BEFORE)
    return InfoReply(ACK, 200, payment_id), "payment code stored", True, payment_id
