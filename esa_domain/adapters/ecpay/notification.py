"""The ReturnURL payment-result notification: verify it, then say what it means in provider-neutral terms.

See shared/specs/ecpay.md, "ReturnURL". The MAC is checked over whatever fields arrived, never a fixed list.
The caller answers `ACK` once the notification is durably handled, `nack(reason)` when it was rejected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from esa_domain.adapters.ecpay.codec import MAC_FIELD, verify_check_mac_value

ACK = "1|OK"
REQUIRED_FIELDS = ("MerchantTradeNo", "RtnCode", "TradeAmt")
_WHOLE_NUMBER = re.compile(r"[0-9]+")
_CODE = re.compile(r"-?(0|[1-9][0-9]*)")  # ECPay's form: no leading zeros, so "01" is not "1"


@dataclass(frozen=True)
class Notification:
    """A verified payment result. Ship only when `paid and not simulated`, and for the expected amount."""

    merchant_trade_no: str
    trade_no: str  # ECPay's own trade number, needed for refunds
    rtn_code: int
    paid: bool  # RtnCode is exactly "1"
    simulated: bool  # SimulatePaid == '1': fired from ECPay's dashboard, no money moved
    amount_twd: int
    payment_type: str
    payment_date: str  # as sent, Taiwan time `yyyy/MM/dd HH:mm:ss`, empty when unpaid
    custom_field1: str  # our payment id, echoed back

    @property
    def should_ship(self) -> bool:
        """True only for a real (not simulated) successful payment."""
        return self.paid and not self.simulated


@dataclass(frozen=True)
class Rejection:
    """A notification that must change nothing; `reason` is for the record (no secrets in it)."""

    reason: str


def nack(reason: str) -> str:
    """The body to answer for a rejected notification, like ECPay's own samples (`0|<reason>`)."""
    return f"0|{reason}"


def redact(fields: Mapping[str, str]) -> dict[str, str]:
    """The notification as it may be stored: every field received except the CheckMacValue."""
    return {k: v for k, v in fields.items() if k != MAC_FIELD}


def parse_notification(
    fields: Mapping[str, str], *, merchant_id: str, hash_key: str, hash_iv: str
) -> Notification | Rejection:
    """Verify a ReturnURL notification and read it.

    `fields`: the form fields exactly as received (values not trimmed), CheckMacValue included.
    `merchant_id`, `hash_key`, `hash_iv`: our merchant credentials; a notice for another merchant is rejected.
    """
    if MAC_FIELD not in fields:
        return Rejection("no CheckMacValue")
    if fields.get("EncryptType", "1") != "1":
        return Rejection(f"EncryptType {fields['EncryptType']!r}: only SHA-256 (EncryptType=1) is accepted")
    if not verify_check_mac_value(fields, hash_key, hash_iv):
        return Rejection("CheckMacValue does not match")
    # a validly signed notice for another merchant (shared keys on stage) is still not ours
    if fields.get("MerchantID") != merchant_id:
        return Rejection(f"MerchantID {fields.get('MerchantID', '')!r} is not ours")
    missing = [name for name in REQUIRED_FIELDS if not fields.get(name)]
    if missing:
        return Rejection(f"missing fields: {', '.join(missing)}")
    if not _WHOLE_NUMBER.fullmatch(fields["TradeAmt"]):
        return Rejection(f"TradeAmt {fields['TradeAmt']!r} is not a whole number of TWD")
    if not _CODE.fullmatch(fields["RtnCode"]):
        return Rejection(f"RtnCode {fields['RtnCode']!r} is not a number in ECPay's form")
    rtn_code = int(fields["RtnCode"])
    return Notification(
        merchant_trade_no=fields["MerchantTradeNo"],
        trade_no=fields.get("TradeNo", ""),
        rtn_code=rtn_code,
        paid=fields["RtnCode"] == "1",  # exactly ECPay's success code, nothing that merely parses to 1
        simulated=fields.get("SimulatePaid", "0") == "1",
        amount_twd=int(fields["TradeAmt"]),
        payment_type=fields.get("PaymentType", ""),
        payment_date=fields.get("PaymentDate", ""),
        custom_field1=fields.get("CustomField1", ""),
    )
