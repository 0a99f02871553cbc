"""The transactional outbox: side effects are rows committed with the state change, sent after commit.

`record` writes a row inside the caller's transaction. `dispatch` sends given rows right after commit.
`sweep` re-sends rows a crash left behind. A row may be sent twice (crash after send, before marking):
every actor is idempotent by state, and each message carries its outbox id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Session

from esa_domain.db import OUTBOX_IDS, OUTBOX_ROWS, autocommitted

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Sends one message to the broker. Raises if it could not be sent."""

    def publish(
        self, topic: str, payload: dict[str, Any], *, message_id: str, delay_ms: int | None
    ) -> None: ...


_INSERT = text(
    "INSERT INTO outbox (topic, payload, available_at, dispatch_attempts) "
    "VALUES (:topic, :payload, :available_at, 0) RETURNING id"
).bindparams(bindparam("payload", type_=JSONB))


@dataclass(frozen=True)
class Pending:
    """An outbox row written in this transaction, kept in memory so dispatch needs no read back."""

    id: int
    topic: str
    payload: dict[str, Any]
    available_at: datetime | None


def record(
    session: Session, topic: str, payload: dict[str, Any], *, available_at: datetime | None = None
) -> int:
    """Write an outbox row in the current transaction; it is dispatched only if the transaction commits."""
    row_id = int(
        session.execute(
            _INSERT, {"topic": topic, "payload": payload, "available_at": available_at}
        ).scalar_one()
    )
    remember(session, row_id, topic, payload, available_at)
    return row_id


def remember(
    session: Session, row_id: int, topic: str, payload: dict[str, Any], available_at: datetime | None
) -> None:
    """Note a row the caller inserted itself (in a larger statement) so the commit dispatches it."""
    session.info.setdefault(OUTBOX_IDS, []).append(row_id)
    session.info.setdefault(OUTBOX_ROWS, []).append(Pending(row_id, topic, payload, available_at))


_CLAIM = text(
    """
    SELECT id, topic, payload, available_at FROM outbox
    WHERE id = ANY(:ids) AND dispatched_at IS NULL
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    """
)
_MARK = text(
    "UPDATE outbox SET dispatched_at = now(), dispatch_attempts = dispatch_attempts + 1 "
    "WHERE id = ANY(:ids) AND dispatched_at IS NULL"
)
_COUNT_FAILURE = text("UPDATE outbox SET dispatch_attempts = dispatch_attempts + 1 WHERE id = :id")


def _publish(publisher: Publisher, row: Pending, now: datetime) -> bool:
    delay = None
    if row.available_at is not None and row.available_at > now:
        delay = int((row.available_at - now) / timedelta(milliseconds=1))
    try:
        publisher.publish(row.topic, row.payload, message_id=f"outbox-{row.id}", delay_ms=delay)
    except Exception:  # the broker is down or refused: leave it for the sweeper
        log.warning("outbox row %s (%s) not sent; the sweeper will retry", row.id, row.topic)
        return False
    return True


_MARK_RAW = (
    "UPDATE outbox SET dispatch_attempts = dispatch_attempts + 1, "
    "dispatched_at = CASE WHEN id = ANY(%(sent)s) THEN now() END "
    "WHERE id = ANY(%(ids)s) AND dispatched_at IS NULL"
)


def dispatch_committed(conn: Connection, publisher: Publisher, rows: list[Pending]) -> int:
    """Send rows the caller's transaction has just committed, then mark them in one autocommitted UPDATE
    (sent: dispatched now; not sent: one more attempt counted, left for the sweeper).

    No read back and no lock: the rows are known, and the sweeper only takes rows older than its threshold
    (30 s). If this process stalls past that, both may send a row; every actor is idempotent by state.
    """
    now = datetime.now(UTC)
    sent = [row.id for row in rows if _publish(publisher, row, now)]
    with autocommitted(conn) as raw:
        raw.execute(_MARK_RAW, {"sent": sent, "ids": [row.id for row in rows]})
    return len(sent)


def dispatch(bind: Engine | Connection, publisher: Publisher, ids: list[int]) -> int:
    """Send the given undispatched rows (read back and locked) and mark them; returns how many were sent.

    `bind`: an engine, or an idle connection. Rows are locked while sent (SKIP LOCKED: a concurrent sweeper
    leaves them alone); a row that fails to send stays undispatched for the sweeper.
    """
    if not ids:
        return 0
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return _dispatch(conn, publisher, ids)
    return _dispatch(bind, publisher, ids)


def _dispatch(conn: Connection, publisher: Publisher, ids: list[int]) -> int:
    now = datetime.now(UTC)
    sent: list[int] = []
    with conn.begin():
        for r in conn.execute(_CLAIM, {"ids": ids}).mappings():
            row = Pending(r["id"], r["topic"], r["payload"], r["available_at"])
            if _publish(publisher, row, now):
                sent.append(row.id)
            else:
                conn.execute(_COUNT_FAILURE, {"id": row.id})
        if sent:
            conn.execute(_MARK, {"ids": sent})
    return len(sent)


def sweep(
    engine: Engine, publisher: Publisher, *, older_than: timedelta = timedelta(seconds=30), limit: int = 500
) -> int:
    """Re-send rows left undispatched longer than `older_than` (a crash between commit and dispatch)."""
    with engine.connect() as conn:
        ids = list(
            conn.execute(
                text(
                    "SELECT id FROM outbox WHERE dispatched_at IS NULL AND created_at < now() - :age "
                    "ORDER BY id LIMIT :limit"
                ),
                {"age": older_than, "limit": limit},
            ).scalars()
        )
    return dispatch(engine, publisher, ids)
