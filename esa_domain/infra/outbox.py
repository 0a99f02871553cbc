"""The transactional outbox: side effects are rows committed with the state change, sent after commit.

`record` writes a row inside the caller's transaction. `dispatch` sends given rows right after commit.
`sweep` re-sends rows a crash left behind. A row may be sent twice (crash after send, before marking):
every actor is idempotent by state, and each message carries its outbox id.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine, text
from sqlmodel import Session

from esa_domain.infra import metrics

OUTBOX_IDS = "esa_outbox_ids"  # key in Session.info: ids of the outbox rows written in this transaction
OUTBOX_ROWS = "esa_outbox_rows"  # key in Session.info: those rows (Pending), for dispatch after commit


log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Sends one message to the broker. Raises if it could not be sent."""

    def publish(
        self, topic: str, payload: dict[str, Any], *, message_id: str, delay_ms: int | None
    ) -> None: ...


# `record` sends it on the session's own driver connection, in its transaction (infra.db.execute's fast path,
# written out here: that module imports this one)
_INSERT_DRIVER = (
    "INSERT INTO outbox (topic, payload, available_at, dispatch_attempts) "
    "VALUES (%(topic)s, %(payload)s, %(available_at)s, 0) RETURNING id"
)


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
    driver = (
        session.connection().connection.driver_connection
    )  # the session's transaction, without its layers
    params = {"topic": topic, "payload": Jsonb(payload), "available_at": available_at}
    row_id = int(driver.execute(_INSERT_DRIVER, params).fetchone()[0])  # type: ignore[union-attr,index]
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


def _publish(publisher: Publisher, row: Pending, now: datetime) -> bool:
    delay = None
    if row.available_at is not None and row.available_at > now:
        delay = int((row.available_at - now) / timedelta(milliseconds=1))
    try:
        publisher.publish(row.topic, row.payload, message_id=f"outbox-{row.id}", delay_ms=delay)
    except Exception:  # the broker is down or refused: leave it for the sweeper
        log.warning("outbox row %s (%s) not sent; the sweeper will retry", row.id, row.topic)
        metrics.count_published(row.topic, False)
        return False
    metrics.count_published(row.topic, True)
    return True


# A row due further ahead than this waits in the outbox and the sweeper sends it when it comes due, instead of
# sitting in the broker's delay queue: the ECPay check at the end of every payment window, the late supplier
# status checks. Nearer rows leave at once, with their delay.
PARK_BEYOND = timedelta(minutes=5)


def dispatch_committed(conn: Connection, publisher: Publisher, rows: list[Pending]) -> int:
    """Send rows the caller's transaction has just committed; their marks are written in the background.

    No read back and no lock: the rows are known. Marking them is bookkeeping for the sweeper, so it leaves
    the request path: `marks_for(engine)` batches the marks of every request in the process into one UPDATE
    a few times a second. The sweeper only takes rows older than its threshold (30 s); if a process dies
    before its marks are written, the sweeper sends those rows again, and every actor is idempotent by state.
    Rows due beyond PARK_BEYOND stay for the sweeper.
    """
    now = datetime.now(UTC)
    sent, failed = [], []
    for row in rows:
        if row.available_at is not None and row.available_at - now > PARK_BEYOND:
            continue
        (sent if _publish(publisher, row, now) else failed).append(row.id)
    if sent or failed:
        marks_for(conn.engine).add(sent, failed)
    return len(sent)


_MARK_BATCH = (
    "UPDATE outbox SET dispatch_attempts = dispatch_attempts + 1, "
    "dispatched_at = CASE WHEN id = ANY(CAST(%(sent)s AS bigint[])) THEN now() END "
    "WHERE id = ANY(CAST(%(ids)s AS bigint[])) AND dispatched_at IS NULL"
)


def _mark_params(sent: list[int], failed: list[int]) -> dict[str, str]:
    # array literals: psycopg would otherwise walk every list to choose an integer type for it
    def literal(ids: list[int]) -> str:
        return "{" + ",".join(str(int(i)) for i in ids) + "}"

    return {"sent": literal(sent), "ids": literal(sent + failed)}


