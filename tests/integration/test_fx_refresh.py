"""FX refresh from the FX sandbox over real HTTP, and manual rates, on real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlmodel import Session, select

from esa_domain.adapters.fx_source import HttpFxSource
from esa_domain.catalog.fx import usable_rate
from esa_domain.catalog.fx_refresh import FxSourceError, refresh_rate
from esa_domain.core.errors import StaleRate
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import FxRate, JobRun, OperatorAction
from esa_domain.operations.actions import ActionRefused, set_fx_rate
from esa_domain.operations.operators import NotAllowed, create_operator
from sandbox.fx import create_fx_sandbox
from tests import factories


@pytest.fixture
def fx_url(run_asgi) -> str:
    return run_asgi(create_fx_sandbox())


def _uow(db):
    return lambda: UnitOfWork(db)


def _source(fx_url: str) -> HttpFxSource:
    return HttpFxSource(fx_url + "/rates/IDR-TWD", name="fx-sandbox", timeout=5)


def _runs(db) -> list[JobRun]:
    with Session(db) as s:
        return list(s.exec(select(JobRun).order_by(JobRun.id)).all())


def _usable(db, max_age: timedelta) -> FxRate:
    with Session(db) as s:
        return usable_rate(s, now=datetime.now(UTC), max_age=max_age)


def test_refresh_stores_the_exact_decimal_rate_and_an_ok_run(db, fx_url):
    httpx.post(fx_url + "/_sandbox/rate", json={"rate": "0.001981234567"}).raise_for_status()
    row = refresh_rate(_uow(db), _source(fx_url))
    assert (row.rate, row.source, row.pair) == (Decimal("0.001981234567"), "fx-sandbox", "IDR/TWD")
    assert _usable(db, timedelta(minutes=5)).rate == Decimal("0.001981234567")
    (run,) = _runs(db)
    assert (run.kind, run.status) == ("fx_refresh", "ok")
    assert run.summary["rate"] == "0.001981234567"


def test_failing_source_keeps_the_previous_rate_and_records_a_failed_run(db, fx_url):
    old = factories.add(
        db, FxRate(pair="IDR/TWD", rate=Decimal("0.00200"), source="earlier", fetched_at=datetime.now(UTC))
    )
    httpx.post(fx_url + "/_sandbox/failures", json={"status": 503}).raise_for_status()
    with pytest.raises(FxSourceError, match="HTTP 503"):
        refresh_rate(_uow(db), _source(fx_url))
    assert _usable(db, timedelta(hours=1)).id == old.id
    (run,) = _runs(db)
    assert (run.status, run.error) == ("failed", "fx-sandbox answered HTTP 503")


@pytest.mark.parametrize(
    ("served", "why"),
    [
        ("505.05", "implausible"),
        ("0", "not a positive"),
        ("-0.002", "not a positive"),
        ("abc", "not a number"),
    ],
)
def test_absurd_or_malformed_rates_are_refused(db, fx_url, served, why):
    httpx.post(fx_url + "/_sandbox/rate", json={"rate": served, "allow_garbage": True}).raise_for_status()
    with pytest.raises(FxSourceError, match=why):
        refresh_rate(_uow(db), _source(fx_url))
    with Session(db) as s:
        assert s.exec(select(FxRate)).all() == []
    assert _runs(db)[0].status == "failed"


def test_rate_older_than_the_limit_refuses_quotes_until_a_refresh_succeeds(db, fx_url):
    # Given the last good rate is two days old and today's refresh fails
    factories.add(
        db,
        FxRate(
            pair="IDR/TWD",
            rate=Decimal("0.00200"),
            source="earlier",
            fetched_at=datetime.now(UTC) - timedelta(days=2),
        ),
    )
    httpx.post(fx_url + "/_sandbox/failures", json={"status": 500}).raise_for_status()
    with pytest.raises(FxSourceError):
        refresh_rate(_uow(db), _source(fx_url))
    # Then quotes are refused rather than priced on a stale rate
    with pytest.raises(StaleRate):
        _usable(db, timedelta(hours=24))
    # And the next successful refresh makes quoting possible again
    refresh_rate(_uow(db), _source(fx_url))
    assert _usable(db, timedelta(hours=24)).rate == Decimal("0.00198")


def test_manual_rate_is_audited_and_needs_an_admin(db):
    with UnitOfWork(db) as uow:
        admin = create_operator(uow.session, "ada", "correct horse battery", role="admin")
        viewer = create_operator(uow.session, "vic", "correct horse battery", role="viewer")
        uow.commit()
    with UnitOfWork(db) as uow:
        row = set_fx_rate(uow, admin, "0.00199", "source down, rate from the bank")
    assert (row.source, row.set_by_operator_id, row.rate) == ("manual", admin.id, Decimal("0.00199"))
    with Session(db) as s:
        action = s.exec(select(OperatorAction)).one()
    assert (action.action, action.subject, action.detail["rate"]) == ("set_fx_rate", "fx:IDR/TWD", "0.00199")
    with UnitOfWork(db) as uow, pytest.raises(NotAllowed):
        set_fx_rate(uow, viewer, "0.00199", "trying")
    with UnitOfWork(db) as uow, pytest.raises(ActionRefused, match="implausible"):
        set_fx_rate(uow, admin, "505", "inverted by mistake")
