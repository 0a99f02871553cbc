"""Operator sessions and logins on real PostgreSQL: the idle timeout, login throttling, the bounded audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlmodel import Session

from esa_domain.infra.db import UnitOfWork
from esa_domain.models import OperatorAction, OperatorSession
from esa_domain.operations import operators

PASSWORD = "correct horse"


def _make(engine, username: str = "alice"):
    with UnitOfWork(engine) as uow:
        op = operators.create_operator(uow.session, username, PASSWORD, role="operator")
        uow.commit()
        return op


def _try_login(engine, username: str, password: str, address: str = "203.0.113.7") -> str:
    """What the dashboard's login event does; returns "ok", "wrong" or the lock-out message."""
    with UnitOfWork(engine) as uow:
        try:
            operators.check_login_allowed(uow.session, username, address)
        except operators.LoginLocked as locked:
            operators.record_login_failure(uow.session, username, address, locked=True)
            uow.commit()
            return str(locked)
        if operators.authenticate(uow.session, username, password) is None:
            operators.record_login_failure(uow.session, username, address)
            uow.commit()
            return "wrong"
        operators.clear_login_failures(uow.session, username)
        uow.commit()
        return "ok"


def test_thirty_wrong_passwords_then_the_right_one_is_refused_with_when_to_try_again(db):
    _make(db)
    answers = [_try_login(db, "alice", f"guess {n}") for n in range(30)]
    assert answers[:5] == ["wrong"] * 5
    assert all(a.startswith("Too many failed logins. Try again after") for a in answers[5:])
    assert _try_login(db, "alice", PASSWORD).startswith("Too many failed logins")


def test_the_address_is_locked_too_whatever_username_it_tries(db):
    _make(db)
    for n in range(5):
        _try_login(db, f"user{n}", "guess", address="198.51.100.9")
    assert _try_login(db, "alice", PASSWORD, address="198.51.100.9").startswith("Too many failed logins")
    assert _try_login(db, "alice", PASSWORD, address="198.51.100.10") == "ok"


def test_the_lock_out_doubles_per_further_failure_up_to_the_cap(db):
    _make(db)
    locks = []
    for _ in range(12):
        _try_login(db, "alice", "guess")
        with db.begin() as conn:  # the lock-out has passed: the next guess is checked (and fails) again
            locks.append(
                conn.execute(
                    text("SELECT locked_until - now() FROM login_throttles WHERE key = 'user:alice'")
                ).scalar()
            )
            conn.execute(text("UPDATE login_throttles SET locked_until = now() - interval '1 second'"))
    secs = [round(lock.total_seconds() / 30) * 30 if lock else 0 for lock in locks]
    assert secs[:4] == [0, 0, 0, 0]
    assert secs[4:9] == [30, 60, 120, 240, 480]
    assert secs[9:] == [900, 900, 900]


def test_failed_logins_leave_one_audit_row_per_username_and_window_counting_them(db):
    _make(db)
    for n in range(40):
        _try_login(db, "alice", f"guess {n}")
    _try_login(db, "mallory", "guess")
    with Session(db) as s:
        rows = (
            s.execute(select(OperatorAction).where(OperatorAction.action == "login_failed")).scalars().all()
        )
    by_subject = {r.subject: r.detail for r in rows}
    assert len(rows) == 2
    assert by_subject["user:alice"]["attempts"] == 40
    assert by_subject["user:alice"]["refused_locked"] == 35
    assert by_subject["user:mallory"]["attempts"] == 1


def test_a_session_unused_for_the_idle_timeout_is_refused_and_use_keeps_it_alive(db):
    op = _make(db)
    with UnitOfWork(db) as uow:
        token = operators.open_session(uow.session, op)
        uow.commit()
    idle = timedelta(minutes=30)
    with db.begin() as conn:
        conn.execute(update(OperatorSession).values(last_used_at=text("now() - interval '29 minutes'")))
    with Session(db) as s:
        assert operators.resume_session(s, token, idle).username == "alice"
        s.commit()
    with db.begin() as conn:  # used just now: the clock restarted
        assert conn.execute(
            text("SELECT now() - last_used_at < interval '1 minute' FROM operator_sessions")
        ).scalar()
        conn.execute(update(OperatorSession).values(last_used_at=text("now() - interval '31 minutes'")))
    with Session(db) as s:
        assert operators.resume_session(s, token, idle) is None
        assert operators.operator_for_token(s, token, idle) is None


@pytest.mark.parametrize("username", ["alice", "ALICE "])
def test_a_good_login_forgets_the_usernames_failures(db, username):
    _make(db)
    for _ in range(4):
        _try_login(db, "alice", "guess")
    assert _try_login(db, username, PASSWORD) == "ok"
    for _ in range(4):
        assert _try_login(db, "alice", "guess", address="203.0.113.8") == "wrong"