class Marks:
    """Outbox rows sent (or failed to send) by this process, marked in batches by one daemon thread.

    One UPDATE per batch, in a transaction with `synchronous_commit = off`: losing a mark in a database crash
    costs one duplicate send from the sweeper, never a lost message. `flush()` writes what is waiting now (at
    exit, and for tests that read the marks).
    """

    INTERVAL_S = 0.1

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._sent: list[int] = []
        self._failed: list[int] = []
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, sent: list[int], failed: list[int]) -> None:
        with self._lock:
            self._sent.extend(sent)
            self._failed.extend(failed)
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                # first use, or first use after a fork (a forked child inherits no running thread)
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="esa-outbox-marks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.INTERVAL_S)
            self.flush()

    def flush(self) -> None:
        with self._lock:
            sent, failed = self._sent, self._failed
            self._sent, self._failed = [], []
        if not sent and not failed:
            return
        try:
            with self.engine.connect() as conn, conn.begin():
                raw = conn.connection.driver_connection
                raw.execute("SET LOCAL synchronous_commit = off")  # type: ignore[union-attr]
                raw.execute(_MARK_BATCH, _mark_params(sent, failed))  # type: ignore[union-attr]
        except Exception:  # the database is away: keep them for the next round
            log.warning("could not mark %d outbox rows; retrying", len(sent) + len(failed), exc_info=True)
            with self._lock:
                self._sent[:0], self._failed[:0] = sent, failed


_marks: dict[int, Marks] = {}
_marks_lock = threading.Lock()


def marks_for(engine: Engine) -> Marks:
    with _marks_lock:
        marks = _marks.get(id(engine))
        if marks is None or marks.engine is not engine:
            marks = _marks[id(engine)] = Marks(engine)
        return marks


def flush_marks() -> None:
    """Write every waiting mark now (called at exit)."""
    with _marks_lock:
        pending = list(_marks.values())
    for marks in pending:
        marks.flush()


atexit.register(flush_marks)


def dispatch(engine: Engine, publisher: Publisher, ids: list[int]) -> int:
    """Send the given undispatched rows and mark them; returns how many were sent (the sweeper's path).

    Rows are locked while sent (SKIP LOCKED: a concurrent sweeper leaves them alone) and marked with the same
    statement the background marks use; a row that fails to send stays undispatched for the next sweep.
    """
    if not ids:
        return 0
    now = datetime.now(UTC)
    sent, failed = [], []
    with engine.connect() as conn, conn.begin():
        for r in conn.execute(_CLAIM, {"ids": ids}).mappings():
            row = Pending(r["id"], r["topic"], r["payload"], r["available_at"])
            (sent if _publish(publisher, row, now) else failed).append(row.id)
        if sent or failed:
            raw = conn.connection.driver_connection
            raw.execute(_MARK_BATCH, _mark_params(sent, failed))  # type: ignore[union-attr]
    return len(sent)


SWEEP_LEAD = timedelta(seconds=70)  # the sweeper runs every minute: send what comes due before the next run

_SWEEP = text(
    """
    (SELECT id FROM outbox
     WHERE dispatched_at IS NULL AND available_at IS NULL AND created_at < now() - :age
     ORDER BY created_at LIMIT :limit)
    UNION ALL
    (SELECT id FROM outbox
     WHERE dispatched_at IS NULL AND available_at < now() + :lead AND created_at < now() - :age
     ORDER BY available_at LIMIT :limit)
    """
)


def sweep(
    engine: Engine, publisher: Publisher, *, older_than: timedelta = timedelta(seconds=30), limit: int = 500
) -> int:
    """Send rows left undispatched longer than `older_than` (a crash between commit and dispatch, a broker
    outage) and parked delayed rows coming due within SWEEP_LEAD (sent with their remaining delay)."""
    with engine.connect() as conn:
        ids = list(conn.execute(_SWEEP, {"age": older_than, "limit": limit, "lead": SWEEP_LEAD}).scalars())
    return dispatch(engine, publisher, sorted(set(ids)))
