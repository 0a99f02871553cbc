"""Every supplier simulator's controls, read through our own adapters over HTTP: an outage (every call 5xx, or
held past the client's timeout) is never a definite answer, one SKU out of stock is the supplier's own
out-of-stock failure, and the deposit control is what the supplier's balance call answers (and, below a price,
its insufficient-balance failure)."""

from __future__ import annotations

import time

import httpx
import pytest

from esa_domain.adapters.suppliers.base import FailureClass, Outcome, PurchaseRequest
from tests.supplier_world import start_world

# supplier -> (sku, target, zone, price IDR at the simulator)
SOLD = {
    "iak": ("htelkomsel10000", "081234560000", None, 10_450),
    "billfazz": ("TSEL10", "081234560000", None, 10_550),
    "redision": ("TSEL10", "081234560000", None, 10_650),
    "pulsaif": ("S10", "081234560000", None, 10_150),
    "lapakgaming": ("ML78_8-S2", "12345678", "2001", 20_900),
}


@pytest.fixture(scope="module")
def world(engine):
    w = start_world(engine)
    yield w
    w.servers.stop()


def _request(code: str) -> PurchaseRequest:
    sku, target, zone, price = SOLD[code]
    return PurchaseRequest(f"ESA{time.time_ns()}S9", sku, target, zone=zone, expected_cost_idr=price)


@pytest.mark.parametrize("code", sorted(SOLD))
def test_supplier_controls(db, world, code):
    world.reset()
    sim = world.sims[code]
    adapter = world.context(db).adapters[code]

    # one SKU out of stock: the supplier's own definite out-of-stock answer, nothing debited
    before = adapter.balance().balance_idr
    httpx.post(f"{sim}/_sandbox/stock/{SOLD[code][0]}", params={"available": "false"})
    o = adapter.purchase(_request(code)).outcome
    assert (o.outcome, o.failure_class) == (Outcome.FAILED, FailureClass.PRODUCT), o
    assert adapter.balance().balance_idr == before
    httpx.post(f"{sim}/_sandbox/stock/{SOLD[code][0]}", params={"available": "true"})

    # the deposit: what the balance call answers; below the price, a definite configuration failure
    httpx.post(f"{sim}/_sandbox/deposit", params={"balance": 1_234})
    assert adapter.balance().balance_idr == 1_234
    o = adapter.purchase(_request(code)).outcome
    assert (o.outcome, o.failure_class) == (Outcome.FAILED, FailureClass.CONFIG), o
    httpx.post(f"{sim}/_sandbox/deposit", params={"balance": 50_000_000})

    # an outage: every call 5xx, or held past our read timeout; never definite, and nothing was bought
    for mode in ("5xx", "timeout"):
        httpx.post(f"{sim}/_sandbox/outage", params={"mode": mode})
        o = adapter.purchase(_request(code)).outcome
        assert o.outcome is Outcome.UNKNOWN, (mode, o)
    httpx.post(f"{sim}/_sandbox/outage", params={"mode": "off"})
    assert httpx.get(f"{sim}/_sandbox/controls").json() == {
        "outage": None,
        "out_of_stock": [],
        "balance": 50_000_000,
    }
    assert not [t for t in httpx.get(f"{sim}/_sandbox/ledger").json()["transactions"] if t["delivered"]]
