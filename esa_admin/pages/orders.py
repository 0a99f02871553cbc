"""Orders: exact search (order id, MerchantTradeNo, LINE user id, target), status and Taipei date range;
keyset paging on the server."""

from __future__ import annotations

from datetime import datetime

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import status_badge, table
from esa_domain.core.errors import InvalidRequest
from esa_domain.core.states import PaymentStatus
from esa_domain.infra.db import default_engine
from esa_domain.views.orders import OrderFilter, filter_day, search_orders

PAGE_SIZE = 25


class OrdersState(AuthState):
    q: str = ""
    status: str = "ALL"
    date_from: str = ""
    date_to: str = ""
    rows: list[dict[str, str]] = []
    # keyset cursors of the pages visited, as "iso-time|id"; the last one is the current page's start
    cursors: list[str] = []
    next_cursor: str = ""
    error: str = ""

    def _filter(self) -> OrderFilter:
        return OrderFilter(
            q=self.q,
            status="" if self.status == "ALL" else self.status,
            date_from=filter_day(self.date_from, "From"),
            date_to=filter_day(self.date_to, "To"),
        )

    def _fetch(self, cursor: str) -> None:
        after = None
        if cursor:
            at, pid = cursor.split("|")
            after = (datetime.fromisoformat(at), int(pid))
        self.error = ""
        try:
            with Session(default_engine()) as s:
                page = search_orders(s, self._filter(), after=after, limit=PAGE_SIZE)
        except InvalidRequest as exc:  # a date typed out of range or not a date: say so, show nothing
            self.error, self.rows, self.next_cursor = exc.message, [], ""
            return
        self.rows = [
            {
                "id": str(r.id),
                "trade_no": r.merchant_trade_no,
                "status": r.status,
                "amount": fmt.twd(r.amount_twd),
                "created": fmt.when(r.created_at),
                "line": r.line_user_id,
                "targets": r.targets,
                "link": routes.order_url(r.id),
            }
            for r in page.rows
        ]
        self.next_cursor = (
            f"{page.next_cursor[0].isoformat()}|{page.next_cursor[1]}" if page.next_cursor else ""
        )

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        params = self.router.page.params
        self.q = params.get("q", self.q)
        self.status = params.get("status", self.status) or "ALL"
        self.cursors = [""]
        self._fetch("")
        return None

    @rx.event
    def search(self, form: dict):
        if self.authorize("viewer") is None:
            return self.denied()
        self.q = str(form.get("q", "")).strip()
        self.date_from, self.date_to = str(form.get("date_from", "")), str(form.get("date_to", ""))
        self.error = ""
        self.cursors = [""]
        self._fetch("")
        return None

    @rx.event
    def set_status(self, value: str):
        self.status = value
        return OrdersState.search({"q": self.q, "date_from": self.date_from, "date_to": self.date_to})

    @rx.event
    def next_page(self):
        if self.authorize("viewer") is None:
            return self.denied()
        if self.next_cursor:
            self.cursors = [*self.cursors, self.next_cursor]
            self._fetch(self.next_cursor)
        return None

    @rx.event
    def prev_page(self):
        if self.authorize("viewer") is None:
            return self.denied()
        if len(self.cursors) > 1:
            self.cursors = self.cursors[:-1]
            self._fetch(self.cursors[-1])
        return None


def _row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(r["id"], href=r["link"])),
        rx.table.cell(rx.link(r["trade_no"], href=r["link"])),
        rx.table.cell(status_badge(r["status"])),
        rx.table.cell(r["amount"]),
        rx.table.cell(r["targets"]),
        rx.table.cell(rx.text(r["line"], size="1")),
        rx.table.cell(r["created"]),
    )


@template(routes.ORDERS, "Orders", on_load=[OrdersState.load])
def orders_page() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.hstack(
                rx.input(
                    name="q",
                    placeholder="Order id, MerchantTradeNo, LINE user id or target number",
                    default_value=OrdersState.q,
                    width="420px",
                    id="order-search",
                ),
                rx.input(name="date_from", type="date", default_value=OrdersState.date_from),
                rx.input(name="date_to", type="date", default_value=OrdersState.date_to),
                rx.button("Search", type="submit", id="order-search-submit"),
                spacing="2",
                align="center",
            ),
            on_submit=OrdersState.search,
            reset_on_submit=False,
        ),
        rx.select(
            ["ALL", *[str(s) for s in PaymentStatus]],
            value=OrdersState.status,
            on_change=OrdersState.set_status,
        ),
        rx.cond(OrdersState.error != "", rx.callout(OrdersState.error, color_scheme="red")),
        table(
            ["#", "MerchantTradeNo", "Status", "Amount", "Targets", "Customer", "Created (Taipei)"],
            OrdersState.rows,
            _row,
            id="orders-table",
        ),
        rx.hstack(
            rx.button(
                "← Newer",
                on_click=OrdersState.prev_page,
                disabled=OrdersState.cursors.length() <= 1,
                variant="soft",
            ),
            rx.button(
                "Older →",
                on_click=OrdersState.next_page,
                disabled=OrdersState.next_cursor == "",
                variant="soft",
            ),
        ),
        width="100%",
        spacing="3",
    )
