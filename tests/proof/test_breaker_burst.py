"""The breaker under a burst (issue 21): orders mixing every simulator behaviour, paid at once, fulfilled by a
real worker process with a breaker that trips (threshold 2, cool-down 1 s).

The issue saw 54 of 120 such orders end SUCCESS where about 80 should have: breakers opened by a few
destinations' out-of-stock and configuration answers made paid orders fail with "no supplier offers it" and
refunded them. Here every order must end as its behaviour implies, every plain order delivered exactly once
(the simulators' ledgers), no item failed without every supplier's own definite "no", and the breakers really
open and close (their alerts). To make sure a breaker opens whatever the interleaving, Pulsa IF (the cheapest
for TSEL10) starts with an empty deposit: it answers "Saldo tidak cukup" (a configuration failure) until the
test tops it up, and its probe's success then closes it.
"""

from __future__ import annotations

import threading
import time

import httpx
from sqlalchemy import text

from tests.proof.conftest import PROFILE
from tests.proof.harness import EXPECTED_ITEM, B, Order, assert_invariants, heal, notify, place
from tests.supplier_world import catalog
from tests.worker_process import wait_until

# every behaviour the simulators know, plain success twice as often
EXPECTED = {**EXPECTED_ITEM, B.CONFIG_FAILURE: "FAILED", B.PENDING_THEN_FAILURE: "FAILED"}
MIX = [B.SUCCESS, *EXPECTED]
TSEL10_SUPPLIERS = 4  # tests.supplier_world.OFFERS
BREAKER_ENV = {
    "ESA_BREAKER_THRESHOLD": "2",
    "ESA_BREAKER_COOLDOWN_SECONDS": "1",
    "ESA_CHECK_BACKOFF_SECONDS": "1,2",
}


def _alerts(db, condition: str) -> list[str]:
    with db.connect() as conn:
        return list(
            conn.execute(
                text("SELECT title FROM alerts WHERE condition = :c ORDER BY id"), {"c": condition}
            ).scalars()
        )


def test_a_burst_of_every_behaviour_ends_as_each_implies_and_no_order_is_refunded_for_an_open_breaker(
    db, world, rt, worker_env, tmp_path
):
    catalog(db)
    pulsaif = world.sims["pulsaif"]
    httpx.post(f"{pulsaif}/_sandbox/deposit", params={"balance": 0}).raise_for_status()
    orders: list[Order] = [
        place(db, [MIX[i % len(MIX)]]) for i in range(len(MIX) * (3 if PROFILE.name == "short" else 8))
    ]

    # Pulsa IF is topped up once its breaker has opened: its next probe succeeds and closes it
    def top_up() -> None:
        wait_until(lambda: "pulsaif: held back (breaker open)" in _alerts(db, "breaker_open"), timeout=60)
        httpx.post(f"{pulsaif}/_sandbox/deposit", params={"balance": 50_000_000}).raise_for_status()

    topper = threading.Thread(target=top_up)
    topper.start()
    paid = [threading.Thread(target=lambda o=o: notify(world.api_url, o)) for o in orders]
    for t in paid:  # ECPay tells us about every payment at once
        t.start()
    for t in paid:
        t.join()

    heal(db, rt, {**worker_env, **BREAKER_ENV}, tmp_path / "worker.log", orders, timeout=240)
    topper.join()

    assert_invariants(db, world, orders, paid=False)  # history chains, no double payment, no double delivery
    with db.connect() as conn:
        items = {
            r.id: r
            for r in conn.execute(
                text(
                    "SELECT i.id, i.status, i.failure_reason, p.status AS payment, "
                    "(SELECT count(DISTINCT a.supplier_id) FROM item_attempts a WHERE a.item_id = i.id) AS tried "
                    "FROM payment_items i JOIN payments p ON p.id = i.payment_id WHERE p.id = ANY(:ids)"
                ),
                {"ids": [o.payment_id for o in orders]},
            )
        }
    for o in orders:
        [(item_id, behaviour)] = zip(o.item_ids, o.behaviours, strict=True)
        item = items[item_id]
        assert item.status == EXPECTED[behaviour], (behaviour, item)
        if EXPECTED[behaviour] == "SUCCESS":
            assert item.payment == "SUCCESS", (behaviour, item)  # delivered, never refunded
        elif behaviour in (B.CONFIG_FAILURE, B.PRODUCT_FAILURE):
            # failed only on every supplier's own definite "no", never because one was held back
            assert item.tried == TSEL10_SUPPLIERS, (behaviour, item)
            assert item.failure_reason == f"no supplier could deliver ({TSEL10_SUPPLIERS} tried)", item
    assert not [i for i in items.values() if i.failure_reason == "no supplier offers it"]
    delivered = [t for t in world.delivered() if t["reference"].startswith("ESA")]
    plain = [i for o in orders for i, b in zip(o.item_ids, o.behaviours, strict=True) if b is B.SUCCESS]
    assert sum(1 for t in delivered if int(t["reference"][3:].split("S")[0]) in plain) == len(plain)

    # the breakers really tripped (Pulsa IF surely: it had no deposit)
    assert "pulsaif: held back (breaker open)" in _alerts(db, "breaker_open")

    # only a probe closes a breaker, and a probe needs an order: the next one, after the cool-down, takes
    # Pulsa IF's probe (its deposit is back) and its success closes it
    time.sleep(1.1)
    late = place(db, [B.SUCCESS])
    assert notify(world.api_url, late).text == "1|OK"
    heal(db, rt, {**worker_env, **BREAKER_ENV}, tmp_path / "worker.log", [late], timeout=60)
    with db.connect() as conn:
        bought_at = conn.execute(
            text(
                "SELECT s.code, a.state FROM item_attempts a JOIN suppliers s ON s.id = a.supplier_id "
                "WHERE a.item_id = :i"
            ),
            {"i": late.item_ids[0]},
        ).all()
    assert [tuple(r) for r in bought_at] == [("pulsaif", "SUCCESS")]
    assert "pulsaif: back in use (breaker closed)" in _alerts(db, "breaker_closed")
