"""What a customer must give us for each kind of product, validated and normalised before anything is written."""

from __future__ import annotations

import re

from esa_domain.core.errors import InvalidTarget

# What a normalised target must match, by target kind; the API shows the same patterns to guide the form.
PATTERNS: dict[str, str] = {
    "phone": r"^08[1-9]\d{7,10}$",  # Indonesian mobile: 08xx, 10 to 13 digits
    "pln_meter": r"^\d{11}$",
    "customer_no": r"^\d{6,20}$",
    "game_id": r"^[A-Za-z0-9]{3,20}$",
    "game_id_zone": r"^[A-Za-z0-9]{3,20}$",
    "email": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
}
ZONE_PATTERN = r"^\d{1,6}$"

_MOBILE = re.compile(PATTERNS["phone"])
_PLN_METER = re.compile(PATTERNS["pln_meter"])
_CUSTOMER_NO = re.compile(PATTERNS["customer_no"])
_GAME_ID = re.compile(PATTERNS["game_id"])
_ZONE = re.compile(ZONE_PATTERN)
_EMAIL = re.compile(PATTERNS["email"])


def normalise_phone(raw: str) -> str:
    digits = re.sub(r"[\s\-().]", "", raw)
    if digits.startswith("+62"):
        digits = "0" + digits[3:]
    elif digits.startswith("62"):
        digits = "0" + digits[2:]
    return digits


def validate_target(kind: str, target: str | None, zone: str | None = None) -> tuple[str, str | None]:
    """Return the normalised (target, zone) for a product's target kind, or raise InvalidTarget saying why."""
    raw = (target or "").strip()
    if not raw:
        raise InvalidTarget("a destination is required for this product", kind=kind)
    if kind == "phone":
        phone = normalise_phone(raw)
        if not _MOBILE.match(phone):
            raise InvalidTarget(
                f"'{raw}' is not an Indonesian mobile number: use 08… with 10 to 13 digits (or +62…)",
                kind=kind,
            )
        return phone, None
    if kind == "pln_meter":
        meter = re.sub(r"\s", "", raw)
        if not _PLN_METER.match(meter):
            raise InvalidTarget(f"'{raw}' is not a PLN meter number: it has exactly 11 digits", kind=kind)
        return meter, None
    if kind == "customer_no":
        number = re.sub(r"\s", "", raw)
        if not _CUSTOMER_NO.match(number):
            raise InvalidTarget(f"'{raw}' is not a customer number: use 6 to 20 digits", kind=kind)
        return number, None
    if kind in ("game_id", "game_id_zone"):
        if not _GAME_ID.match(raw):
            raise InvalidTarget(f"'{raw}' is not a game user id: 3 to 20 letters or digits", kind=kind)
        if kind == "game_id":
            return raw, None
        z = (zone or "").strip()
        if not _ZONE.match(z):
            raise InvalidTarget("this game needs a zone (server) id of 1 to 6 digits", kind=kind)
        return raw, z
    if kind == "email":
        if not _EMAIL.match(raw) or len(raw) > 40:
            raise InvalidTarget(f"'{raw}' is not an e-mail address", kind=kind)
        return raw.lower(), None
    raise InvalidTarget(f"unknown target kind {kind!r}", kind=kind)
