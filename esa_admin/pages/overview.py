"""Overview: today and the last 7 days at a glance, daily charts, supplier health; refreshes by itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import stat, table, ticker
from esa_admin.deps import runtime
from esa_domain.views import overview


def _kpi_dict(k: overview.Kpis) -> dict[str, str]:
    return {
        "orders": str(k.orders),
        "paid": str(k.paid),
        "volume": fmt.twd(k.paid_volume_twd),
        "success": fmt.pct(k.success_rate_pct),
        "margin": fmt.twd(k.margin_twd),
        "margin_pct": fmt.pct(k.margin_pct),
    }


class OverviewState(AuthState):
    today: dict[str, str] = {}
    week: dict[str, str] = {}
    stuck_count: int = 0
    series: list[dict[str, str | int | float]] = []
    health_today: list[dict[str, str]] = []
    health_week: list[dict[str, str]] = []
    updated: str = ""

    @rx.event
    def load(self, _: str = ""):
        if self.authorize("viewer") is None:
            return self.denied()
        now = datetime.now(UTC)
        end = now + timedelta(seconds=1)
        rt = runtime()
        with Session(rt.engine) as s:
            self.today = _kpi_dict(overview.kpis(s, since=overview.period_start(now, 1), until=end))
            self.week = _kpi_dict(overview.kpis(s, since=overview.period_start(now, 7), until=end))
            self.stuck_count = overview.stuck_count(s, now=now, policy=rt.reconcile_policy)
            # recharts draws numbers; the TWD values are display-only here (money stays Decimal in the domain)
            self.series = [
                {
                    "day": p.day.strftime("%m-%d"),
                    "orders": p.orders,
                    "volume": p.paid_volume_twd,
                    "succeeded": p.succeeded,
                    "margin": float(p.margin_twd),
                }
                for p in overview.daily_series(s, now=now, days=14)
            ]
            self.health_today = _health(overview.supplier_health(s, since=overview.period_start(now, 1)))
            self.health_week = _health(overview.supplier_health(s, since=overview.period_start(now, 7)))
        self.updated = fmt.when(now)
        return None


def _health(rows: list[overview.SupplierHealth]) -> list[dict[str, str]]:
    return [
        {
            "code": h.code,
            "attempts": str(h.attempts),
            "ok": str(h.succeeded),
            "failed": str(h.failed),
            "pending": str(h.pending),
            "rate": fmt.pct(h.success_rate_pct),
            "latency": "—" if h.avg_latency_ms is None else f"{h.avg_latency_ms} ms",
        }
        for h in rows
    ]


def _kpis(title: str, k) -> rx.Component:
    return rx.vstack(
        rx.text(title, weight="bold"),
        rx.flex(
            stat("Orders", k["orders"]),
            stat("Paid", k["paid"]),
            stat("Paid volume", k["volume"]),
            stat("Success rate", k["success"]),
            stat("Margin", k["margin"], k["margin_pct"]),
            wrap="wrap",
            spacing="3",
        ),
    )


def _health_table(title: str, rows) -> rx.Component:
    return rx.vstack(
        rx.text(title, weight="bold"),
        table(
            ["Supplier", "Attempts", "OK", "Failed", "Live", "Success", "Avg latency"],
            rows,
            lambda r: rx.table.row(
                *[
                    rx.table.cell(r[k])
                    for k in ("code", "attempts", "ok", "failed", "pending", "rate", "latency")
                ]
            ),
        ),
        width="100%",
    )


@template(routes.OVERVIEW, "Overview", on_load=[OverviewState.load])
def overview_page() -> rx.Component:
    return rx.vstack(
        ticker(OverviewState.load),
        rx.hstack(
            rx.link(
                rx.callout(
                    rx.text("Stuck payments: ", rx.text.strong(OverviewState.stuck_count, id="stuck-count")),
                    icon="triangle-alert",
                    color_scheme=rx.cond(OverviewState.stuck_count > 0, "orange", "green"),
                ),
                href=routes.STUCK,
                underline="none",
            ),
            rx.spacer(),
            rx.text("Updated ", OverviewState.updated, size="1", color_scheme="gray"),
            width="100%",
            align="center",
        ),
        _kpis("Today (Taipei)", OverviewState.today),
        _kpis("Last 7 days", OverviewState.week),
        rx.grid(
            rx.card(
                rx.text("Orders and deliveries per day", weight="bold"),
                rx.recharts.bar_chart(
                    rx.recharts.bar(data_key="orders", fill=rx.color("accent", 8), name="orders"),
                    rx.recharts.bar(data_key="succeeded", fill=rx.color("green", 8), name="delivered"),
                    rx.recharts.x_axis(data_key="day"),
                    rx.recharts.y_axis(allow_decimals=False),
                    rx.recharts.legend(),
                    rx.recharts.graphing_tooltip(),
                    data=OverviewState.series,
                    height=260,
                ),
            ),
            rx.card(
                rx.text("Paid volume and margin per day (TWD)", weight="bold"),
                rx.recharts.line_chart(
                    rx.recharts.line(data_key="volume", stroke=rx.color("accent", 9), name="paid volume"),
                    rx.recharts.line(data_key="margin", stroke=rx.color("green", 9), name="margin"),
                    rx.recharts.x_axis(data_key="day"),
                    rx.recharts.y_axis(),
                    rx.recharts.legend(),
                    rx.recharts.graphing_tooltip(),
                    data=OverviewState.series,
                    height=260,
                ),
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        rx.grid(
            _health_table("Supplier health today", OverviewState.health_today),
            _health_table("Supplier health, last 7 days", OverviewState.health_week),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        spacing="5",
        width="100%",
    )
