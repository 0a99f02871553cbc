"""What people expect from a top-up app (issue 17, item 6): the number typed first with its operator detected,
numbers saved under a name of the customer's own ("Ibu", "Adik"), and buying a past order again.

The operator comes from the number's prefix as IAK lists it (iak-id/iak-api-reference-docs,
docs/prepaid/prefix-list.md, kept in esa_domain.ordering.verify.PREFIXES):

    Operator Name | Prefix List
    TELKOMSEL ( htelkomsel, tseldata) | 0812,0813,0852,0853,0821,0823,0822,0851
    INDOSAT ( hindosat, isatdata ) | 0814,0815,0816,0855,0856,0857,0858
    ...
    "If the customer ID prefix not match with below table, IAK will give response NUMBER NOT MATCH WITH OPERATOR."

so the products offered for a typed number are those of its operator (`phone_products_for`). A number whose
prefix is not listed gets no operator, and every phone product stays on offer (nothing is blocked on a guess).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import Session, col, select

from esa_domain.core.errors import DomainError
from esa_domain.models import SavedNumber
from esa_domain.ordering.targets import validate_target
from esa_domain.ordering.verify import OPERATOR_NAMES, operator_of_number, operator_of_product

MAX_SAVED = 20  # numbers a customer may keep: a family's phones and meters, not an address book
KINDS = ("phone", "pln_meter", "customer_no", "game_id")


class SavedNumberInvalid(DomainError):
    code = "saved_number_invalid"
    http_status = 422


class SavedNumberLimit(DomainError):
    code = "saved_number_limit"
    http_status = 409


class SavedNumberNotFound(DomainError):
    code = "saved_number_not_found"
    http_status = 404


@dataclass(frozen=True)
class Detected:
    kind: str
    target: str  # normalised as an order would store it (08…)
    operator: str | None  # verify.PREFIXES key, or None when the prefix is not listed / not a phone
    operator_name: str | None


def detect(raw: str, kind: str = "phone") -> Detected:
    """The normalised number and, for a phone, its operator; InvalidTarget (in the customer's words) if it is
    not a number of that kind."""
    if kind not in KINDS:
        raise SavedNumberInvalid(f"a saved number is one of {', '.join(KINDS)}", kind=kind)
    target, _ = validate_target(kind, raw)
    op = operator_of_number(target) if kind == "phone" else None
    return Detected(kind, target, op, OPERATOR_NAMES.get(op) if op else None)


def phone_products_for(products: list[tuple[str, str]], operator: str | None) -> list[str]:
    """Of (code, name) phone products, the codes that top up `operator` (all of them when it is unknown, and
    products that do not say their operator are kept: never hidden on a guess)."""
    if operator is None:
        return [code for code, _ in products]
    return [code for code, name in products if operator_of_product(code, name) in (operator, None)]


def clean_name(raw: str) -> str:
    """A saved number's name as the customer typed it, trimmed; letters, digits, spaces and common marks."""
    name = unicodedata.normalize("NFC", re.sub(r"\s+", " ", raw or "").strip())
    if not 1 <= len(name) <= 40:
        raise SavedNumberInvalid("give the number a name of 1 to 40 characters, such as Ibu or Adik")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise SavedNumberInvalid("a name has letters, digits and spaces only")
    return name


def list_saved(session: Session, customer_id: int) -> list[SavedNumber]:
    q = select(SavedNumber).where(SavedNumber.customer_id == customer_id).order_by(col(SavedNumber.name))
    return list(session.exec(q).all())


_SAVE = text(
    """
    INSERT INTO saved_numbers (customer_id, name, kind, target, operator)
    SELECT CAST(:customer AS bigint), CAST(:name AS varchar), CAST(:kind AS varchar), CAST(:target AS varchar),
        CAST(:operator AS varchar)
    WHERE (SELECT count(*) FROM saved_numbers WHERE customer_id = :customer) < CAST(:max AS int)
       OR EXISTS (SELECT 1 FROM saved_numbers WHERE customer_id = :customer AND target = :target)
    ON CONFLICT (customer_id, target) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
        operator = EXCLUDED.operator
    RETURNING id
    """
)


def save(session: Session, customer_id: int, name: str, raw_target: str, kind: str = "phone") -> SavedNumber:
    """Save (or rename, when it is saved already) a number under `name`; at most MAX_SAVED per customer."""
    name = clean_name(name)
    found = detect(raw_target, kind)
    # one customer's saves queue here, so two at once cannot pass the count together
    session.execute(text("SELECT 1 FROM customers WHERE id = :c FOR NO KEY UPDATE"), {"c": customer_id})
    row_id = session.execute(
        _SAVE,
        {
            "customer": customer_id,
            "name": name,
            "kind": found.kind,
            "target": found.target,
            "operator": found.operator,
            "max": MAX_SAVED,
        },
    ).scalar_one_or_none()
    if row_id is None:
        raise SavedNumberLimit(
            f"you can keep {MAX_SAVED} numbers: delete one you no longer use first", limit=MAX_SAVED
        )
    saved = session.get(SavedNumber, row_id, populate_existing=True)
    assert saved is not None
    return saved


def rename(session: Session, customer_id: int, saved_id: int, name: str) -> SavedNumber:
    name = clean_name(name)
    saved = _own(session, customer_id, saved_id)
    saved.name = name
    session.add(saved)
    session.flush()
    return saved


def delete(session: Session, customer_id: int, saved_id: int) -> None:
    session.delete(_own(session, customer_id, saved_id))
    session.flush()


def _own(session: Session, customer_id: int, saved_id: int) -> SavedNumber:
    saved = session.exec(
        select(SavedNumber).where(SavedNumber.id == saved_id, SavedNumber.customer_id == customer_id)
    ).first()
    if saved is None:  # the same answer whether it is missing or someone else's
        raise SavedNumberNotFound(f"you have no saved number {saved_id}")
    return saved


def names_by_target(session: Session, customer_id: int) -> dict[str, str]:
    """The customer's own names of their saved numbers, by number (for the order history and receipts)."""
    rows = session.exec(
        select(SavedNumber.target, SavedNumber.name).where(SavedNumber.customer_id == customer_id)
    ).all()
    return {t: n for t, n in rows}


class NothingToBuyAgain(DomainError):
    code = "nothing_to_buy_again"
    http_status = 409


@dataclass(frozen=True)
class AgainLine:
    product_code: str
    target: str
    zone: str | None


_AGAIN = text(
    """
    SELECT pr.code, i.target, i.zone FROM payment_items i
    JOIN payments p ON p.id = i.payment_id
    JOIN products pr ON pr.id = i.product_id
    JOIN product_categories c ON c.id = pr.category_id
    WHERE p.id = :order AND p.customer_id = :customer AND pr.active AND c.kind = 'prepaid'
    ORDER BY i.id
    """
)


def again_lines(session: Session, customer_id: int, order_id: int) -> list[AgainLine]:
    """The lines of one of the customer's past orders that can be ordered again: top-ups still on sale (a bill
    is paid after a fresh inquiry, not again from an old one). NothingToBuyAgain when none is left."""
    rows = session.execute(_AGAIN, {"order": order_id, "customer": customer_id}).all()
    if not rows:
        raise NothingToBuyAgain(
            f"nothing in order {order_id} can be bought again: its products are no longer on sale",
            order=order_id,
        )
    return [AgainLine(code, target, zone) for code, target, zone in rows]
