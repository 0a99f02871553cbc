"""The proof suite: crash points, races and fuzzing, in a short profile (CI) or a full one (ESA_PROOF=full).

Short (the default, what `./dev test` runs): few orders, one kill per crash point, few hypothesis examples.
Full (`scripts/proof`): many orders, repeated kills, many examples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from dramatiq.brokers.redis import RedisBroker

from esa_domain.infra.runtime import Runtime
from tests.supplier_world import start_world
from workers.publisher import DramatiqPublisher


@dataclass(frozen=True)
class Profile:
    name: str
    orders: int  # orders flowing per crash scenario
    kills: int  # SIGKILLs per crash point
    examples: int  # hypothesis examples per fuzz test
    rounds: int  # repetitions of each race
    reconcile_payments: int  # PENDING payments a killed reconciliation run is healing


SHORT = Profile("short", orders=6, kills=1, examples=30, rounds=3, reconcile_payments=16)
FULL = Profile("full", orders=24, kills=4, examples=400, rounds=25, reconcile_payments=60)
PROFILE = FULL if os.environ.get("ESA_PROOF", "").lower() == "full" else SHORT


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "proof: crash-point, race and fuzz proofs (tests/proof)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/proof/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.proof)


def pytest_report_header() -> str:
    return f"esa proof profile: {PROFILE.name} ({PROFILE})"


@pytest.fixture(scope="module")
def world(engine):
    """The API and every simulator on real ports; SLOW answers in 1.5 s, TIMEOUT_BUT_SUCCEEDS in 4 s."""
    w = start_world(engine, slow_answer_seconds=1.5, slow_seconds=4.0, callback_delay=0.3)
    yield w
    w.servers.stop()


def api_app(world):
    """The in-thread API app of `world` (to install a runtime on it)."""
    for server, _ in world.servers._running:
        app = server.config.app
        if getattr(app, "title", "") == "ESA API":
            return app
    raise LookupError("API app not running")


@pytest.fixture
def rt(db, world, redis_url, redis_client) -> Runtime:
    """The in-thread API publishes to the real broker, like production; simulators start empty."""
    runtime = Runtime(world.settings, db, DramatiqPublisher(RedisBroker(url=redis_url, namespace="esa")))
    api_app(world).state.runtime = runtime
    world.reset()
    return runtime


@pytest.fixture
def quiet_rt(db, world) -> Runtime:
    """The in-thread API without a broker: outbox rows stay in the database (for fuzzing and races)."""
    runtime = Runtime(world.settings, db, None)
    api_app(world).state.runtime = runtime
    world.reset()
    return runtime


@pytest.fixture
def worker_env(world, database_url, redis_url) -> dict[str, str]:
    """What a worker (or web) process needs; a 2 s read timeout makes TIMEOUT_BUT_SUCCEEDS time out."""
    return {
        **world.env,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ESA_PUBLIC_URL": world.api_url,
        "SUPPLIER_READ_TIMEOUT_S": "2",
        # status checks seconds apart, not production's 10 s to 30 min: a maybe left by a crash is asked again
        # within the heal's 90 s however many times the supplier has said "still processing" before
        "ESA_CHECK_BACKOFF_SECONDS": "1,2,4,8",
        # a purchase a kill stopped before it reached the supplier is answered "no such transaction"; that is
        # believed (and the item moves on) after this grace, production's 2 min would outlast the heal
        "ESA_NOT_FOUND_GRACE_SECONDS": "10",
        "ESA_ENV": "test",
    }
