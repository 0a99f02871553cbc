"""GET /_export/<name>.csv over HTTP: only a live session of the right role downloads, a bad range is said in
words, and every download is audited."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import datetime

import httpx
import pytest
from sqlmodel import Session, select

from esa_admin.exports import ExportEndpoint
from esa_admin.session_cookie import SESSION_COOKIE
from esa_domain.infra.db import UnitOfWork
from esa_domain.infra.settings import get_settings
from esa_domain.models import OperatorAction
from esa_domain.operations.operators import close_session, create_operator, open_session
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from esa_domain.views.orders import TAIPEI
from tests import factories


async def _not_found(scope, receive, send):  # what the rest of the app would answer
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


def _get(path: str, token: str | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=ExportEndpoint(_not_found))
        cookies = {SESSION_COOKIE: token} if token else None
        async with httpx.AsyncClient(transport=transport, base_url="http://dash", cookies=cookies) as client:
            return await client.get(path)

    return asyncio.run(go())


@pytest.fixture
def tokens(db, database_url, monkeypatch):
    # the endpoint runs on the process's settings, as in the web app: pointed at the test database
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    get_settings.cache_clear()
    with UnitOfWork(db) as uow:
        out = {}
        for name, role in (("boss", "admin"), ("vera", "viewer")):
            out[name] = open_session(
                uow.session, create_operator(uow.session, name, "long-password-1", role=role)
            )
        uow.commit()
    yield out
    get_settings.cache_clear()


def test_exports_need_a_live_session_and_the_right_role(db, tokens):
    cat = factories.catalog(db)
    customer = factories.customer(db)
    with UnitOfWork(db) as uow:
        placed = place_order(
            uow, OrderRequest(customer.id, uuid.uuid4().hex, (OrderLine(cat["pulsa"].code, "081377778888"),))
        )
        uow.commit()

    assert _get("/_export/orders.csv").status_code == 401
    assert _get("/_export/orders.csv", "forged-token").status_code == 401
    viewer_orders = _get("/_export/orders.csv", tokens["vera"])
    assert viewer_orders.status_code == 200
    assert viewer_orders.headers["content-type"].startswith("text/csv")
    today = datetime.now(TAIPEI).date().isoformat()
    assert f'filename="orders-{today}-to-{today}.csv"' in viewer_orders.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(viewer_orders.text.lstrip("\ufeff"))))
    assert [r["order"] for r in rows] == [f"#{placed.payment_id}"]

    denied = _get("/_export/audit.csv", tokens["vera"])
    assert denied.status_code == 403 and "admin" in denied.text
    assert _get("/_export/audit.csv", tokens["boss"]).status_code == 200
    bad = _get("/_export/orders.csv?from=2026-02-30", tokens["boss"])
    assert bad.status_code == 422 and "not a date" in bad.text
    assert _get("/_export/nothing.csv", tokens["boss"]).status_code == 404
    assert _get("/elsewhere", tokens["boss"]).text == "app"

    with UnitOfWork(db) as uow:
        close_session(uow.session, tokens["vera"])
        uow.commit()
    assert _get("/_export/orders.csv", tokens["vera"]).status_code == 401  # logged out: nothing more

    with Session(db) as s:
        audited = s.exec(select(OperatorAction).where(OperatorAction.action == "export_csv")).all()
    assert sorted(a.subject for a in audited) == ["export:audit", "export:orders"]
