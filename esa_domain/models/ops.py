"""The operational record: gateway notifications, the outbox, alerts, operators and what they did, job runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, String, text
from sqlmodel import Field, SQLModel

from esa_domain.models._base import created_at, fk, json_col, pk, ts
from esa_domain.models._base import created_at as _now_by_default

ROLES = ("viewer", "operator", "admin")


class GatewayEvent(SQLModel, table=True):
    """Every ECPay notification (and query answer) as received, verified or not; CheckMacValue removed."""

    __tablename__ = "gateway_events"
    __table_args__ = (Index("ix_gateway_events_payment", "payment_id", "id"),)
    id: int | None = pk()
    payment_id: int | None = fk("payments.id", nullable=True, index=False)
    merchant_trade_no: str | None = Field(default=None, max_length=40, index=True)
    kind: str = Field(max_length=20)  # notification | order_result | query
    fields: dict | None = json_col()
    verified: bool = False
    outcome: str = Field(default="received", max_length=200)  # accepted | duplicate | rejected: <why> | ...
    remote_addr: str | None = Field(default=None, max_length=64)
    received_at: datetime = created_at()


class OutboxMessage(SQLModel, table=True):
    """A side effect committed with the state change; dispatched to the broker after commit."""

    __tablename__ = "outbox"
    __table_args__ = (
        # the sweeper's two scans: rows left behind (available_at NULL, by created_at), and parked delayed
        # rows coming due (by available_at)
        Index("ix_outbox_due", "available_at", "created_at", postgresql_where=text("dispatched_at IS NULL")),
    )
    id: int | None = pk()
    topic: str = Field(max_length=60)  # the actor that carries it out
    payload: dict = json_col(nullable=False)
    created_at: datetime = created_at()
    available_at: datetime | None = ts()  # not before (a delayed side effect)
    dispatched_at: datetime | None = ts()
    dispatch_attempts: int = 0


class Alert(SQLModel, table=True):
    """An operator alert, sent once per (order, condition): the dedupe key is unique."""

    __tablename__ = "alerts"
    id: int | None = pk()
    dedupe_key: str = Field(sa_column=Column(String(160), unique=True, nullable=False))
    payment_id: int | None = fk("payments.id", nullable=True)
    condition: str = Field(max_length=60)
    title: str = Field(max_length=200)
    body: str = Field(max_length=1000)
    link: str | None = Field(default=None, max_length=300)
    retry_key: str = Field(max_length=40)  # LINE's X-Line-Retry-Key, reused across retries
    status: str = Field(default="queued", max_length=20)  # queued | sent | failed
    sent_at: datetime | None = ts()
    error: str | None = Field(default=None, max_length=300)
    created_at: datetime = created_at()


class Operator(SQLModel, table=True):
    __tablename__ = "operators"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="ck_operator_role"),)
    id: int | None = pk()
    username: str = Field(sa_column=Column(String(60), unique=True, nullable=False))
    display_name: str = Field(default="", max_length=120)
    password_hash: str = Field(max_length=200)
    role: str = Field(default="viewer", max_length=10)
    active: bool = True
    created_at: datetime = created_at()
    last_login_at: datetime | None = ts()


class OperatorSession(SQLModel, table=True):
    __tablename__ = "operator_sessions"
    id: int | None = pk()
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))  # sha256 of the token
    operator_id: int = fk("operators.id")
    expires_at: datetime = ts(nullable=False)
    revoked_at: datetime | None = ts()
    created_at: datetime = created_at()
    last_used_at: datetime = _now_by_default()  # the idle timeout counts from here


class LoginThrottle(SQLModel, table=True):
    """Failed logins per key ("user:<name>" or "addr:<ip>") in the current window, and the lock-out they earned."""

    __tablename__ = "login_throttles"
    id: int | None = pk()
    key: str = Field(sa_column=Column(String(120), unique=True, nullable=False))
    failures: int = 0
    window_started_at: datetime = created_at()
    locked_until: datetime | None = ts()


class OperatorAction(SQLModel, table=True):
    """The audit trail of everything an operator did (logins, retries, refunds, edits)."""

    __tablename__ = "operator_actions"
    __table_args__ = (Index("ix_operator_actions_payment", "payment_id", "id"),)
    id: int | None = pk()
    operator_id: int | None = fk("operators.id", nullable=True)
    action: str = Field(max_length=60)
    payment_id: int | None = fk("payments.id", nullable=True, index=False)
    subject: str | None = Field(default=None, max_length=120)  # e.g. "product:12", "fx:IDR/TWD"
    reason: str | None = Field(default=None, max_length=500)
    detail: dict | None = json_col()
    created_at: datetime = created_at()


class JobRun(SQLModel, table=True):
    """One run of a scheduled job (reconciliation, catalog sync per supplier, FX refresh) and what it did."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_kind_started", "kind", "started_at"),)
    id: int | None = pk()
    kind: str = Field(max_length=40)  # reconcile | catalog_sync:<supplier> | fx_refresh
    started_at: datetime = created_at()
    finished_at: datetime | None = ts()
    status: str = Field(default="running", max_length=20)  # running | ok | failed
    summary: dict[str, Any] | None = json_col()
    error: str | None = Field(default=None, max_length=500)
