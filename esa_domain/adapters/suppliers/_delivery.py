"""Splitting what a supplier answers as delivered into a `Delivery`: serial, PIN, voucher code, PLN token.

A PLN prepaid answer carries the token with the meter's facts in one text, as IAK documents it
(iak-id/iak-api-reference-docs, docs/prepaid/sn-format.md): `token/customer name/segment/power/kWh`, e.g.
`0123-4567-8901-2345-6789/PT INDOBEST ARTHA KREASI/R1 /000001300/66.2`. The token is 20 digits, grouped or not.
"""

from __future__ import annotations

from esa_domain.adapters.suppliers.base import Delivery


def _token(text: str) -> str | None:
    digits = text.replace("-", "").replace(" ", "")
    return text.strip() if len(digits) == 20 and digits.isdigit() else None


def pln_delivery(text: str) -> Delivery | None:
    """A PLN `token/name/segment/power/kWh` text split, or None when `text` does not start with a token."""
    parts = [p.strip() for p in text.split("/")]
    token = _token(parts[0]) if parts else None
    if token is None:
        return None
    name = parts[1] if len(parts) > 1 and parts[1] else None
    tariff = None
    if len(parts) > 3:
        power = parts[3].lstrip("0") or parts[3]
        tariff = f"{parts[2]}/{power}VA" if power.isdigit() else f"{parts[2]}/{parts[3]}"
    elif len(parts) > 2:
        tariff = parts[2] or None
    kwh = parts[4] if len(parts) > 4 and parts[4] else None
    return Delivery(token=token, customer_name=name, tariff=tariff, kwh=kwh)


def delivery_from(
    serial: str | None, *, pin: str | None = None, voucher_code: str | None = None
) -> Delivery | None:
    """The delivery of one answer: a PLN text split into its parts, else the serial with any PIN/voucher code."""
    serial = (serial or "").strip() or None
    pin = (pin or "").strip() or None
    voucher_code = (voucher_code or "").strip() or None
    if serial and not pin and not voucher_code and (pln := pln_delivery(serial)) is not None:
        return pln
    if serial is None and pin is None and voucher_code is None:
        return None
    return Delivery(serial=serial, pin=pin, voucher_code=voucher_code)


def shown(delivery: Delivery | None) -> str | None:
    """What lists and alerts may show of a delivery (`SupplierOutcome.artifact`): token or serial, no secret."""
    if delivery is None:
        return None
    value = delivery.token or delivery.serial
    return value[:300] if value else None
