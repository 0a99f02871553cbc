"""Suppliers: enabled, circuit state, balance (and how long it lasts), last sync; each deposit's balance over
the last 7 days; per-product cost comparison (cheapest marked)."""

from __future__ import annotations

from datetime import UTC, datetime

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import table
from esa_domain.infra.db import default_engine
from esa_domain.infra.settings import get_settings
from esa_domain.operations import deposits
from esa_domain.views import catalog


class SuppliersState(AuthState):
    suppliers: list[dict[str, str]] = []
    costs: list[dict[str, str]] = []
    chart: list[dict[str, str | float]] = []
    supplier_codes: list[str] = []
    balances: list[dict[str, str | float]] = []  # one point per reading: {"at": ..., "<code>": IDR}

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        now = datetime.now(UTC)
        with Session(default_engine()) as s:
            sups = catalog.suppliers(s, now=now)
            products = catalog.product_costs(s)
            policy = deposits.policy_from(get_settings())
            lasts = {x.id: deposits.runs_out(s, x.id, policy) for x in sups}
            history = deposits.balance_history(s)
        self.suppliers = [
            {
                "code": x.code,
                "name": x.name,
                "enabled": "yes" if x.enabled else "no",
                "circuit": x.circuit,
                "failures": str(x.consecutive_failures),
                "open_until": fmt.when(x.circuit_open_until),
                "balance": fmt.idr(x.balance_idr),
                "balance_at": fmt.when(x.balance_checked_at),
                "lasts": lasts.get(x.id, ""),
                "synced": fmt.when(x.last_sync_at),
                "offers": f"{x.available_offers}/{x.offers}",
            }
            for x in sups
        ]
        self.supplier_codes = [x.code for x in sups]
        # display-only floats for the chart (balances stay whole rupiah in the domain)
        self.balances = [
            {"at": fmt.when(p.observed_at)[5:16], p.supplier_code: float(p.balance_idr)} for p in history
        ]
        self.costs = []
        self.chart = []
        for p in products:
            for o in p.offers:
                self.costs.append(
                    {
                        "product": f"{p.name} ({p.code})",
                        "supplier": o.supplier_code,
                        "idr": fmt.idr(o.cost_idr),
                        "twd": fmt.twd(o.cost_twd),
                        "price": fmt.twd(p.price_twd),
                        "state": "cheapest" if o.cheapest else ("usable" if o.usable else "unavailable"),
                    }
                )
            # chart values are display-only floats (money stays Decimal in the domain)
            point: dict[str, str | float] = {"product": p.code}
            for o in p.offers:
                if o.cost_twd is not None:
                    point[o.supplier_code] = float(o.cost_twd)
            self.chart.append(point)
        return None


def _sup_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(r["name"], weight="bold"), rx.text(r["code"], size="1", color_scheme="gray")),
        rx.table.cell(rx.badge(r["enabled"], color_scheme=rx.cond(r["enabled"] == "yes", "green", "gray"))),
        rx.table.cell(
            rx.badge(
                r["circuit"],
                color_scheme=rx.match(r["circuit"], ("open", "red"), ("half-open", "amber"), "green"),
            )
        ),
        rx.table.cell(r["failures"]),
        rx.table.cell(r["open_until"]),
        rx.table.cell(
            r["balance"],
            rx.text(r["balance_at"], size="1", color_scheme="gray"),
            rx.cond(r["lasts"] != "", rx.text("runs out: " + r["lasts"], size="1")),
        ),
        rx.table.cell(r["synced"]),
        rx.table.cell(r["offers"]),
    )


def _cost_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(r["product"]),
        rx.table.cell(r["supplier"]),
        rx.table.cell(r["idr"]),
        rx.table.cell(rx.text(r["twd"], weight=rx.cond(r["state"] == "cheapest", "bold", "regular"))),
        rx.table.cell(r["price"]),
        rx.table.cell(
            rx.badge(
                r["state"],
                color_scheme=rx.match(r["state"], ("cheapest", "green"), ("usable", "gray"), "red"),
            )
        ),
        background=rx.cond(r["state"] == "cheapest", rx.color("green", 2), "transparent"),
    )


_PALETTE = ["teal", "orange", "violet", "blue", "crimson"]


@template(routes.SUPPLIERS, "Suppliers", on_load=[SuppliersState.load])
def suppliers_page() -> rx.Component:
    return rx.vstack(
        table(
            [
                "Supplier",
                "Enabled",
                "Circuit",
                "Failures in a row",
                "Open until",
                "Balance",
                "Last sync",
                "Offers",
            ],
            SuppliersState.suppliers,
            _sup_row,
            id="suppliers-table",
        ),
        rx.card(
            rx.text("Deposit balance per supplier, last 7 days (IDR)", weight="bold"),
            rx.cond(
                SuppliersState.balances.length() > 0,
                rx.recharts.line_chart(
                    rx.foreach(
                        SuppliersState.supplier_codes,
                        lambda code, i: rx.recharts.line(
                            data_key=code,
                            name=code,
                            connect_nulls=True,
                            stroke=rx.match(
                                i % 5, *[(n, rx.color(c, 9)) for n, c in enumerate(_PALETTE)], "gray"
                            ),
                        ),
                    ),
                    rx.recharts.x_axis(data_key="at"),
                    rx.recharts.y_axis(width=100),  # rupiah run to ten digits
                    rx.recharts.legend(),
                    rx.recharts.graphing_tooltip(),
                    data=SuppliersState.balances,
                    height=240,
                ),
                rx.text(
                    "No balance read yet: the deposit poll runs every ESA_DEPOSIT_POLL_MINUTES.",
                    size="2",
                    color_scheme="gray",
                ),
            ),
            width="100%",
            id="balance-chart",
        ),
        rx.card(
            rx.text("Effective cost per product (TWD, with fees)", weight="bold"),
            rx.recharts.bar_chart(
                rx.foreach(
                    SuppliersState.supplier_codes,
                    lambda code, i: rx.recharts.bar(
                        data_key=code,
                        name=code,
                        fill=rx.match(i % 5, *[(n, rx.color(c, 9)) for n, c in enumerate(_PALETTE)], "gray"),
                    ),
                ),
                rx.recharts.x_axis(data_key="product"),
                rx.recharts.y_axis(),
                rx.recharts.legend(),
                rx.recharts.graphing_tooltip(),
                data=SuppliersState.chart,
                height=260,
            ),
            width="100%",
        ),
        rx.text("Cost comparison (cheapest usable offer marked)", weight="bold"),
        table(
            ["Product", "Supplier", "Cost IDR", "Cost TWD", "Our price", ""], SuppliersState.costs, _cost_row
        ),
        width="100%",
        spacing="4",
    )
