"""The settlement rule has two spellings, one in Python (`states.payment_status_from_items`, for readers and
tests) and one in SQL (`settlement.settle_ctes`, run by the statement that finishes the last item). They must
agree on every combination of item states; this runs the SQL on real PostgreSQL for each."""

from __future__ import annotations

import itertools

from sqlalchemy import text

from esa_domain.core.states import ItemStatus, PaymentStatus, payment_status_from_items
from esa_domain.core.transitions import transition_payment
from esa_domain.infra.db import UnitOfWork
from esa_domain.ordering.orders import OrderLine, OrderRequest, place_order
from esa_domain.payments.settlement import settle_payment
from tests import factories

It = ItemStatus
_STATES = (It.SUCCESS, It.FAILED, It.PROCESSING)


def test_sql_settlement_agrees_with_the_python_rule_on_every_combination(db):
    factories.catalog(db)
    customer = factories.customer(db, "U-settle-rule")
    seen = set()
    for n in (1, 2, 3):
        for combo in itertools.product(_STATES, repeat=n):
            key = "settle-" + "-".join(combo)
            lines = tuple(OrderLine("TSEL10", f"08123456789{i}") for i in range(n))
            with UnitOfWork(db) as uow:
                placed = place_order(uow, OrderRequest(customer.id, key, lines))
            with UnitOfWork(db) as uow:
                transition_payment(uow.session, placed.payment_id, PaymentStatus.PAID, cause="t", actor="t")
                for item_id, status in zip(placed.item_ids, combo, strict=True):
                    # test setup: the items' states as the engine would have left them
                    uow.session.execute(
                        text("UPDATE payment_items SET status = :s WHERE id = :i"),
                        {"s": status, "i": item_id},
                    )
                result = settle_payment(uow.session, placed.payment_id)
                uow.commit()
            expected = payment_status_from_items(list(combo))
            with db.connect() as conn:
                status = conn.execute(
                    text("SELECT status FROM payments WHERE id = :p"), {"p": placed.payment_id}
                ).scalar_one()
                history = conn.execute(
                    text(
                        "SELECT count(*) FROM payment_history WHERE payment_id = :p AND from_status = 'PAID'"
                    ),
                    {"p": placed.payment_id},
                ).scalar_one()
            if expected is None:
                assert result is None and status == PaymentStatus.PAID, combo
                assert history == 0
            else:
                assert status == expected, combo
                assert result is not None and result.applied, combo
                assert history == 1  # the settlement's history row, in the same statement
            seen.add(status)
    assert seen == {PaymentStatus.PAID, PaymentStatus.SUCCESS, PaymentStatus.PARTIAL, PaymentStatus.FAILED}


def test_attempt_reference_is_one_format_in_python_and_in_sql(db):
    from esa_domain.fulfillment.engine import reference_for, reference_sql

    with db.connect() as conn:
        got = conn.execute(
            text(f"SELECT {reference_sql('CAST(:i AS bigint)', 'CAST(:s AS bigint)')}"), {"i": 12345, "s": 7}
        ).scalar_one()
    assert got == reference_for(12345, 7) == "ESA12345S7"
