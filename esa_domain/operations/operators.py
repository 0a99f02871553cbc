"""Operators: accounts (argon2id passwords), sessions (tokens stored hashed), roles, and the audit trail.

Every function takes the caller's session and only flushes: the caller's unit of work commits, so an
operator action and its audit row land in the same transaction or not at all.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import Session, col, select

from esa_domain.core.errors import DomainError
from esa_domain.models import Operator, OperatorAction, OperatorSession
from esa_domain.models.ops import ROLES, LoginThrottle

MIN_PASSWORD_LENGTH = 8
DEFAULT_SESSION_TTL = timedelta(hours=12)
DEFAULT_SESSION_IDLE = timedelta(minutes=30)
# login throttling: failures counted per username and per address in a window; from the 5th on, each further
# failure doubles the lock-out, up to the cap
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_FREE_FAILURES = 5
LOGIN_FIRST_LOCK = timedelta(seconds=30)
LOGIN_MAX_LOCK = timedelta(minutes=15)
_RANK = {role: rank for rank, role in enumerate(ROLES)}  # viewer < operator < admin
_hasher = PasswordHasher()
# verified against when the username is unknown, so a miss costs as long as a hit (no user enumeration)
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class OperatorError(DomainError):
    code = "operator_invalid"
    http_status = 422


class DuplicateUsername(OperatorError):
    code = "operator_duplicate"
    http_status = 409


class WeakPassword(OperatorError):
    code = "operator_weak_password"


class UnknownRole(OperatorError):
    code = "operator_unknown_role"


class NotAllowed(PermissionError):
    """The operator's role does not allow the action; the message says which role is needed."""


def _normalise_username(username: str) -> str:
    return username.strip().lower()


