"""The carrier an e-invoice goes to (issue 19), chosen with the order and kept on the payment
(payments.invoice_carrier_kind / invoice_carrier_value).

- 'mobile': the customer's mobile barcode (手機條碼, the Ministry of Finance's common carrier): '/' and 7 of
  0-9 A-Z . + - (8 characters; ECPay's CarrierType 3, CarrierNum the barcode). ECPay's CheckBarcode says
  whether it exists; the checkout asks before payment.
- 'donation': the invoice is donated to a charity by its love code (捐贈碼, 3 to 7 digits; Donation 1, LoveCode,
  no carrier, never printed). ECPay's CheckLoveCode says whether it exists.
- 'none': the customer chose nothing. A B2C invoice must still go somewhere, and we cannot deliver paper: it
  goes to ECPay's member carrier (綠界會員載具, CarrierType 1, CarrierNum empty, Print 0). ECPay requires an
  e-mail or phone for it; ESA holds neither for its customers, so the shop's invoice mailbox
  (ECPAY_INVOICE_NOTIFY_EMAIL) is given, and the customer gets the invoice number and random code in LINE and
  on the order page (with them anyone can look the invoice up and check it in the lottery).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from esa_domain.adapters.ecpay_invoice.client import EcpayInvoiceClient, InvoiceUnavailable
from esa_domain.core.errors import DomainError

if TYPE_CHECKING:
    from esa_domain.infra.settings import Settings

log = logging.getLogger(__name__)

CarrierKind = Literal["none", "mobile", "donation"]
KINDS: tuple[str, ...] = ("none", "mobile", "donation")
MOBILE_BARCODE = re.compile(r"^/[0-9A-Z.+\-]{7}$")  # the MOF's format; ECPay: '/' first, 8 characters
LOVE_CODE = re.compile(r"^[0-9]{3,7}$")

# what ECPay's Issue takes for each kind: CarrierType (and whether the value is the CarrierNum or the LoveCode)
CARRIER_TYPE = {"none": "1", "mobile": "3", "donation": ""}


class InvalidCarrier(DomainError):
    """A carrier that cannot be used. `reason`: mobile_format | love_code_format | mobile_not_found |
    love_code_not_found | kind."""

    code = "invalid_carrier"
    http_status = 422

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


@dataclass(frozen=True)
class Carrier:
    kind: CarrierKind
    value: str | None = None


class CarrierCheck(StrEnum):
    OK = "ok"  # ECPay knows it (or nothing to check: 'none')
    NOT_FOUND = "not_found"  # ECPay answered that it does not exist
    UNAVAILABLE = "unavailable"  # ECPay did not answer (network, timeout, an error answer): ask again later


def parse_carrier(kind: str, value: str | None) -> Carrier:
    """The carrier for `kind` and `value`, format checked only (no call to ECPay); raises InvalidCarrier.
    A mobile barcode is upper-cased (the MOF issues them upper-case) and trimmed; 'none' keeps no value."""
    kind = (kind or "none").strip().lower()
    if kind not in KINDS:
        raise InvalidCarrier("kind", f"Unknown invoice carrier {kind!r}: choose none, mobile or donation.")
    if kind == "none":
        return Carrier("none", None)
    text = (value or "").strip()
    if kind == "mobile":
        text = text.upper()
        if not MOBILE_BARCODE.match(text):
            raise InvalidCarrier(
                "mobile_format",
                "A mobile barcode is '/' followed by 7 characters (0-9, A-Z, '.', '+', '-'), e.g. /ABC+123.",
            )
        return Carrier("mobile", text)
    if not LOVE_CODE.match(text):
        raise InvalidCarrier("love_code_format", "A donation (love) code is 3 to 7 digits, e.g. 168001.")
    return Carrier("donation", text)


def check_carrier(carrier: Carrier, client: EcpayInvoiceClient) -> CarrierCheck:
    """Ask ECPay whether the carrier exists (CheckBarcode / CheckLoveCode); 'none' needs no question."""
    if carrier.kind == "none":
        return CarrierCheck.OK
    try:
        if carrier.kind == "mobile":
            result = client.check_barcode(carrier.value or "")
        else:
            result = client.check_love_code(carrier.value or "")
    except InvoiceUnavailable as exc:
        log.warning("ECPay carrier check unavailable: %s", exc)
        return CarrierCheck.UNAVAILABLE
    if not result.answer.ok:
        log.warning("ECPay carrier check answered %s", result.answer.text)
        return CarrierCheck.UNAVAILABLE
    return CarrierCheck.OK if result.exists else CarrierCheck.NOT_FOUND


def not_found_error(carrier: Carrier) -> InvalidCarrier:
    """The error a person reads when ECPay does not know their carrier."""
    if carrier.kind == "mobile":
        return InvalidCarrier(
            "mobile_not_found", f"The mobile barcode {carrier.value} is not registered: check it."
        )
    return InvalidCarrier(
        "love_code_not_found", f"The donation code {carrier.value} does not exist: check it."
    )


def invoice_client_from_settings(settings: Settings, **kw) -> EcpayInvoiceClient:  # type: ignore[no-untyped-def]
    """The e-invoice client for the configured service (stage, production or the sandbox by its URL)."""
    return EcpayInvoiceClient(
        settings.ecpay_invoice_base_url,
        settings.ecpay_invoice_merchant_id,
        settings.ecpay_invoice_hash_key.get_secret_value(),
        settings.ecpay_invoice_hash_iv.get_secret_value(),
        timeout=kw.pop("timeout", settings.ecpay_invoice_timeout_s),
        **kw,
    )
