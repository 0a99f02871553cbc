"""The supplier's last word about an item: what we read from each answer (purchase, status check, signed
callback), stored beside the raw exchange (`supplier_exchanges.outcome`), and told in plain words.

The order page shows it above the raw exchanges, and an operator cannot resolve an item as "not delivered"
while a supplier's last word about one of its attempts is success (esa_domain.operations.actions).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlmodel import Session

from esa_domain.adapters.suppliers.base import Outcome, SupplierOutcome


def outcome_word(o: SupplierOutcome | None) -> str | None:
    """What we store for an answer: "SUCCESS", "FAILED customer|product|config", "PENDING", "UNKNOWN"."""
    if o is None:
        return None
    if o.outcome is Outcome.FAILED:
        return f"FAILED {o.failure_class}"
    if o.outcome is Outcome.UNKNOWN and o.no_transaction:
        return "UNKNOWN no transaction"
    return str(o.outcome)


_FAILED = {
    "customer": "the supplier refused the destination (wrong number or account)",
    "product": "the product was unavailable there (out of stock)",
    "config": "the supplier refused us (configuration, credentials or deposit)",
}
TAIPEI = ZoneInfo("Asia/Taipei")  # the dashboard's times are Taipei's (esa_admin.format.when)


def _at(t: datetime) -> str:
    return t.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M:%S")


_OPERATION = {"purchase": "purchase answer", "status": "status check", "callback": "signed callback"}


@dataclass(frozen=True)
class LastWord:
    item_id: int
    supplier: str
    reference: str
    operation: str
    outcome: str
    at: datetime
    delivered: bool  # some attempt's own last word is success: the item must not be called "not delivered"
    delivered_by: str | None  # "IAK ESA12S1 (signed callback, 2026-12-02 09:02:00, Taipei)" when delivered

    @property
    def words(self) -> str:
        """The last word in plain words, for a person."""
        src = f"{_OPERATION.get(self.operation, self.operation)} at {_at(self.at)}, {self.reference}"
        head, _, detail = self.outcome.partition(" ")
        if head == "SUCCESS":
            said = "DELIVERED"
        elif head == "FAILED":
            said = f"NOT delivered: {_FAILED.get(detail, detail)}"
        elif head == "PENDING":
            said = "still processing, no final answer yet"
        elif detail == "no transaction":
            said = "has no such transaction (yet)"
        else:
            said = "no definite answer (timeout, error or unreadable reply)"
        words = f"{self.supplier} says {said} ({src})."
        if self.delivered and head != "SUCCESS":
            words += f" Earlier: {self.delivered_by} said DELIVERED."
        return words


_LAST = text(
    """
    SELECT DISTINCT ON (a.id) a.id AS attempt_id, a.item_id, a.reference, s.code AS supplier, e.operation,
        e.outcome, e.created_at
    FROM item_attempts a
    JOIN supplier_exchanges e ON e.attempt_id = a.id
    JOIN suppliers s ON s.id = a.supplier_id
    WHERE a.item_id = ANY(:items) AND e.outcome IS NOT NULL
    ORDER BY a.id, e.created_at DESC, e.id DESC
    """
)


def last_words(session: Session, item_ids: Iterable[int]) -> dict[int, LastWord]:
    """item id -> the latest trustworthy supplier answer about any of its attempts (items with none: absent)."""
    ids = list(item_ids)
    if not ids:
        return {}
    per_attempt = session.connection().execute(_LAST, {"items": ids}).all()
    out: dict[int, LastWord] = {}
    for item_id in {r.item_id for r in per_attempt}:
        rows = sorted((r for r in per_attempt if r.item_id == item_id), key=lambda r: r.created_at)
        last = rows[-1]
        success = [r for r in rows if r.outcome == "SUCCESS"]
        by = (
            f"{success[-1].supplier} {success[-1].reference} ({_OPERATION.get(success[-1].operation, success[-1].operation)}, "
            f"{_at(success[-1].created_at)})"
            if success
            else None
        )
        out[item_id] = LastWord(
            item_id,
            last.supplier,
            last.reference,
            last.operation,
            last.outcome,
            last.created_at,
            bool(success),
            by,
        )
    return out


def no_word() -> str:
    return "No supplier answer read for this item yet (any raw exchanges are in the timeline below)."
