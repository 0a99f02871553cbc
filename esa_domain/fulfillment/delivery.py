"""What a customer received for an item: serial, PIN, voucher code, PLN token and the meter facts that come with it.

Adapters split each supplier's answer into a `Delivery` (`SupplierOutcome.delivery`); the engine stores it with
`store_delivery` in the transaction that moves the item to SUCCESS; readers get it back with `delivery_for`.

The PIN and the voucher code ARE the product: anyone who reads them can spend them. They are stored only encrypted
(AES-GCM, a fresh 96-bit nonce per value, the item id and the field name as associated data so a ciphertext cannot
be moved to another item or field) under `ESA_DELIVERY_KEY`; production refuses to start on the demo's published
key (esa_domain/infra/production.py). They are masked in stored supplier exchanges, never logged, and shown only
to the order's owner (customer API) and to operators through an audited reveal (dashboard order page).
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from Crypto.Cipher import AES
from sqlalchemy import text
from sqlmodel import Session

from esa_domain.adapters.suppliers.base import SECRET_FIELDS, Delivery
from esa_domain.core.errors import NotFoundError
from esa_domain.infra.settings import get_settings
from esa_domain.models import OperatorAction

__all__ = ["Delivery", "deliveries_for", "delivery_for", "reveal_delivery", "store_delivery"]
REVEAL_ACTION = "delivery_revealed"

VERSION = "v1"
NONCE_BYTES = 12
# the demo's published key (settings default): good for the demo, refused by production
DEMO_DELIVERY_KEY = "ZXNhLWRlbW8tZGVsaXZlcnkta2V5LW5vdC1zZWNyZXQ="


class DeliveryKeyError(ValueError):
    """ESA_DELIVERY_KEY is not 32 bytes of base64."""


def parse_key(value: str) -> bytes:
    """The AES-256 key from its base64 text; a clear error when it is not 32 bytes."""
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DeliveryKeyError("ESA_DELIVERY_KEY must be 32 random bytes in base64") from exc
    if len(key) != 32:
        raise DeliveryKeyError(f"ESA_DELIVERY_KEY must be 32 bytes in base64, not {len(key)} bytes")
    return key


@lru_cache(maxsize=4)
def _key(value: str) -> bytes:
    return parse_key(value)


def current_key() -> bytes:
    return _key(get_settings().delivery_key.get_secret_value())


def _aad(item_id: int, name: str) -> bytes:
    return f"esa:item:{item_id}:{name}".encode()


def encrypt(value: str, *, item_id: int, name: str, key: bytes | None = None) -> str:
    """`value` sealed for (`item_id`, `name`): 'v1:' + base64(nonce | ciphertext | tag)."""
    cipher = AES.new(key or current_key(), AES.MODE_GCM, nonce=_nonce())
    cipher.update(_aad(item_id, name))
    sealed, tag = cipher.encrypt_and_digest(value.encode())
    return f"{VERSION}:" + base64.b64encode(cipher.nonce + sealed + tag).decode()


def decrypt(blob: str, *, item_id: int, name: str, key: bytes | None = None) -> str:
    """The value sealed by `encrypt`; ValueError when the key, the item or the field do not match."""
    version, _, body = blob.partition(":")
    if version != VERSION:
        raise ValueError(f"unknown sealed delivery format {version!r}")
    raw = base64.b64decode(body)
    nonce, sealed, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-16], raw[-16:]
    cipher = AES.new(key or current_key(), AES.MODE_GCM, nonce=nonce)
    cipher.update(_aad(item_id, name))
    return cipher.decrypt_and_verify(sealed, tag).decode()


def _nonce() -> bytes:
    from Crypto.Random import get_random_bytes

    return get_random_bytes(NONCE_BYTES)


_UPSERT = text(
    """
    INSERT INTO item_deliveries (item_id, attempt_id, serial, token, customer_name, tariff, kwh, pin_enc,
        voucher_code_enc, created_at)
    VALUES (:item, :attempt, :serial, :token, :customer_name, :tariff, :kwh, :pin_enc, :voucher_code_enc,
        clock_timestamp())
    ON CONFLICT (item_id) DO NOTHING
    """
)
_READ = text(
    """
    SELECT serial, token, customer_name, tariff, kwh, pin_enc, voucher_code_enc
    FROM item_deliveries WHERE item_id = :item
    """
)
_READ_MANY = text(
    """
    SELECT item_id, serial, token, customer_name, tariff, kwh, pin_enc, voucher_code_enc
    FROM item_deliveries WHERE item_id = ANY(:items)
    """
)
_LIMITS = {"serial": 200, "token": 80, "customer_name": 120, "tariff": 40, "kwh": 40}


def store_delivery(session: Session, item_id: int, attempt_id: int | None, delivery: Delivery | None) -> None:
    """Record what was delivered (the first delivery of an item wins; the caller's transaction commits it)."""
    if delivery is None or delivery.empty:
        return
    plain = {k: (getattr(delivery, k) or None) and str(getattr(delivery, k))[:n] for k, n in _LIMITS.items()}
    sealed = {
        f"{name}_enc": encrypt(value, item_id=item_id, name=name)
        if (value := getattr(delivery, name))
        else None
        for name in SECRET_FIELDS
    }
    session.connection().execute(_UPSERT, {"item": item_id, "attempt": attempt_id, **plain, **sealed})


def opened_delivery(item_id: int, row: object) -> Delivery:
    """A delivery from a row read from item_deliveries (columns serial, token, customer_name, tariff, kwh,
    pin_enc, voucher_code_enc; also by callers that join it themselves), its sealed fields decrypted."""
    return Delivery(
        serial=row.serial,  # type: ignore[attr-defined]
        pin=decrypt(row.pin_enc, item_id=item_id, name="pin") if row.pin_enc else None,  # type: ignore[attr-defined]
        voucher_code=decrypt(row.voucher_code_enc, item_id=item_id, name="voucher_code")  # type: ignore[attr-defined]
        if row.voucher_code_enc  # type: ignore[attr-defined]
        else None,
        token=row.token,  # type: ignore[attr-defined]
        customer_name=row.customer_name,  # type: ignore[attr-defined]
        tariff=row.tariff,  # type: ignore[attr-defined]
        kwh=row.kwh,  # type: ignore[attr-defined]
    )


def delivery_for(session: Session, item_id: int) -> Delivery | None:
    """What was delivered for the item, decrypted; None when nothing was delivered (yet)."""
    row = session.connection().execute(_READ, {"item": item_id}).fetchone()
    return None if row is None else opened_delivery(item_id, row)


def deliveries_for(session: Session, item_ids: list[int]) -> dict[int, Delivery]:
    """`delivery_for` for many items in one query (an order's items)."""
    if not item_ids:
        return {}
    rows = session.connection().execute(_READ_MANY, {"items": list(item_ids)}).fetchall()
    return {row.item_id: opened_delivery(row.item_id, row) for row in rows}


def revealable_items(session: Session, item_ids: list[int]) -> set[int]:
    """The items whose delivery holds a sealed PIN or voucher code (nothing is decrypted to tell)."""
    if not item_ids:
        return set()
    rows = session.connection().execute(
        text(
            "SELECT item_id FROM item_deliveries WHERE item_id = ANY(:items) "
            "AND (pin_enc IS NOT NULL OR voucher_code_enc IS NOT NULL)"
        ),
        {"items": list(item_ids)},
    )
    return {row.item_id for row in rows}


def reveal_delivery(
    session: Session, *, operator_id: int | None, payment_id: int, item_id: int, reason: str = ""
) -> Delivery:
    """An operator's look at an item's PIN/voucher code: the delivery, decrypted, and its audit row (an
    OperatorAction naming who, which item and which fields, never the values) in the caller's transaction."""
    owner = (
        session.connection()
        .execute(text("SELECT payment_id FROM payment_items WHERE id = :item"), {"item": item_id})
        .scalar_one_or_none()
    )
    if owner is None or owner != payment_id:
        raise NotFoundError(f"order {payment_id} has no item {item_id}")
    delivery = delivery_for(session, item_id)
    fields_shown = [name for name in SECRET_FIELDS if delivery is not None and getattr(delivery, name)]
    if delivery is None or not fields_shown:
        raise NotFoundError(f"nothing secret was delivered for item {item_id}")
    session.add(
        OperatorAction(
            operator_id=operator_id,
            action=REVEAL_ACTION,
            payment_id=payment_id,
            subject=f"item:{item_id}",
            reason=(reason or "").strip()[:500] or None,
            detail={"item_id": item_id, "fields": fields_shown},
        )
    )
    session.flush()
    return delivery
