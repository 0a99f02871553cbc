"""The daily close: its totals per business day (Taipei), and for the chosen day every difference found between
ECPay, ESA and the suppliers, each linked to its order; downloadable as CSV (/_export/close.csv); an admin can run a day's close now."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import empty_state, table
from esa_admin.deps import runtime, unit_of_work
from esa_admin.exports import export_url
from esa_domain.operations import daily_close, operators


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


class CloseState(AuthState):
    days: list[dict[str, str]] = []
    differences: list[dict[str, str]] = []
    day: str = ""  # the business day shown (YYYY-MM-DD)
    running: bool = False

    def _fetch(self) -> None:
        with Session(runtime().engine) as s:
            closes = daily_close.closes(s)
            if not self.day and closes:
                self.day = closes[0].day.isoformat()
            chosen = _day(self.day)
            found = daily_close.differences_of(s, chosen) if chosen else []
        self.days = [
            {
                "day": c.day.isoformat(),
                "orders": str(c.totals.get("orders", 0)),
                "esa_paid": f"{c.totals.get('esa_paid_count', 0)} · {fmt.twd(c.totals.get('esa_paid_twd', 0))}",
                "ecpay_paid": f"{c.totals.get('ecpay_paid_count', 0)} · {fmt.twd(c.totals.get('ecpay_paid_twd', 0))}",
                "refunds": f"{fmt.twd(c.totals.get('esa_refunded_twd', 0))} / "
                f"{fmt.twd(c.totals.get('ecpay_refunded_twd', 0))}",
                "deliveries": fmt.idr(
                    sum((v.get("delivered_idr") or 0) for v in c.totals.get("deposits", {}).values())
                ),
                "differences": str(c.differences),
                "computed": fmt.when(c.computed_at),
            }
            for c in closes
        ]
        self.differences = [
            {
                "id": str(d.id),
                "kind": d.kind,
                "what": d.label,
                "order": str(d.payment_id or ""),
                "link": routes.order_url(d.payment_id) if d.payment_id else "",
                "trade": d.merchant_trade_no or "",
                "supplier": d.supplier or "",
                "amount": "" if d.amount is None else f"{d.amount:,}",
                "detail": d.detail,
                "found": fmt.when(d.found_at),
            }
            for d in found
        ]

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        self.day = str(self.router.page.params.get("day", "") or self.day)
        self._fetch()
        return None

    @rx.event
    def show(self, day: str):
        if self.authorize("viewer") is None:
            return self.denied()
        if _day(day) is None:
            self.say(f"'{day}' is not a day (YYYY-MM-DD).", "error")
            return None
        self.day = day
        self._fetch()
        return None

    @rx.var
    def csv_url(self) -> str:
        """The CSV of the day shown, from the dashboard's audited export endpoint (/_export/close.csv)."""
        return export_url("close", self.day, self.day) if self.day else ""

    @rx.event(background=True)
    async def run(self, form: dict):
        """Close a day now (admins): the same match the hourly job makes once a day is over, in a worker thread."""
        async with self:
            operator = self.authorize("admin")
            if operator is None:
                return self.denied()
            chosen = _day(str(form.get("day", "")) or self.day)
            if chosen is None or chosen > daily_close.business_day(datetime.now(UTC)):
                self.say("Give a business day (YYYY-MM-DD) that has begun.", "error")
                return None
            if self.running:
                return None
            self.running = True
            self.say(f"Closing {chosen.isoformat()}: asking ECPay and every supplier…", "info")
        try:
            result = await asyncio.to_thread(_close_now, chosen, operator.id)
            message, kind = (
                f"{chosen.isoformat()} closed: {len(result.differences)} differences ({result.new} new).",
                "ok",
            )
        except Exception as exc:  # ECPay or the database away: say it, the page stays usable
            message, kind = f"The close of {chosen.isoformat()} failed: {exc}", "error"
        async with self:
            self.running = False
            self.day = chosen.isoformat()
            self._fetch()
            self.say(message, kind)
        return None


