"""Verify before paying (issue 16): what can be checked about a prepaid destination before the customer pays,
because a wrong destination found after payment costs them a refund (days for a card, an operator's transfer for
ATM and convenience-store payments).

- A phone number's operator from its prefix (iak-id/iak-api-reference-docs, docs/prepaid/prefix-list.md: IAK
  itself answers "NUMBER NOT MATCH WITH OPERATOR" otherwise): a number of another operator than the product's is
  refused when the order is quoted (`check_operator`, called by esa_domain.ordering.orders.quote).
- A PLN prepaid meter's owner name and tariff (docs/prepaid/core/v2/inquiry/pln.md), shown before payment.
- A game player id's nickname where a supplier offers the check (docs/prepaid/core/v2/inquiry/game/game-id.md).

A check that cannot judge (an operator we do not know from the product, a supplier that does not answer) never
blocks the sale: it says nothing. PLN answers are cached briefly per process (`PLN_CACHE_SECONDS`).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any

from esa_domain.adapters.suppliers.base import GameAccount, MeterOwner
from esa_domain.core.errors import DomainError

# docs/prepaid/prefix-list.md, operator -> the first four digits of its numbers
PREFIXES: dict[str, tuple[str, ...]] = {
    "indosat": ("0814", "0815", "0816", "0855", "0856", "0857", "0858"),
    "xl": ("0817", "0818", "0819", "0859", "0878", "0877"),
    "axis": ("0838", "0837", "0831", "0832"),
    "telkomsel": ("0812", "0813", "0852", "0853", "0821", "0823", "0822", "0851"),
    "smartfren": ("0881", "0882", "0883", "0884", "0885", "0886", "0887", "0888"),
    "three": ("0896", "0897", "0898", "0899", "0895"),
}
OPERATOR_NAMES = {
    "indosat": "Indosat",
    "xl": "XL",
    "axis": "Axis",
    "telkomsel": "Telkomsel",
    "smartfren": "Smartfren",
    "three": "Tri (3)",
}
# how a product names its operator: a word of its name, or the start of its code (TSEL10, ISATDATA7, XL25)
_NAME_WORDS = {
    "telkomsel": "telkomsel",
    "indosat": "indosat",
    "im3": "indosat",
    "xl": "xl",
    "axis": "axis",
    "smartfren": "smartfren",
    "three": "three",
    "tri": "three",
}
_CODE_STARTS = (
    ("TSEL", "telkomsel"),
    ("ISAT", "indosat"),
    ("XL", "xl"),
    ("AXIS", "axis"),
    ("SMART", "smartfren"),
    ("THREE", "three"),
    ("TRI", "three"),
)
PLN_CACHE_SECONDS = 300


class OperatorMismatch(DomainError):
    code = "operator_mismatch"
    http_status = 422


def operator_of_number(phone: str) -> str | None:
    """The operator a (normalised, 08…) number belongs to by its prefix, or None if no listed prefix matches."""
    head = phone[:4]
    return next((op for op, prefixes in PREFIXES.items() if head in prefixes), None)


def operator_of_product(code: str, name: str) -> str | None:
    """The operator a phone product tops up, from its name or code; None when it does not say (no check)."""
    for word in re.findall(r"[a-z0-9]+", name.lower()):
        if word in _NAME_WORDS:
            return _NAME_WORDS[word]
    upper = code.upper()
    return next((op for start, op in _CODE_STARTS if upper.startswith(start)), None)


def check_operator(product_code: str, product_name: str, target_kind: str, target: str) -> None:
    """OperatorMismatch when a phone product of one operator is asked for a number of another."""
    if target_kind != "phone":
        return
    product_op, number_op = operator_of_product(product_code, product_name), operator_of_number(target)
    if product_op is None or number_op is None or product_op == number_op:
        return
    raise OperatorMismatch(
        f"{target} is a number of {OPERATOR_NAMES[number_op]}, and {product_name} tops up "
        f"{OPERATOR_NAMES[product_op]} numbers only: choose a product for {OPERATOR_NAMES[number_op]}",
        product=product_code,
        number_operator=OPERATOR_NAMES[number_op],
        product_operator=OPERATOR_NAMES[product_op],
    )


_cache: dict[str, tuple[float, Any]] = {}  # what was looked up -> (when, its answer)
_lock = threading.Lock()


def pln_owner(adapters: Mapping[str, Any], meter: str) -> MeterOwner | None:
    """The meter's owner from the first supplier that can look it up; None if none can say now (never blocks)."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get("pln:" + meter)
        if hit is not None and now - hit[0] < PLN_CACHE_SECONDS:
            return hit[1]
    for adapter in adapters.values():
        lookup = getattr(adapter, "inquire_pln", None)
        if lookup is None:
            continue
        try:
            owner = lookup(meter)
        except Exception:  # a lookup that fails says nothing about the meter
            owner = None
        if owner is not None:
            with _lock:
                _cache["pln:" + meter] = (now, owner)
            return owner
    return None


def game_account(
    adapters: Mapping[str, Any], offers: list[tuple[str, str]], user_id: str, zone: str | None
) -> GameAccount | None:
    """The player as the first supplier that can check it says (`offers`: the product's (supplier code, SKU));
    None if none can say now."""
    key = f"game:{offers}:{user_id}:{zone}"
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < PLN_CACHE_SECONDS:
            return hit[1]  # type: ignore[no-any-return]
    for supplier, sku in offers:
        lookup = getattr(adapters.get(supplier), "inquire_game", None)
        if lookup is None:
            continue
        try:
            account = lookup(sku, user_id, zone)
        except Exception:  # a lookup that fails says nothing about the player
            account = None
        if account is not None:
            with _lock:
                _cache[key] = (now, account)
            return account
    return None