def create_operator(
    session: Session, username: str, password: str, role: str = "viewer", display_name: str = ""
) -> Operator:
    """Create an operator account.

    username: the login name (case-insensitive, stored lower-case); password: at least 8 characters,
    stored as an argon2id hash; role: viewer (reads), operator (acts on orders) or admin (also FX, catalog).
    """
    name = _normalise_username(username)
    if not name or len(name) > 60 or not name.isprintable() or " " in name:
        raise OperatorError("a username of 1 to 60 characters without spaces is required")
    if role not in ROLES:
        raise UnknownRole(f"role '{role}' does not exist; choose one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    exists = session.exec(select(Operator.id).where(Operator.username == name)).first()
    if exists is not None:
        raise DuplicateUsername(f"an operator named '{name}' already exists; pick another username")
    operator = Operator(
        username=name, display_name=display_name or name, password_hash=_hasher.hash(password), role=role
    )
    session.add(operator)
    session.flush()
    return operator


def set_password(session: Session, operator: Operator, password: str) -> None:
    """Replace an operator's password (same length rule as creation) and revoke all their sessions."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    operator.password_hash = _hasher.hash(password)
    session.add(operator)
    session.execute(
        update(OperatorSession)
        .where(col(OperatorSession.operator_id) == operator.id, col(OperatorSession.revoked_at).is_(None))
        .values(revoked_at=func.now())
    )
    session.flush()


def authenticate(session: Session, username: str, password: str) -> Operator | None:
    """The active operator with these credentials, or None (unknown name, wrong password, deactivated)."""
    name = _normalise_username(username)
    operator = session.exec(select(Operator).where(Operator.username == name)).first()
    try:
        _hasher.verify(operator.password_hash if operator else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if operator is None or not operator.active:
        return None
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = _hasher.hash(password)
    operator.last_login_at = datetime.now(UTC)
    session.add(operator)
    session.flush()
    return operator


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, operator: Operator, ttl: timedelta = DEFAULT_SESSION_TTL) -> str:
    """Start a login session; returns the bearer token (only its sha256 is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        OperatorSession(
            token_hash=_token_hash(token), operator_id=operator.id, expires_at=datetime.now(UTC) + ttl
        )
    )
    session.flush()
    return token


def operator_for_token(
    session: Session, token: str | None, idle: timedelta = DEFAULT_SESSION_IDLE
) -> Operator | None:
    """The active operator owning this unexpired, unrevoked token, used within `idle`; None otherwise."""
    if not token:
        return None
    row = session.exec(
        select(Operator)
        .join(OperatorSession, col(OperatorSession.operator_id) == col(Operator.id))
        .where(
            OperatorSession.token_hash == _token_hash(token),
            col(OperatorSession.revoked_at).is_(None),
            col(OperatorSession.expires_at) > func.now(),
            col(OperatorSession.last_used_at) > func.now() - idle,
            col(Operator.active),
        )
    ).first()
    return row


def resume_session(
    session: Session, token: str | None, idle: timedelta = DEFAULT_SESSION_IDLE
) -> Operator | None:
    """operator_for_token, and the session counts as used now (the idle timeout restarts); caller commits."""
    operator = operator_for_token(session, token, idle)
    if operator is not None:
        session.execute(
            update(OperatorSession)
            .where(OperatorSession.token_hash == _token_hash(token or ""))
            .values(last_used_at=func.now())
        )
    return operator


def close_session(session: Session, token: str | None) -> bool:
    """Revoke a token (log out); True if it was live."""
    if not token:
        return False
    result = session.execute(
        update(OperatorSession)
        .where(OperatorSession.token_hash == _token_hash(token), col(OperatorSession.revoked_at).is_(None))
        .values(revoked_at=func.now())
    )
    return bool(result.rowcount)


def has_role(operator: Operator | None, role: str) -> bool:
    """True if the operator's role is `role` or above (viewer < operator < admin)."""
    if role not in _RANK:
        raise UnknownRole(f"role '{role}' does not exist; choose one of {', '.join(ROLES)}")
    return operator is not None and operator.active and _RANK.get(operator.role, -1) >= _RANK[role]


def require_role(operator: Operator | None, role: str) -> Operator:
    """Return the operator if their role is at least `role`; raise NotAllowed (a PermissionError) if not."""
    if operator is None:
        raise NotAllowed("you are not logged in; log in again")
    if not has_role(operator, role):
        raise NotAllowed(
            f"this needs the '{role}' role; {operator.username} is '{operator.role}'. Ask an admin."
        )
    return operator


def record_action(
    session: Session,
    operator_id: int | None,
    action: str,
    payment_id: int | None = None,
    subject: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> OperatorAction:
    """Write the audit row for an operator action, in the caller's transaction.

    action: what was done ("login", "retry_fulfillment", "refund", "set_fx_rate", ...); subject: what it was
    done to when not a payment ("product:12", "fx:IDR/TWD"); reason: the operator's words; detail: the facts.
    """
    row = OperatorAction(
        operator_id=operator_id,
        action=action[:60],
        payment_id=payment_id,
        subject=subject[:120] if subject else None,
        reason=reason[:500] if reason else None,
        detail=detail,
    )
    session.add(row)
    session.flush()
    return row


class LoginLocked(OperatorError):
    """Too many failed logins for this username or address: `until` says when to try again."""

    code = "operator_login_locked"
    http_status = 429

    def __init__(self, until: datetime) -> None:
        self.until = until
        super().__init__(
            f"Too many failed logins. Try again after {until:%H:%M:%S} UTC "
            f"(in {max(1, int((until - datetime.now(UTC)).total_seconds()) + 1)} s)."
        )


def _throttle_keys(username: str, address: str | None) -> list[str]:
    keys = [f"user:{_normalise_username(username)[:60]}"]
    if address:
        keys.append(f"addr:{address[:64]}")
    return keys


def check_login_allowed(session: Session, username: str, address: str | None) -> None:
    """Raise LoginLocked if the username or the address is locked out now (checked before the password)."""
    locked = session.exec(
        select(func.max(LoginThrottle.locked_until)).where(
            col(LoginThrottle.key).in_(_throttle_keys(username, address)),
            col(LoginThrottle.locked_until) > func.now(),
        )
    ).one()
    if locked is not None:
        raise LoginLocked(locked)


def record_login_failure(session: Session, username: str, address: str | None, locked: bool = False) -> None:
    """Count a failed login against the username and the address, lock them out past the free failures, and
    add it to the one audit row of this username's window. `locked`: the attempt was refused by a lock-out
    (audited, but it neither extends the lock nor reveals anything)."""
    now = datetime.now(UTC)
    if not locked:
        for key in _throttle_keys(username, address):
            session.execute(insert(LoginThrottle).values(key=key, failures=0).on_conflict_do_nothing())
            row = session.exec(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()).one()
            if row.window_started_at < now - LOGIN_WINDOW and (
                row.locked_until is None or row.locked_until < now
            ):
                row.failures, row.window_started_at = 0, now
            row.failures += 1
            if row.failures >= LOGIN_FREE_FAILURES:
                lock = LOGIN_FIRST_LOCK * 2 ** (row.failures - LOGIN_FREE_FAILURES)
                row.locked_until = now + min(lock, LOGIN_MAX_LOCK)
            session.add(row)
    subject = _throttle_keys(username, None)[0]
    audit = session.exec(
        select(OperatorAction)
        .where(
            OperatorAction.action == "login_failed",
            OperatorAction.subject == subject,
            col(OperatorAction.created_at) > now - LOGIN_WINDOW,
        )
        .order_by(col(OperatorAction.id).desc())
        .limit(1)
        .with_for_update()
    ).first()
    if audit is None:
        record_action(
            session,
            None,
            "login_failed",
            subject=subject,
            detail={
                "attempts": 1,
                "refused_locked": int(locked),
                "last_address": address,
                "last_at": now.isoformat(),
            },
        )
        return
    detail = dict(audit.detail or {})
    detail["attempts"] = int(detail.get("attempts", 1)) + 1
    detail["refused_locked"] = int(detail.get("refused_locked", 0)) + int(locked)
    detail["last_address"], detail["last_at"] = address, now.isoformat()
    audit.detail = detail
    session.add(audit)
    session.flush()


def clear_login_failures(session: Session, username: str) -> None:
    """A successful login forgets the username's failures (the address keeps its count)."""
    session.execute(
        LoginThrottle.__table__.delete().where(LoginThrottle.key == _throttle_keys(username, None)[0])
    )


# --- managing accounts (the dashboard's Operators page); each change is audited in the caller's transaction ---


@dataclass(frozen=True)
class OperatorRow:
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None
    live_sessions: int


@dataclass(frozen=True)
class SessionRow:
    id: int
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime


def list_operators(session: Session) -> list[OperatorRow]:
    """Every account, active first, with how many sessions each has live now."""
    live = (
        select(OperatorSession.operator_id, func.count().label("n"))
        .where(col(OperatorSession.revoked_at).is_(None), col(OperatorSession.expires_at) > func.now())
        .group_by(col(OperatorSession.operator_id))
        .subquery()
    )
    rows = session.exec(
        select(Operator, func.coalesce(live.c.n, 0))
        .outerjoin(live, live.c.operator_id == col(Operator.id))
        .order_by(col(Operator.active).desc(), col(Operator.username))
    ).all()
    return [
        OperatorRow(o.id, o.username, o.display_name, o.role, o.active, o.created_at, o.last_login_at, int(n))
        for o, n in rows
    ]


def live_sessions(session: Session, operator_id: int) -> list[SessionRow]:
    """An operator's sessions that are neither revoked nor expired, newest first."""
    rows = session.exec(
        select(OperatorSession)
        .where(
            OperatorSession.operator_id == operator_id,
            col(OperatorSession.revoked_at).is_(None),
            col(OperatorSession.expires_at) > func.now(),
        )
        .order_by(col(OperatorSession.id).desc())
    ).all()
    return [SessionRow(r.id, r.created_at, r.last_used_at, r.expires_at) for r in rows]


def _target(session: Session, operator_id: int) -> Operator:
    target = session.exec(select(Operator).where(Operator.id == operator_id).with_for_update()).first()
    if target is None:
        raise OperatorError(f"there is no operator #{operator_id}; reload the page")
    return target


def _keep_an_admin(session: Session, target: Operator) -> None:
    """Refuse a change that would leave no active admin (nobody could manage accounts any more)."""
    others = session.exec(
        select(func.count())
        .select_from(Operator)
        .where(Operator.role == "admin", col(Operator.active), Operator.id != target.id)
    ).one()
    if target.role == "admin" and target.active and not others:
        raise OperatorError(f"{target.username} is the last active admin: make another admin first")


def _revoke_all(session: Session, operator_id: int) -> int:
    result = session.execute(
        update(OperatorSession)
        .where(col(OperatorSession.operator_id) == operator_id, col(OperatorSession.revoked_at).is_(None))
        .values(revoked_at=func.now())
    )
    return int(result.rowcount or 0)


def add_operator(
    session: Session, actor: Operator, username: str, password: str, role: str, display_name: str = ""
) -> Operator:
    """create_operator, by an admin, audited."""
    require_role(actor, "admin")
    created = create_operator(session, username, password, role, display_name)
    record_action(
        session, actor.id, "operator_create", subject=f"operator:{created.id}",
        detail={"username": created.username, "role": role},
    )  # fmt: skip
    return created


def change_role(session: Session, actor: Operator, operator_id: int, role: str) -> Operator:
    """Give an operator another role (their sessions stay: the role is read again on every event)."""
    require_role(actor, "admin")
    if role not in ROLES:
        raise UnknownRole(f"role '{role}' does not exist; choose one of {', '.join(ROLES)}")
    target = _target(session, operator_id)
    if target.role == role:
        return target
    if role != "admin":
        _keep_an_admin(session, target)
    before, target.role = target.role, role
    session.add(target)
    record_action(
        session, actor.id, "operator_role", subject=f"operator:{target.id}",
        detail={"username": target.username, "from": before, "to": role},
    )  # fmt: skip
    session.flush()
    return target


def set_active(
    session: Session, actor: Operator, operator_id: int, active: bool, reason: str = ""
) -> Operator:
    """Deactivate (every session ends now, logins refused) or reactivate an account."""
    require_role(actor, "admin")
    target = _target(session, operator_id)
    if target.active == active:
        return target
    ended = 0
    if not active:
        if target.id == actor.id:
            raise OperatorError("you cannot deactivate your own account; another admin can")
        _keep_an_admin(session, target)
        ended = _revoke_all(session, target.id)
    target.active = active
    session.add(target)
    record_action(
        session, actor.id, "operator_reactivate" if active else "operator_deactivate",
        subject=f"operator:{target.id}", reason=reason or None,
        detail={"username": target.username, "sessions_ended": ended},
    )  # fmt: skip
    session.flush()
    return target


def reset_password(session: Session, actor: Operator, operator_id: int, password: str) -> Operator:
    """Set a new password for an operator (their sessions end); the password itself is never recorded."""
    require_role(actor, "admin")
    target = _target(session, operator_id)
    set_password(session, target, password)
    record_action(
        session, actor.id, "operator_password_reset", subject=f"operator:{target.id}",
        detail={"username": target.username},
    )  # fmt: skip
    return target


def revoke_session(session: Session, actor: Operator, session_id: int) -> bool:
    """End one session now (a lost phone, a shared computer); True if it was live."""
    require_role(actor, "admin")
    row = session.get(OperatorSession, session_id)
    if row is None:
        raise OperatorError(f"there is no session #{session_id}; reload the page")
    result = session.execute(
        update(OperatorSession)
        .where(col(OperatorSession.id) == session_id, col(OperatorSession.revoked_at).is_(None))
        .values(revoked_at=func.now())
    )
    ended = bool(result.rowcount)
    if ended:
        owner = session.get(Operator, row.operator_id)
        record_action(
            session, actor.id, "operator_session_revoke", subject=f"operator:{row.operator_id}",
            detail={"username": owner.username if owner else None, "session": session_id},
        )  # fmt: skip
    session.flush()
    return ended


@dataclass(frozen=True)
class ActionRow:
    at: datetime
    operator: str | None
    action: str
    payment_id: int | None
    subject: str | None
    reason: str | None


def recent_actions(session: Session, limit: int = 50) -> list[ActionRow]:
    """The newest audit rows, newest first (the whole log downloads as CSV by date range)."""
    rows = session.exec(
        select(OperatorAction, Operator.username)
        .outerjoin(Operator, col(Operator.id) == col(OperatorAction.operator_id))
        .order_by(col(OperatorAction.id).desc())
        .limit(limit)
    ).all()
    return [ActionRow(a.created_at, name, a.action, a.payment_id, a.subject, a.reason) for a, name in rows]
