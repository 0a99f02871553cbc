"""Alembic on the SQLModel metadata; the database URL comes from the shared settings (or -x url=...)."""

from __future__ import annotations

from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import esa_domain.models  # noqa: F401  (registers every table on SQLModel.metadata)
from alembic import context
from esa_domain.infra.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    url = get_settings().sqlalchemy_url
    if not url:
        raise SystemExit(
            "DATABASE_URL is not set: use `esa db upgrade`, which also knows the embedded database"
        )
    return url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def _without_missing_trigram_indexes(connection):  # type: ignore[no-untyped-def]
    """Migration 0016 leaves the trigram indexes (names ending _trgm) out where PostgreSQL has no pg_trgm (the
    embedded pgserver build): there, comparing the models with the database (`alembic check`) skips them.
    Asked only while comparing (never before a migration's transaction begins)."""
    has_trgm: list[bool] = []

    def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        if not (type_ == "index" and str(name).endswith("_trgm")):
            return True
        if not has_trgm:
            sql = "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
            has_trgm.append(connection.exec_driver_sql(sql).first() is not None)
        return has_trgm[0]

    return include_object


def run_migrations_online() -> None:
    connectable = engine_from_config(
        {"sqlalchemy.url": _url()}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_object=_without_missing_trigram_indexes(connection),
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