def _close_now(day: date, operator_id: int | None) -> daily_close.CloseResult:
    rt = runtime()
    with unit_of_work() as uow:
        operators.record_action(uow.session, operator_id, "run_close", subject=f"close:{day.isoformat()}")
        uow.commit()
    with rt.ecpay.client() as client:
        return daily_close.close_day(
            rt.uow,
            day,
            ecpay_client=client,
            adapters=rt.fulfillment.adapters,
            public_url=rt.settings.public_url,
            credit_check_code=getattr(rt.ecpay, "credit_check_code", ""),
        )


def _day_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.button(
                r["day"],
                on_click=CloseState.show(r["day"]),
                variant="ghost",
                size="1",
                class_name="close-day",
            )
        ),
        rx.table.cell(r["orders"]),
        rx.table.cell(r["esa_paid"]),
        rx.table.cell(r["ecpay_paid"]),
        rx.table.cell(r["refunds"]),
        rx.table.cell(r["deliveries"]),
        rx.table.cell(
            rx.badge(
                r["differences"],
                color_scheme=rx.cond(r["differences"] == "0", "green", "red"),
                variant="soft",
            )
        ),
        rx.table.cell(r["computed"]),
        background=rx.cond(r["day"] == CloseState.day, rx.color("accent", 3), "transparent"),
    )


def _difference_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(r["what"], color_scheme="red", variant="soft", title=r["kind"])),
        rx.table.cell(rx.cond(r["link"] != "", rx.link("order " + r["order"], href=r["link"]), "—")),
        rx.table.cell(r["trade"]),
        rx.table.cell(r["supplier"]),
        rx.table.cell(r["amount"]),
        rx.table.cell(rx.text(r["detail"], size="1")),
        custom_attrs={"data-kind": r["kind"]},
    )


@template(routes.CLOSE, "Daily close", on_load=[CloseState.load])
def close_page() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Each business day (Asia/Taipei) is matched three ways once it is over: ECPay's record of every trade, the "
            "payments and refunds here, and each supplier's record of every attempt and its deposit.",
            size="2",
            color_scheme="gray",
        ),
        table(
            [
                "Day",
                "Orders",
                "Paid here",
                "Paid at ECPay",
                "Refunded here / at ECPay",
                "Delivered (IDR)",
                "Differences",
                "Closed at (Taipei)",
            ],
            CloseState.days,
            _day_row,
            id="close-days",
        ),
        empty_state(CloseState.days.length() == 0, "No day has been closed yet."),
        rx.hstack(
            rx.heading("Differences of ", CloseState.day, size="4"),
            rx.cond(
                CloseState.csv_url != "",
                # an anchor styled as a button (a button inside a link would take the click itself); Reflex makes
                # it a React Router link, told to leave the click to the browser (which downloads the file)
                rx.button(
                    rx.el.a(
                        rx.icon("download", size=14),
                        "Download CSV",
                        href=CloseState.csv_url,
                        download="",
                        id="close-csv",
                        custom_attrs={"reloadDocument": True},  # React Router leaves the click to the browser
                    ),
                    as_child=True,
                    variant="soft",
                    size="1",
                ),
            ),
            align="center",
            spacing="3",
        ),
        table(
            ["What", "Order", "Trade", "Supplier", "Amount", "Detail"],
            CloseState.differences,
            _difference_row,
            id="close-differences",
        ),
        empty_state(
            (CloseState.differences.length() == 0) & (CloseState.day != ""),
            "No difference found on this day.",
        ),
        rx.cond(
            AuthState.is_admin,
            rx.card(
                rx.form(
                    rx.hstack(
                        rx.input(
                            name="day", placeholder="YYYY-MM-DD (default: the day shown)", id="close-run-day"
                        ),
                        rx.button(
                            "Close this day now", type="submit", loading=CloseState.running, id="close-run"
                        ),
                        align="center",
                    ),
                    on_submit=CloseState.run,
                ),
            ),
        ),
        width="100%",
        spacing="4",
    )
