"""Supplier deposits on real PostgreSQL, with the IAK and LINE simulators over HTTP: the poll, the history,
balances read from purchase answers, the low-deposit alert with its forecast (sent once), routing's question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlmodel import Session, select

from esa_domain.adapters.line.push import LinePusher
from esa_domain.adapters.suppliers.iak.adapter import IakAdapter
from esa_domain.infra.db import UnitOfWork
from esa_domain.models import Alert, Supplier, SupplierBalance, SupplierExchange
from esa_domain.operations import deposits
from esa_domain.operations.alert_delivery import send_alert
from sandbox import iak as iak_sim
from sandbox.line import LineSandboxConfig, create_line_sandbox
from tests import factories

PUBLIC = "https://esa.example"
TOKEN = "test-channel-access-token"
OPERATORS = "Cgroup0000000000000000000000000001"
POLICY = deposits.DepositPolicy(low_idr=2_000_000, low_hours=12, topup_hours=72)


@pytest.fixture
def sims(run_asgi) -> dict[str, str]:
    return {
        "iak": run_asgi(iak_sim.create_app()),
        "line": run_asgi(create_line_sandbox(LineSandboxConfig(channel_access_token=TOKEN))),
    }


def _uow(db):
    return lambda: UnitOfWork(db)


def _iak(url: str) -> IakAdapter:
    return IakAdapter(username=iak_sim.DEFAULT_USERNAME, api_key=iak_sim.DEFAULT_API_KEY, prepaid_url=url)


def _deliver_alerts(db, line_url: str) -> None:
    """Play the SEND_ALERT actor for every queued alert."""
    pusher = LinePusher(TOKEN, base_url=line_url)
    with Session(db) as s:
        queued = [a.id for a in s.exec(select(Alert).where(Alert.status == "queued")).all()]
    for alert_id in queued:
        send_alert(_uow(db), alert_id, pusher, OPERATORS)


def _alerts(db) -> list[Alert]:
    with Session(db) as s:
        return list(s.exec(select(Alert).where(Alert.condition == "deposit_low").order_by(Alert.id)).all())


def _readings(db, supplier_id: int) -> list[tuple[int, str]]:
    with Session(db) as s:
        rows = s.exec(
            select(SupplierBalance)
            .where(SupplierBalance.supplier_id == supplier_id)
            .order_by(SupplierBalance.id)
        ).all()
        return [(r.balance_idr, r.source) for r in rows]


def test_low_sandbox_deposit_raises_the_forecast_alert_once_and_a_top_up_rearms_it(db, sims):
    rows = factories.catalog(db)
    iak = rows["iak"]
    adapters = {"iak": _iak(sims["iak"])}
    # Given IAK's deposit stood at Rp 10.000.000 twenty hours ago (a poll of yesterday)
    with UnitOfWork(db) as uow:
        deposits.record_balance(
            uow.session,
            iak.id,
            10_000_000,
            source="poll",
            observed_at=datetime.now(UTC) - timedelta(hours=20),
        )
        uow.commit()
    # When the sandbox deposit is set low and the scheduled poll runs
    httpx.post(sims["iak"] + "/_sandbox/deposit", params={"balance": 1_500_000}).raise_for_status()
    summary = deposits.poll_balances(_uow(db), adapters, POLICY, PUBLIC)
    assert summary["balances"] == {"iak": 1_500_000} and summary["alerts"] == 1
    # Then the balance, read from IAK's own /api/check-balance, is in the history and on the supplier row
    assert _readings(db, iak.id) == [(10_000_000, "poll"), (1_500_000, "poll")]
    with Session(db) as s:
        assert s.get(Supplier, iak.id).balance_idr == 1_500_000
        assert s.exec(select(SupplierExchange).where(SupplierExchange.operation == "balance")).one()
    # and the alert gives the forecast from the last 24 h's rate: 8.5M spent in 20 h is 425.000/h,
    # 1.5M lasts about 4 h; 72 h at that rate is 30.6M, so top up 29.1M
    (alert,) = _alerts(db)
    assert alert.body.startswith("IAK runs out in about 4 h at the last 24 h's rate")
    assert "Rp 1.500.000 left" in alert.body and alert.body.endswith("top up Rp 29.100.000")
    # When the poll runs again (still low) and alerts are delivered
    deposits.poll_balances(_uow(db), adapters, POLICY, PUBLIC)
    deposits.poll_balances(_uow(db), adapters, POLICY, PUBLIC)
    _deliver_alerts(db, sims["line"])
    # Then LINE got exactly one message, the forecast
    pushes = httpx.get(sims["line"] + "/_sandbox/messages").json()
    assert len(pushes) == 1
    assert pushes[0]["messages"][0]["altText"].startswith("IAK deposit low: Rp 1.500.000")
    assert len(_alerts(db)) == 1
    # When the deposit is topped up, then runs low again
    httpx.post(sims["iak"] + "/_sandbox/deposit", params={"balance": 40_000_000}).raise_for_status()
    assert deposits.poll_balances(_uow(db), adapters, POLICY, PUBLIC)["alerts"] == 0
    httpx.post(sims["iak"] + "/_sandbox/deposit", params={"balance": 900_000}).raise_for_status()
    assert deposits.poll_balances(_uow(db), adapters, POLICY, PUBLIC)["alerts"] == 1
    _deliver_alerts(db, sims["line"])
    # Then that is a new episode: a second alert, and a second LINE message
    assert len(_alerts(db)) == 2
    assert len(httpx.get(sims["line"] + "/_sandbox/messages").json()) == 2


def test_deposit_can_cover_uses_the_latest_reading_and_trusts_an_unknown_balance(db):
    rows = factories.catalog(db)
    iak, lapak = rows["iak"], rows["lapak"]
    with Session(db) as s:
        assert deposits.deposit_can_cover(s, iak.id, 10_200) is True  # never read: not held back
    with UnitOfWork(db) as uow:
        deposits.record_balance(uow.session, iak.id, 50_000, source="poll")
        deposits.record_balance(uow.session, iak.id, 10_000, source="purchase")
        uow.commit()
    with Session(db) as s:
        assert deposits.deposit_can_cover(s, iak.id, 10_000) is True
        assert deposits.deposit_can_cover(s, iak.id, 10_200) is False
        assert deposits.deposit_can_cover(s, lapak.id, 10**9) is True


def test_balances_reported_by_purchase_answers_are_recorded_once_each(db):
    rows = factories.catalog(db)
    iak, lapak = rows["iak"], rows["lapak"]
    # IAK's documented top-up answer (api.iak.id/docs/reference, Top Up: data.balance) and an OtomaX-style
    # line as Pulsa IF sends it ("... Saldo 1.234.567 ..."); Lapak's answer reports no balance
    factories.add(
        db,
        SupplierExchange(
            supplier_id=iak.id, operation="purchase", method="POST", url="/api/top-up",
            response_json={"data": {"ref_id": "R1", "status": 1, "balance": 7_654_321, "rc": "00"}},
        ),
        SupplierExchange(
            supplier_id=lapak.id, operation="purchase", method="POST", url="/x",
            response_json="R#R2 S10.0812 SUKSES. SN: 1. Harga 10.150. Saldo 1.234.567 @12:00",
        ),
        SupplierExchange(
            supplier_id=lapak.id, operation="purchase", method="POST", url="/api/order",
            response_json={"code": "SUCCESS", "data": {"tid": "T1"}},
        ),
    )  # fmt: skip
    with UnitOfWork(db) as uow:
        assert deposits.harvest_answers(uow.session) == 2
        uow.commit()
    with UnitOfWork(db) as uow:
        assert deposits.harvest_answers(uow.session) == 0  # each answer once
        uow.commit()
    assert _readings(db, iak.id) == [(7_654_321, "purchase")]
    assert _readings(db, lapak.id) == [(1_234_567, "purchase")]


@pytest.mark.parametrize(
    ("answer", "balance"),
    [
        ({"data": {"balance": 7_654_321}}, 7_654_321),
        ({"balance": 12}, 12),
        ({"data": {"balance": "12"}}, None),  # not a number of rupiah: not guessed
        ({"data": {"balance": True}}, None),
        ("R#R2 S10.0812 SUKSES. Saldo 1.234.567 @12:00", 1_234_567),
        ("R#R3 GAGAL. Saldo Rp 1.234.567,00.", 1_234_567),
        ("R#R4 akan diproses. Saldo 10.150.", 10_150),
        ("R#R5 akan diproses.", None),
        (None, None),
    ],
)
def test_balance_in_answer(answer, balance):
    assert deposits.balance_in_answer(answer) == balance


def test_a_supplier_whose_balance_cannot_be_read_does_not_stop_the_others(db, sims):
    factories.catalog(db)
    adapters = {
        "lapakgaming": IakAdapter(username="u", api_key="k", prepaid_url="http://127.0.0.1:9"),  # refused
        "iak": _iak(sims["iak"]),
    }
    summary = deposits.poll_balances(_uow(db), adapters, POLICY, PUBLIC)
    assert summary["balances"]["iak"] == 50_000_000
    assert str(summary["balances"]["lapakgaming"]).startswith("failed:")
