"""Column helpers shared by the table modules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, ForeignKey, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def created_at() -> Any:
    return Field(
        default_factory=utcnow,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()")),
    )


def ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


def pk() -> Any:
    return Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))


def fk(target: str, nullable: bool = False, index: bool = True, ondelete: str | None = None) -> Any:
    return Field(
        default=None,
        sa_column=Column(BigInteger, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index),
    )


def json_col(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSONB, nullable=nullable))


def money(nullable: bool = False, default: int | None = None) -> Any:
    """Whole TWD or whole IDR; BIGINT because IDR runs into the billions."""
    return Field(
        default=default,
        sa_column=Column(
            BigInteger, nullable=nullable, server_default=None if default is None else text(str(default))
        ),
    )
