"""Status changes as compare-and-set UPDATEs, each with its history row in the same transaction.

    UPDATE payments SET status = :to WHERE id = :id AND status IN (:sources)

Zero rows updated means another process got there first (or the row moved on): the caller short-circuits.
That is idempotency by state inspection; it holds across processes and machines because the database decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, TextClause, select, text
from sqlmodel import Session

from esa_domain.core.states import (
    ITEM_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    ItemStatus,
    PaymentStatus,
    sources_of,
)
from esa_domain.models import Payment, PaymentItem


class IllegalTransition(ValueError):
    """The requested move is not in the transition table: a programming error, never a race."""


class NotFound(LookupError):
    pass


class Applied(StrEnum):
    APPLIED = "applied"  # this call moved it
    ALREADY = "already"  # it is already in the target state: someone else applied it
    SUPERSEDED = "superseded"  # it moved elsewhere meanwhile; nothing done


@dataclass(frozen=True)
class TransitionResult:
    result: Applied
    from_status: str | None  # the state it left, when applied
    current: str  # the state it is in now

    @property
    def applied(self) -> bool:
        return self.result is Applied.APPLIED


def _sources(table: dict, to: StrEnum, from_: frozenset | set | None) -> list[str]:
    allowed = sources_of(table, to)
    if from_ is None:
        if not allowed:
            raise IllegalTransition(f"nothing may move to {to}")
        return sorted(allowed)
    bad = [f for f in from_ if f not in allowed]
    if bad:
        raise IllegalTransition(f"{', '.join(sorted(bad))} -> {to} is not an allowed transition")
    return sorted(from_)


@lru_cache(maxsize=256)
def _cas_sql(table_name: str, value_columns: tuple[str, ...]) -> TextClause:
    """The compare-and-set and its history row as one statement, for a table and the extra columns set."""
    is_item = table_name == PaymentItem.__tablename__
    sets = "".join(f", {c} = :v_{c}" for c in value_columns)
    payment_col = "t.payment_id" if is_item else "t.id"
    return text(
        f"""
        WITH old AS (
            SELECT id, status FROM {table_name}
            WHERE id = :row_id AND status = ANY(:sources)
            FOR NO KEY UPDATE
        ), upd AS (
            UPDATE {table_name} AS t SET status = :to, updated_at = now(){sets}
            FROM old WHERE t.id = old.id
            RETURNING old.status AS from_status, {payment_col} AS payment_id
        ), history AS (
            INSERT INTO payment_history (payment_id, item_id, from_status, to_status, cause, actor, created_at)
            SELECT payment_id, {":row_id" if is_item else "NULL"}, from_status, :to, :cause, :actor,
                   clock_timestamp()
            FROM upd
        )
        SELECT from_status, payment_id FROM upd
        """  # noqa: S608  (names from the table's metadata; every value is a bound parameter)
    )


def _cas(
    session: Session,
    table: Table,
    row_id: int,
    to: str,
    sources: list[str],
    values: dict[str, Any],
    cause: str,
    actor: str,
) -> tuple[str, int] | None:
    """One round trip: lock the row if it is in `sources` (FOR NO KEY UPDATE: serialises writers, not FK
    checks), move it, and write the history row; None when it was not in `sources`."""
    unknown = set(values) - set(table.c.keys())
    if unknown:
        raise ValueError(f"unknown columns {sorted(unknown)} for {table.name}")
    columns = tuple(sorted(values))
    params = {f"v_{c}": values[c] for c in columns}
    params.update(row_id=row_id, sources=sources, to=to, cause=cause[:300], actor=actor[:80])
    row = session.execute(_cas_sql(table.name, columns), params).first()
    return (row[0], row[1]) if row else None


def _current(session: Session, table: Table, row_id: int) -> str:
    status = session.execute(select(table.c.status).where(table.c.id == row_id)).scalar_one_or_none()
    if status is None:
        raise NotFound(f"{table.name} {row_id} does not exist")
    return status


def transition_payment(
    session: Session,
    payment_id: int,
    to: PaymentStatus,
    *,
    cause: str,
    actor: str,
    from_: set[PaymentStatus] | None = None,
    values: dict[str, Any] | None = None,
) -> TransitionResult:
    """Move a payment to `to` if it is in one of `from_` (default: every state allowed to reach `to`).

    `values` are further columns set in the same UPDATE (e.g. paid_at). Writes the history row when applied.
    """
    return _transition(
        session, Payment.__table__, PAYMENT_TRANSITIONS, payment_id, to, cause, actor, from_, values
    )


def transition_item(
    session: Session,
    item_id: int,
    to: ItemStatus,
    *,
    cause: str,
    actor: str,
    from_: set[ItemStatus] | None = None,
    values: dict[str, Any] | None = None,
) -> TransitionResult:
    """Move a payment item to `to`; the history row names the item and its payment."""
    return _transition(
        session, PaymentItem.__table__, ITEM_TRANSITIONS, item_id, to, cause, actor, from_, values
    )


def _transition(
    session: Session,
    table: Table,
    rules: dict,
    row_id: int,
    to: StrEnum,
    cause: str,
    actor: str,
    from_: Any,
    values: dict[str, Any] | None,
) -> TransitionResult:
    sources = _sources(rules, to, from_)
    hit = _cas(session, table, row_id, str(to), sources, values or {}, cause, actor)
    if hit is None:
        current = _current(session, table, row_id)
        return TransitionResult(Applied.ALREADY if current == to else Applied.SUPERSEDED, None, current)
    return TransitionResult(Applied.APPLIED, hit[0], str(to))
