"""The connection pool on real PostgreSQL: a pooled connection the server closed is replaced, not used."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from esa_domain.infra import db as db_module
from esa_domain.infra.db import UnitOfWork, make_engine
from esa_domain.models import Customer


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_an_idle_connection_the_server_closed_is_replaced_before_use(db, database_url, monkeypatch):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        first = _backend_pid(engine)  # the pool now holds this one connection, idle
        with db.connect() as admin:  # the server closes it (a restart, an idle timeout, a firewall)
            assert admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first}).scalar_one()
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)  # it has been idle "long enough"

        with UnitOfWork(engine) as uow:  # the next unit of work gets a fresh connection and succeeds
            uow.session.add(Customer(line_user_id="Upool", display_name="Pool"))
            uow.commit()

        assert _backend_pid(engine) != first
        with db.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM customers")).scalar_one() == 1
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_is_handed_out_without_a_ping(db, database_url, monkeypatch):
    # the other side of the trade: within the idle threshold there is no check, so a connection the server
    # closed a moment ago fails the one request that gets it, and the pool replaces it afterwards
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        first = _backend_pid(engine)
        with db.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)
        with pytest.raises(OperationalError):
            _backend_pid(engine)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
