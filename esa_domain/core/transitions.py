"""The one owner of status changes: compare-and-set in SQL, with the history row in the same statement.

    UPDATE payments SET status = :to WHERE id = :id AND status IN (<the states allowed to reach :to>)

Zero rows updated means another process got there first (or the row moved on): the caller short-circuits.
That is idempotency by state inspection; it holds across processes and machines because the database decides.

Two layers, one rule:
- **Statement builders** (`move`, `born`): CTEs that lock, check legality, compare-and-set and write the history
  row. Legality is read from the lifecycle tables in `esa_domain.core.states` when the statement is built and
  written into it as constants, so a fast path composed from them (accepting a payment, claiming an item,
  recording a supplier's answer, settling a payment, placing an order) costs one statement, as before, and
  cannot move a row the table does not allow. No other module writes a status or a history row.
- **`transition_payment` / `transition_item`**: one move in its own statement, for the paths that are not hot
  (operators, refunds, the reconciler).

Every transition writes exactly one history row in its own statement, so the history tables are its count:
esa_domain/infra/state_metrics.py reads them incrementally on scrape (`esa_transitions_total`). A counter here
would count statements built (they are built once and cached), not rows moved, and would cost the order path.

Builders never add placeholders of their own: every value (`cause`, `actor`, row selection) is an SQL
expression the caller passes, written in the caller's parameter style (`:name` for `text()`, `%(name)s` for a
driver-level statement).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import TextClause, text
from sqlmodel import Session, SQLModel

import esa_domain.models  # noqa: F401  (the tables' metadata, to refuse an unknown column before any SQL)
from esa_domain.core.states import ITEM, PAYMENT, IllegalTransition, ItemStatus, Lifecycle, PaymentStatus

__all__ = ["IllegalTransition", "born", "move", "transition_item", "transition_payment"]


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


# ---- statement builders -------------------------------------------------------------------------------


def _literals(values: Iterable[Any]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(str(v) for v in values)) + ")"


def legal_sources(lc: Lifecycle, targets: Iterable[str], from_: Iterable[str] | None = None) -> list[str]:
    """The states a move to `targets` may start from: `from_` checked against the table, or (None) every state
    allowed to reach all of them. Raises IllegalTransition."""
    targets = [lc.statuses(t) for t in targets]
    if from_ is None:
        allowed = frozenset.intersection(*(lc.sources(t) for t in targets))
        if not allowed:
            raise IllegalTransition(f"{lc.name}: nothing may move to {', '.join(map(str, targets))}")
        return sorted(str(s) for s in allowed)
    sources = [lc.statuses(s) for s in from_]
    if not sources:
        raise IllegalTransition(f"{lc.name}: a move to {', '.join(map(str, targets))} from no state at all")
    lc.check(sources, targets)
    return sorted(str(s) for s in sources)


def _history_insert(
    lc: Lifecycle, name: str, source: str, from_sql: str, to_sql: str, cause: str, actor: str
) -> str:
    """A CTE writing one history row per row of `source` (the moved or born rows, which carry the history keys
    the lifecycle fills under their own names)."""
    assert lc.history is not None
    keys = lc.history.keys
    columns = ", ".join(keys)
    values = ", ".join("NULL" if expr == "NULL" else key for key, expr in keys.items())
    return f"""{name} AS (
            INSERT INTO {lc.history.table} ({columns}, from_status, to_status, cause, actor, created_at)
            SELECT {values}, {from_sql}, {to_sql}, {cause}, {actor}, clock_timestamp() FROM {source}
        )"""


def _returned_keys(lc: Lifecycle) -> str:
    """The history keys a moved row carries (", t.payment_id AS payment_id ..."): what its history row needs,
    and what callers read (a payment's or an item's `payment_id`)."""
    if lc.history is None:
        return ""
    return "".join(f", {expr} AS {key}" for key, expr in lc.history.keys.items() if expr != "NULL")


def move(
    lc: Lifecycle,
    *,
    to: str,
    where: str,
    cause: str | None = None,
    actor: str | None = None,
    from_: Iterable[str] | None = None,
    name: str = "moved",
    lock: bool = True,
    to_sql: str | None = None,
    using: str = "",
    sets: str = "",
    returning: str = "",
) -> str:
    """CTEs (to follow a WITH, comma-separated inside) that move the rows of `lc.table` selected by `where` to
    `to`, if they are in one of the allowed sources, and write their history rows.

    - `to`: the target state; several may be given as "A|B|C" when the SQL expression `to_sql` picks one per
      row (settlement: what the items imply); every source must be allowed to reach every one of them.
    - `where`: SQL over the row, aliased `t` (e.g. "t.id = :item").
    - `lock`: first lock the row (FOR NO KEY UPDATE: serialises writers, not foreign-key checks) and read the
      state it leaves. Without it the caller already holds the row's lock, and a lifecycle with history must
      name one source (the state the history row says it left).
    - `using`: extra FROM items the UPDATE joins (e.g. "target x"), for `to_sql`, `sets` and `returning`.
    - `sets`: further assignments (", col = expr ...").
    - `returning`: further columns of the moved row the caller reads (", t.product_id ...").
    - `cause`, `actor`: SQL expressions for the history row (required when the lifecycle keeps history),
      evaluated over `{name}`: the moved rows, which carry `id`, the history keys (`payment_id` ...),
      `from_status`, `to_status` and the `returning` columns.

    Answers CTEs named `{name}` (the moved rows) and, with history, `{name}_history`.
    """
    targets = to.split("|")
    if to_sql is None:
        if len(targets) != 1:
            raise ValueError("several targets need `to_sql` to choose between them")
        to_sql = f"'{lc.statuses(targets[0])}'"
    sources = legal_sources(lc, targets, from_)
    if lc.history is not None and (cause is None or actor is None):
        raise ValueError(f"{lc.name} keeps history: a move needs its cause and actor")
    col = lc.column
    touch = f", {lc.touch} = now()" if lc.touch else ""
    keys = _returned_keys(lc)
    if lock:
        join = f", {using}" if using else ""
        ctes = f"""{name}_old AS (
            SELECT t.id, t.{col} FROM {lc.table} t
            WHERE {where} AND t.{col} IN {_literals(sources)}
            FOR NO KEY UPDATE OF t
        ), {name} AS (
            UPDATE {lc.table} AS t SET {col} = {to_sql}{touch}{sets}
            FROM {name}_old{join} WHERE t.id = {name}_old.id
            RETURNING t.id{keys}, {name}_old.{col} AS from_status, t.{col} AS to_status{returning}
        )"""
    else:
        if lc.history is not None and len(sources) != 1:
            raise ValueError(f"{lc.name}: a move without its own lock must have one source, not {sources}")
        left = f"'{sources[0]}'::text" if len(sources) == 1 else "NULL::text"
        ctes = f"""{name} AS (
            UPDATE {lc.table} AS t SET {col} = {to_sql}{touch}{sets}
            {"FROM " + using if using else ""}
            WHERE {where} AND t.{col} IN {_literals(sources)}
            RETURNING t.id{keys}, {left} AS from_status, t.{col} AS to_status{returning}
        )"""
    if lc.history is None:
        return ctes
    return (
        ctes + ", " + _history_insert(lc, f"{name}_history", name, "from_status", "to_status", cause, actor)
    )  # type: ignore[arg-type]


def born(lc: Lifecycle, *, rows: str, name: str, cause: str, actor: str) -> str:
    """A CTE writing the history row of each row just inserted (by the CTE `rows`, which answers the columns
    the lifecycle's history keys read: `id`, and `payment_id` for items) in its initial state: the "from
    nothing" entry of its history."""
    assert lc.history is not None
    keyed = f"(SELECT {_returned_keys(lc)[2:]} FROM {rows} t) AS {name}_rows"
    return _history_insert(lc, name, keyed, "NULL", f"'{initial_state(lc)}'", cause, actor)


def initial_state(lc: Lifecycle) -> str:
    """The state a row of `lc` is inserted in (its table has exactly one)."""
    (initial,) = lc.initial
    return str(initial)


# ---- one move in its own statement --------------------------------------------------------------------


@lru_cache(maxsize=512)
def _move_sql(lc: Lifecycle, to: str, sources: tuple[str, ...], columns: tuple[str, ...]) -> TextClause:
    sets = "".join(f", {c} = :v_{c}" for c in columns)
    ctes = move(lc, to=to, from_=sources, where="t.id = :row_id", sets=sets, cause=":cause", actor=":actor")
    return text(f"WITH {ctes} SELECT from_status, payment_id FROM moved")


def _transition(
    session: Session,
    lc: Lifecycle,
    row_id: int,
    to: StrEnum,
    cause: str,
    actor: str,
    from_: Iterable[StrEnum] | None,
    values: dict[str, Any] | None,
) -> TransitionResult:
    values = values or {}
    table = lc.table
    unknown = set(values) - set(SQLModel.metadata.tables[table].c.keys())
    if unknown:
        raise ValueError(f"unknown columns {sorted(unknown)} for {table}")
    sources = tuple(legal_sources(lc, [to], from_))
    columns = tuple(sorted(values))
    statement = _move_sql(lc, str(to), sources, columns)
    params = {f"v_{c}": values[c] for c in columns}
    params.update(row_id=row_id, cause=cause[:300], actor=actor[:80])
    hit = session.execute(statement, params).first()
    if hit is not None:
        return TransitionResult(Applied.APPLIED, hit[0], str(to))
    current = session.execute(
        text(f"SELECT {lc.column} FROM {table} WHERE id = :id"),
        {"id": row_id},
    ).scalar_one_or_none()
    if current is None:
        raise NotFound(f"{table} {row_id} does not exist")
    return TransitionResult(Applied.ALREADY if current == to else Applied.SUPERSEDED, None, current)


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
    return _transition(session, PAYMENT, payment_id, to, cause, actor, from_, values)


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
    return _transition(session, ITEM, item_id, to, cause, actor, from_, values)
