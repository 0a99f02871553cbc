"""FX and margins: current and past IDR/TWD rates with a chart; margin per product; admins enter a rate."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import stat, table
from esa_admin.deps import unit_of_work
from esa_domain.core.errors import DomainError
from esa_domain.infra.db import default_engine
from esa_domain.operations import actions as operator_actions
from esa_domain.views import catalog


class FxState(AuthState):
    current: dict[str, str] = {}
    rates: list[dict[str, str]] = []
    chart: list[dict[str, str | float]] = []
    margins: list[dict[str, str]] = []
    form_error: str = ""

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        with Session(default_engine()) as s:
            history = catalog.rate_history(s, limit=60)
            products = catalog.product_costs(s)
        self.rates = [
            {
                "rate": f"{r.rate.normalize()}",
                "per_twd": f"{(1 / r.rate):,.0f}",
                "source": r.source,
                "at": fmt.when(r.fetched_at),
                "by": r.set_by or "",
            }
            for r in history
        ]
        self.current = (
            self.rates[0] if self.rates else {"rate": "none", "per_twd": "—", "source": "", "at": ""}
        )
        # display-only floats for the chart
        self.chart = [
            {"at": fmt.when(r.fetched_at)[5:16], "idr_per_twd": float(1 / r.rate)} for r in reversed(history)
        ]
        self.margins = [
            {
                "product": f"{p.name} ({p.code})",
                "price": fmt.twd(p.price_twd),
                "cost": fmt.twd(p.best_cost_twd),
                "margin": fmt.twd(p.margin_twd),
                "pct": fmt.pct(p.margin_pct),
                "below": "yes" if p.below_cost else "",
                "active": "on sale" if p.active else "off",
            }
            for p in products
        ]
        return None

    @rx.event
    def set_rate(self, form: dict):
        operator = self.authorize("admin")
        if operator is None:
            return self.denied()
        try:
            with unit_of_work() as uow:
                row = operator_actions.set_fx_rate(
                    uow, operator, str(form.get("rate", "")), str(form.get("reason", ""))
                )
        except (DomainError, PermissionError) as exc:
            self.form_error = str(exc)
            return None
        self.form_error = ""
        self.say(f"IDR/TWD rate set to {row.rate.normalize()} (manual).", "ok")
        return FxState.load


def _rate_row(r) -> rx.Component:
    return rx.table.row(*[rx.table.cell(r[k]) for k in ("rate", "per_twd", "source", "at", "by")])


def _margin_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(r["product"]),
        rx.table.cell(r["active"]),
        rx.table.cell(r["price"]),
        rx.table.cell(r["cost"]),
        rx.table.cell(r["margin"]),
        rx.table.cell(
            rx.cond(r["below"] != "", rx.badge("below cost " + r["pct"], color_scheme="red"), r["pct"])
        ),
        background=rx.cond(r["below"] != "", rx.color("red", 3), "transparent"),
    )


@template(routes.FX, "FX & margins", on_load=[FxState.load])
def fx_page() -> rx.Component:
    return rx.vstack(
        rx.flex(
            stat(
                "IDR/TWD (TWD per 1 IDR)", FxState.current["rate"], FxState.current["source"], id="fx-current"
            ),
            stat("IDR per 1 TWD", FxState.current["per_twd"], FxState.current["at"]),
            spacing="3",
            wrap="wrap",
        ),
        rx.cond(
            AuthState.is_admin,
            rx.card(
                rx.form(
                    rx.flex(
                        rx.input(
                            name="rate",
                            placeholder="TWD per 1 IDR, e.g. 0.00198",
                            id="fx-rate",
                            width="220px",
                        ),
                        rx.input(
                            name="reason",
                            placeholder="Reason (audited)",
                            id="fx-reason",
                            width="280px",
                            max_width="100%",
                        ),
                        rx.button("Set rate", type="submit", id="fx-submit"),
                        align="center",
                        gap="8px",
                        wrap="wrap",
                    ),
                    on_submit=FxState.set_rate,
                    reset_on_submit=True,
                ),
                rx.cond(FxState.form_error != "", rx.callout(FxState.form_error, color_scheme="red")),
            ),
        ),
        rx.card(
            rx.text("IDR per TWD over time", weight="bold"),
            rx.recharts.line_chart(
                rx.recharts.line(data_key="idr_per_twd", stroke=rx.color("accent", 9), name="IDR per TWD"),
                rx.recharts.x_axis(data_key="at"),
                rx.recharts.y_axis(domain=["auto", "auto"]),
                rx.recharts.graphing_tooltip(),
                data=FxState.chart,
                height=220,
            ),
            width="100%",
        ),
        rx.text("Margin per product at the current rate (cheapest usable offer)", weight="bold"),
        table(
            ["Product", "", "Price", "Best cost", "Margin", "Margin %"],
            FxState.margins,
            _margin_row,
            id="margins-table",
        ),
        rx.text("Rate history", weight="bold"),
        table(
            ["TWD per IDR", "IDR per TWD", "Source", "Fetched (Taipei)", "Set by"], FxState.rates, _rate_row
        ),
        width="100%",
        spacing="4",
    )
