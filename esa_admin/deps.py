"""What the dashboard's event handlers need from the outside: the process's runtime (esa_domain.infra.runtime)."""

from __future__ import annotations

from esa_domain.infra.db import UnitOfWork
from esa_domain.infra.runtime import Runtime, process_runtime


def runtime() -> Runtime:
    """The process's runtime, shared with the API mounted in the same app."""
    return process_runtime()


def unit_of_work() -> UnitOfWork:
    """A unit of work on the app's database that publishes its outbox rows after commit (or leaves them for
    the outbox sweeper when REDIS_URL is not set)."""
    return process_runtime().uow()
