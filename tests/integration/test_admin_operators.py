"""Managing operator accounts from the dashboard: create, role, deactivate, reset password, end sessions; every
change audited in the same transaction, and no change that would leave the shop without an active admin."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Operator, OperatorAction
from esa_domain.operations import operators as ops

PASSWORD = "long-password-1"


def _admin(db, name: str = "root") -> Operator:
    with UnitOfWork(db) as uow:
        admin = ops.create_operator(uow.session, name, PASSWORD, role="admin")
        uow.commit()
    return admin


def _audit(db) -> list[tuple[str, str | None, dict | None]]:
    with Session(db) as s:
        rows = s.exec(select(OperatorAction).order_by(OperatorAction.id)).all()
        return [(a.action, a.subject, a.detail) for a in rows]


def _me(uow: UnitOfWork, operator: Operator) -> Operator:
    return uow.session.get(Operator, operator.id)


def test_admin_creates_an_operator_changes_the_role_and_each_change_is_audited(db):
    root = _admin(db)
    with UnitOfWork(db) as uow:
        made = ops.add_operator(uow.session, _me(uow, root), "Dewi", PASSWORD, "viewer", "Dewi K.")
        uow.commit()
    with UnitOfWork(db) as uow:
        ops.change_role(uow.session, _me(uow, root), made.id, "operator")
        uow.commit()
    with Session(db) as s:
        dewi = s.get(Operator, made.id)
        assert (dewi.username, dewi.display_name, dewi.role) == ("dewi", "Dewi K.", "operator")
    assert _audit(db) == [
        ("operator_create", f"operator:{made.id}", {"username": "dewi", "role": "viewer"}),
        ("operator_role", f"operator:{made.id}", {"username": "dewi", "from": "viewer", "to": "operator"}),
    ]


def test_a_weak_password_or_taken_name_writes_nothing(db):
    root = _admin(db)
    for name, password, message in (("dewi", "short", "at least 8"), ("root", PASSWORD, "already exists")):
        with UnitOfWork(db) as uow, pytest.raises(ops.OperatorError, match=message):
            ops.add_operator(uow.session, _me(uow, root), name, password, "viewer")
    assert _audit(db) == []
    with Session(db) as s:
        assert [o.username for o in s.exec(select(Operator)).all()] == ["root"]


def test_deactivating_ends_every_session_and_refuses_the_login(db):
    root = _admin(db)
    with UnitOfWork(db) as uow:
        dewi = ops.create_operator(uow.session, "dewi", PASSWORD, role="operator")
        token = ops.open_session(uow.session, dewi)
        uow.commit()
    with UnitOfWork(db) as uow:
        ops.set_active(uow.session, _me(uow, root), dewi.id, False, reason="left the company")
        uow.commit()
    with Session(db) as s:
        assert ops.operator_for_token(s, token) is None
        assert ops.authenticate(s, "dewi", PASSWORD) is None
        assert ops.live_sessions(s, dewi.id) == []
    action, subject, detail = _audit(db)[-1]
    assert (action, subject, detail["sessions_ended"]) == ("operator_deactivate", f"operator:{dewi.id}", 1)
    with UnitOfWork(db) as uow:
        ops.set_active(uow.session, _me(uow, root), dewi.id, True)
        uow.commit()
    with Session(db) as s:
        assert ops.authenticate(s, "dewi", PASSWORD) is not None
    assert _audit(db)[-1][0] == "operator_reactivate"


def test_reset_password_ends_sessions_and_never_records_the_password(db):
    root = _admin(db)
    with UnitOfWork(db) as uow:
        dewi = ops.create_operator(uow.session, "dewi", PASSWORD)
        token = ops.open_session(uow.session, dewi)
        uow.commit()
    with UnitOfWork(db) as uow:
        ops.reset_password(uow.session, _me(uow, root), dewi.id, "brand-new-secret-9")
        uow.commit()
    with Session(db) as s:
        assert ops.operator_for_token(s, token) is None
        assert ops.authenticate(s, "dewi", PASSWORD) is None
        assert ops.authenticate(s, "dewi", "brand-new-secret-9") is not None
    assert _audit(db) == [("operator_password_reset", f"operator:{dewi.id}", {"username": "dewi"})]
    assert "brand-new-secret-9" not in repr(_audit(db))


def test_one_session_is_revoked_and_the_others_live_on(db):
    root = _admin(db)
    with UnitOfWork(db) as uow:
        dewi = ops.create_operator(uow.session, "dewi", PASSWORD)
        phone, laptop = ops.open_session(uow.session, dewi), ops.open_session(uow.session, dewi)
        uow.commit()
    with Session(db) as s:
        listed = ops.live_sessions(s, dewi.id)
        assert len(listed) == 2
        assert [r.live_sessions for r in ops.list_operators(s) if r.username == "dewi"] == [2]
    with UnitOfWork(db) as uow:
        assert ops.revoke_session(uow.session, _me(uow, root), listed[0].id) is True  # newest: the laptop
        uow.commit()
    with Session(db) as s:
        assert ops.operator_for_token(s, laptop) is None
        assert ops.operator_for_token(s, phone) is not None
    assert _audit(db)[-1][:2] == ("operator_session_revoke", f"operator:{dewi.id}")


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(db):
    root = _admin(db)
    with UnitOfWork(db) as uow, pytest.raises(ops.OperatorError, match="last active admin"):
        ops.change_role(uow.session, _me(uow, root), root.id, "viewer")
    other = _admin(db, "second")
    with UnitOfWork(db) as uow, pytest.raises(ops.OperatorError, match="your own account"):
        ops.set_active(uow.session, _me(uow, root), root.id, False)
    with UnitOfWork(db) as uow:
        ops.change_role(uow.session, _me(uow, root), other.id, "viewer")
        uow.commit()
    with UnitOfWork(db) as uow, pytest.raises(ops.OperatorError, match="last active admin"):
        ops.change_role(uow.session, _me(uow, root), root.id, "operator")
    assert [a[0] for a in _audit(db)] == ["operator_role"]


def test_only_an_admin_manages_accounts(db):
    _admin(db)
    with UnitOfWork(db) as uow:
        ops_user = ops.create_operator(uow.session, "ops", PASSWORD, role="operator")
        uow.commit()
    with UnitOfWork(db) as uow, pytest.raises(ops.NotAllowed, match="admin"):
        ops.add_operator(uow.session, _me(uow, ops_user), "sneaky", PASSWORD, "admin")
    assert _audit(db) == []
