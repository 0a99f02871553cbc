"""A customer's saved e-invoice carrier (issue 19): the mobile barcode (手機條碼) or love code (捐贈碼) they chose
at a checkout and asked us to keep, prefilled at their next one. 'none' is kept as no row.

Only a carrier ECPay knew when it was saved is kept: the caller checks it (`carrier.check_carrier`) first, as the
checkout does before payment. The format is checked here again (`carrier.parse_carrier`), so nothing malformed is
ever stored, whoever calls.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.invoicing.carrier import Carrier, parse_carrier

_SAVE = text(
    """
    INSERT INTO saved_invoice_carriers (customer_id, kind, value, created_at)
    VALUES (:customer_id, :kind, :value, :now)
    ON CONFLICT (customer_id) DO UPDATE SET kind = EXCLUDED.kind, value = EXCLUDED.value, updated_at = :now
    """
)


def save_carrier(
    session: Session, customer_id: int, carrier: Carrier, now: datetime | None = None
) -> Carrier:
    """Keep `carrier` as the customer's (replacing an earlier one); 'none' forgets the saved one. The caller
    commits. InvalidCarrier for a malformed one (nothing written)."""
    carrier = parse_carrier(carrier.kind, carrier.value)
    if carrier.kind == "none":
        session.execute(
            text("DELETE FROM saved_invoice_carriers WHERE customer_id = :id"), {"id": customer_id}
        )
        return carrier
    session.execute(
        _SAVE,
        {
            "customer_id": customer_id,
            "kind": carrier.kind,
            "value": carrier.value,
            "now": now or datetime.now(UTC),
        },
    )
    return carrier


def saved_carrier(session: Session, customer_id: int) -> Carrier:
    """The customer's saved carrier, or Carrier('none') when they keep none."""
    row = session.execute(
        text("SELECT kind, value FROM saved_invoice_carriers WHERE customer_id = :id"), {"id": customer_id}
    ).first()
    return Carrier("none") if row is None else Carrier(row.kind, row.value)
