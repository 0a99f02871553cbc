"""Operators on real PostgreSQL: accounts, hashed passwords and tokens, roles, and the audit row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Operator, OperatorAction, OperatorSession
from esa_domain.operations import operators


def _make(engine, username="alice", password="correct horse", role="operator") -> Operator:
    with UnitOfWork(engine) as uow:
        op = operators.create_operator(uow.session, username, password, role=role)
        uow.commit()
        return op


def test_password_is_stored_as_argon2_hash_and_authenticates(db):
    _make(db)
    with Session(db) as s:
        stored = s.exec(select(Operator)).scalars().one()
        assert stored.password_hash.startswith("$argon2id$")
        assert "correct horse" not in stored.password_hash
        assert operators.authenticate(s, "Alice", "correct horse").id == stored.id
        assert operators.authenticate(s, "alice", "wrong password") is None
        assert operators.authenticate(s, "nobody", "correct horse") is None


def test_duplicate_username_weak_password_and_bad_role_are_refused_with_clear_messages(db):
    _make(db)
    with UnitOfWork(db) as uow:
        with pytest.raises(operators.DuplicateUsername, match="already exists"):
            operators.create_operator(uow.session, "ALICE", "another password")
        with pytest.raises(operators.WeakPassword, match="at least 8"):
            operators.create_operator(uow.session, "bob", "short")
        with pytest.raises(operators.UnknownRole, match="viewer, operator, admin"):
            operators.create_operator(uow.session, "bob", "long enough", role="root")


def test_deactivated_operator_cannot_log_in_or_use_a_token(db):
    op = _make(db)
    with UnitOfWork(db) as uow:
        token = operators.open_session(uow.session, op)
        uow.commit()
    with Session(db) as s:
        s.execute(update(Operator).values(active=False))
        s.commit()
        assert operators.authenticate(s, "alice", "correct horse") is None
        assert operators.operator_for_token(s, token) is None


def test_session_token_is_stored_hashed_and_stops_working_after_logout(db):
    op = _make(db)
    with UnitOfWork(db) as uow:
        token = operators.open_session(uow.session, op)
        uow.commit()
    with Session(db) as s:
        row = s.exec(select(OperatorSession)).scalars().one()
        assert row.token_hash != token and len(row.token_hash) == 64
        assert operators.operator_for_token(s, token).username == "alice"
        assert operators.operator_for_token(s, token + "x") is None
        assert operators.operator_for_token(s, "") is None
        assert operators.close_session(s, token) is True
        s.commit()
        assert operators.operator_for_token(s, token) is None
        assert operators.close_session(s, token) is False


def test_expired_session_token_is_rejected(db):
    op = _make(db)
    with UnitOfWork(db) as uow:
        token = operators.open_session(uow.session, op, ttl=timedelta(seconds=-1))
        uow.commit()
    with Session(db) as s:
        assert operators.operator_for_token(s, token) is None


def test_roles_are_ordered_viewer_operator_admin(db):
    viewer = _make(db, "vera", role="viewer")
    admin = _make(db, "adam", role="admin")
    assert operators.require_role(admin, "operator") is admin
    assert operators.require_role(viewer, "viewer") is viewer
    with pytest.raises(PermissionError, match="needs the 'operator' role; vera is 'viewer'"):
        operators.require_role(viewer, "operator")
    with pytest.raises(PermissionError, match="not logged in"):
        operators.require_role(None, "viewer")


def test_audit_row_is_written_only_if_the_transaction_commits(db):
    op = _make(db)
    with UnitOfWork(db) as uow:
        operators.record_action(uow.session, op.id, "set_fx_rate", subject="fx:IDR/TWD", reason="r")
        # no commit: rolled back with the effect it audits
    with UnitOfWork(db) as uow:
        operators.record_action(uow.session, op.id, "login", detail={"ip": "127.0.0.1"})
        uow.commit()
    with Session(db) as s:
        rows = s.exec(select(OperatorAction)).scalars().all()
        assert [(r.action, r.detail) for r in rows] == [("login", {"ip": "127.0.0.1"})]
