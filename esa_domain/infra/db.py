"""The engine, sessions, and the unit of work that publishes outbox rows only after its commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, TextClause, create_engine, event
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session

from esa_domain.infra.outbox import OUTBOX_IDS, OUTBOX_ROWS, Publisher, dispatch_committed

log = logging.getLogger(__name__)


PING_AFTER_IDLE_S = 5.0  # a pooled connection idle longer than this is checked before it is handed out


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    if not url.startswith("postgresql"):
        raise ValueError(
            "DATABASE_URL must be a PostgreSQL URL (postgresql://user@host/db); ESA runs on PostgreSQL only"
        )
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # one clock for every row: the database stores timestamptz in UTC
        connect_args={"options": "-c timezone=UTC"},
    )
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle (SQLAlchemy's "pessimistic disconnect
    handling" recipe, limited to idle connections).

    `pool_pre_ping` pings on every checkout: a BEGIN, a SELECT 1 and a ROLLBACK, about 1 ms of CPU per
    request. A connection in steady use has just proved itself; one idle for a while may have been closed by
    a server restart or a firewall. A dead one is discarded and the pool connects anew; a connection that dies
    while in use still fails that request (PostgreSQL rolls it back), and SQLAlchemy then invalidates the rest
    of the pool.
    """

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["esa_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("esa_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as exc:
            log.info("a pooled database connection was dead (%s); reconnecting", type(exc).__name__)
            raise DisconnectionError() from exc


@lru_cache
def engine_for(url: str, pool_size: int = 20, max_overflow: int = 10) -> Engine:
    """One engine (and pool) per URL per process."""
    return make_engine(url, pool_size=pool_size, max_overflow=max_overflow)


def default_engine() -> Engine:
    from esa_domain.infra.settings import get_settings

    settings = get_settings()
    url = settings.sqlalchemy_url
    if not url:
        raise RuntimeError(
            "DATABASE_URL is not set: run through `esa up`, or point DATABASE_URL at PostgreSQL"
        )
    return engine_for(url, settings.db_pool_size, settings.db_pool_overflow)


class UnitOfWork:
    """One transaction. `commit()` commits once, then hands the outbox rows written in it to the publisher.

    It holds one connection for its whole life: the transaction, the dispatch after commit and any read after
    it share it (one pool checkout, not three). A crash between the commit and the publish loses nothing: the
    sweeper re-sends undispatched rows.
    """

    def __init__(self, engine: Engine, publisher: Publisher | None = None) -> None:
        self.engine = engine
        self.publisher = publisher
        self.session: Session
        self.connection: Connection

    def __enter__(self) -> UnitOfWork:
        self.connection = self.engine.connect()
        self.session = Session(bind=self.connection, expire_on_commit=False)
        self.forget_outbox()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.session.rollback()
            self.session.close()
        finally:
            self.connection.close()

    def forget_outbox(self) -> None:
        """Drop the outbox rows noted for dispatch (after rolling back to a savepoint that wrote them)."""
        self.session.info[OUTBOX_IDS] = []
        self.session.info[OUTBOX_ROWS] = []

    def commit(self) -> None:
        rows = list(self.session.info.get(OUTBOX_ROWS, []))
        self.session.commit()
        self.forget_outbox()
        if rows and self.publisher is not None:
            dispatch_committed(self.connection, self.publisher, rows)

    def rollback(self) -> None:
        self.session.rollback()
        self.forget_outbox()


def driver(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under `session`, inside the session's transaction (begun if need be).

    For the hot paths (order placement, payment notifications, fulfillment): a statement sent here skips
    SQLAlchemy's statement layer (about a third of the CPU those paths spent in it) and is still part of the
    session's transaction, committed or rolled back with it.
    """
    return session.connection().connection.driver_connection  # type: ignore[return-value]


_DIALECT = PGDialect_psycopg()


def for_driver(statement: TextClause) -> str:
    """A `text()` statement compiled once, at import, the way SQLAlchemy would send it to psycopg (`:name`
    becomes `%(name)s`, a literal `%` is doubled), for `execute`."""
    return str(statement.compile(dialect=_DIALECT))


def execute(session: Session, sql: str, params: dict[str, Any]) -> psycopg.Cursor[Any]:
    """Run a statement from `for_driver` in the session's transaction; rows come back as named tuples."""
    return driver(session).cursor(row_factory=namedtuple_row).execute(sql, params)


@contextmanager
def unit_of_work(engine: Engine | None = None, publisher: Publisher | None = None) -> Iterator[UnitOfWork]:
    with UnitOfWork(engine or default_engine(), publisher) as uow:
        yield uow
