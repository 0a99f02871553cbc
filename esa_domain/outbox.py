"""The transactional outbox: side effects are rows committed with the state change, sent after commit.

`record` writes a row inside the caller's transaction. `dispatch` sends given rows right after commit.
`sweep` re-sends rows a crash left behind. A row may be sent twice (crash after send, before marking):
every actor is idempotent by state, and each message carries its outbox id.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, text
from sqlmodel import Session

from esa_domain.db import OUTBOX_IDS
from esa_domain.models import OutboxMessage

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Sends one message to the broker. Raises if it could not be sent."""

    def publish(
        self, topic: str, payload: dict[str, Any], *, message_id: str, delay_ms: int | None
    ) -> None: ...


def record(
    session: Session, topic: str, payload: dict[str, Any], *, available_at: datetime | None = None
) -> OutboxMessage:
    """Write an outbox row in the current transaction; it is dispatched only if the transaction commits."""
    row = OutboxMessage(topic=topic, payload=payload, available_at=available_at)
    session.add(row)
    session.flush()
    session.info.setdefault(OUTBOX_IDS, []).append(row.id)
    return row


_CLAIM = text(
    """
    SELECT id, topic, payload, available_at FROM outbox
    WHERE id = ANY(:ids) AND dispatched_at IS NULL
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    """
)
_MARK = text(
    "UPDATE outbox SET dispatched_at = now(), dispatch_attempts = dispatch_attempts + 1 WHERE id = ANY(:ids)"
)
_COUNT_FAILURE = text("UPDATE outbox SET dispatch_attempts = dispatch_attempts + 1 WHERE id = :id")


def dispatch(bind: Engine | Connection, publisher: Publisher, ids: list[int]) -> int:
    """Send the given undispatched rows and mark them; returns how many were sent.

    `bind`: an engine, or an idle connection to reuse (the unit of work's, right after its commit).
    Rows are locked while sent (SKIP LOCKED: a concurrent sweeper leaves them alone); a row that fails to
    send stays undispatched for the sweeper.
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
        for row in conn.execute(_CLAIM, {"ids": ids}).mappings():
            delay = None
            if row["available_at"] is not None and row["available_at"] > now:
                delay = int((row["available_at"] - now) / timedelta(milliseconds=1))
            try:
                publisher.publish(
                    row["topic"], row["payload"], message_id=f"outbox-{row['id']}", delay_ms=delay
                )
            except Exception:  # the broker is down or refused: leave it for the sweeper
                log.warning("outbox row %s (%s) not sent; the sweeper will retry", row["id"], row["topic"])
                conn.execute(_COUNT_FAILURE, {"id": row["id"]})
                continue
            sent.append(row["id"])
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
