"""Stuck payments: what reconciliation alerts on (esa_domain.operations.stuck), oldest first, linked; live."""

from __future__ import annotations

from datetime import UTC, datetime

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import table, ticker
from esa_admin.deps import runtime
from esa_domain.views import stuck
from esa_domain.views.orders import item_numbers


class StuckState(AuthState):
    rows: list[dict[str, str]] = []
    updated: str = ""

    @rx.event
    def load(self, _: str = ""):
        if self.authorize("viewer") is None:
            return self.denied()
        now = datetime.now(UTC)
        rt = runtime()
        with Session(rt.engine) as s:
            found = stuck.stuck_payments(s, now=now, policy=rt.reconcile_policy)
            numbers = item_numbers(s, [r.item_id for r in found if r.item_id is not None])
        self.rows = [
            {
                "payment_id": str(r.payment_id),
                "number": fmt.order_number(r.payment_id),
                "trade_no": r.merchant_trade_no,
                "item": "" if r.item_id is None else numbers.get(r.item_id, ""),
                "condition": r.condition,
                "condition_words": fmt.label(r.condition),
                "reason": r.reason,
                "since": fmt.when(r.since),
                "age": fmt.age(r.age_minutes),
                "healed_by": r.healed_by,
                "link": r.link,
            }
            for r in found
        ]
        self.updated = fmt.when(now)
        return None


def _row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(r["number"], href=r["link"], weight="bold")),
        rx.table.cell(r["item"]),
        rx.table.cell(
            rx.badge(r["condition_words"], color_scheme="orange", variant="soft"),
            # the code, as alerts and the logs name it
            rx.text(r["condition"], size="1", color_scheme="gray"),
        ),
        rx.table.cell(r["reason"]),
        rx.table.cell(r["since"]),
        rx.table.cell(rx.text(r["age"], weight="bold")),
        rx.table.cell(rx.text(r["healed_by"], size="1", color_scheme="gray")),
    )


@template(routes.STUCK, "Stuck payments", on_load=[StuckState.load])
def stuck_page() -> rx.Component:
    return rx.vstack(
        ticker(StuckState.load, 10000),
        rx.text("Refreshes every 10 s. Updated ", StuckState.updated, size="1", color_scheme="gray"),
        rx.cond(
            StuckState.rows.length() > 0,
            table(
                ["Order", "Item", "Condition", "Why", "Since", "Age", "Healed by"],
                StuckState.rows,
                _row,
                id="stuck-table",
            ),
            rx.callout("Nothing is stuck.", icon="circle-check", color_scheme="green"),
        ),
        width="100%",
    )
