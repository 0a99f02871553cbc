"""Operators: accounts (argon2id passwords), sessions (tokens stored hashed), roles, and the audit trail.

Every function takes the caller's session and only flushes: the caller's unit of work commits, so an
operator action and its audit row land in the same transaction or not at all.
"""

from __future__ import annotations

import hashlib
import secrets
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
