"""One customer: who they are (LINE name and id), what they bought and paid, and all their orders, newest first."""

from __future__ import annotations

from datetime import datetime

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import empty_state, pager, stat, table
from esa_admin.pages.orders import ORDER_HEADERS, order_cells, order_row
from esa_domain.infra.db import default_engine
from esa_domain.views.orders import OrderFilter, customer_view, search_orders

PAGE_SIZE = 50


class CustomerState(AuthState):
    found: bool = False
    name: str = ""
    line_user_id: str = ""
    since: str = ""
    orders_count: str = ""
    paid: str = ""
    refunded: str = ""
    last_order: str = ""
    rows: list[dict[str, str]] = []
    next_cursor: str = ""
    cursors: list[str] = []

    def _customer_id(self) -> int | None:
        raw = str(self.router.page.params.get("id", ""))
        return int(raw) if raw.isdigit() and len(raw) < 10 else None

    def _fetch(self, cursor: str) -> None:
        cid = self._customer_id()
        after = None
        if cursor:
            at, pid = cursor.split("|")
            after = (datetime.fromisoformat(at), int(pid))
        with Session(default_engine()) as s:
            view = customer_view(s, cid) if cid is not None else None
            page = (
                search_orders(s, OrderFilter(customer_id=cid), after=after, limit=PAGE_SIZE) if view else None
            )
        self.found = view is not None
        if view is None or page is None:
            self.rows, self.next_cursor = [], ""
            return
        self.name = view.display_name or "(no LINE name)"
        self.line_user_id = view.line_user_id
        self.since = fmt.when(view.created_at)
        self.orders_count = str(view.orders)
        self.paid = fmt.twd(view.paid_twd)
        self.refunded = fmt.twd(view.refunded_twd)
        self.last_order = fmt.when(view.last_order_at)
        self.rows = [order_row(r) for r in page.rows]
        self.next_cursor = (
            f"{page.next_cursor[0].isoformat()}|{page.next_cursor[1]}" if page.next_cursor else ""
        )

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        self.cursors = [""]
        self._fetch("")
        return None

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
    return rx.table.row(*order_cells(r))


@template(routes.CUSTOMER, "Customer", on_load=[CustomerState.load])
def customer_page() -> rx.Component:
    return rx.cond(
        CustomerState.found,
        rx.vstack(
            rx.heading(CustomerState.name, size="5", id="customer-name"),
            rx.text("LINE user id ", rx.code(CustomerState.line_user_id), size="2", id="customer-line"),
            rx.flex(
                stat("Orders", CustomerState.orders_count, id="customer-orders"),
                stat("Paid (less refunds)", CustomerState.paid, id="customer-paid"),
                stat("Refunded", CustomerState.refunded),
                stat("First seen", CustomerState.since),
                stat("Last order", CustomerState.last_order),
                gap="12px",
                wrap="wrap",
            ),
            empty_state(CustomerState.rows.length() == 0, "This customer has no orders."),
            rx.cond(
                CustomerState.rows.length() > 0,
                table(ORDER_HEADERS, CustomerState.rows, _row, id="customer-orders-table"),
            ),
            pager(
                CustomerState.prev_page,
                CustomerState.next_page,
                CustomerState.cursors.length() <= 1,
                CustomerState.next_cursor == "",
            ),
            width="100%",
            spacing="3",
        ),
        rx.callout("There is no such customer.", color_scheme="red", id="customer-missing"),
    )
