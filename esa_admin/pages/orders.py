"""Orders: search by anything a person has in hand (any form of a number, part of it, a name, our order number,
ECPay's numbers, a supplier's reference), status and Taipei date range, all kept in the URL; keyset paging on the
server; CSV downloads of the range."""

from __future__ import annotations

import json
from datetime import datetime

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import empty_state, pager, status_badge, table
from esa_admin.exports import export_url
from esa_domain.core.errors import InvalidRequest
from esa_domain.core.states import PAYMENT, PaymentStatus
from esa_domain.infra.db import default_engine
from esa_domain.views.exports import export_range
from esa_domain.views.orders import OrderFilter, filter_day, search_orders

PAGE_SIZE = 25
ANY_STATUS = "ALL"


def order_row(r) -> dict[str, str]:
    """One order as the lists show it (the orders page and a customer's page)."""
    return {
        "id": str(r.id),
        "number": fmt.order_number(r.id),
        "trade_no": r.merchant_trade_no,
        "status": r.status,
        "amount": fmt.twd(r.amount_twd),
        "created": fmt.when(r.created_at),
        "line": r.line_user_id,
        "customer": r.customer_name or r.line_user_id,
        "customer_link": routes.customer_url(r.customer_id),
        "targets": r.targets,
        "link": routes.order_url(r.id),
    }


class OrdersState(AuthState):
    q: str = ""
    status: str = ANY_STATUS
    date_from: str = ""
    date_to: str = ""
    rows: list[dict[str, str]] = []
    # keyset cursors of the pages visited, as "iso-time|id"; the last one is the current page's start
    cursors: list[str] = []
    next_cursor: str = ""
    error: str = ""
    searched: bool = False  # a search has run (so an empty table means "nothing matched")

    def _filter(self) -> OrderFilter:
        return OrderFilter(
            q=self.q,
            status="" if self.status == ANY_STATUS else self.status,
            date_from=filter_day(self.date_from, "From"),
            date_to=filter_day(self.date_to, "To"),
        )

    def _fetch(self, cursor: str) -> None:
        after = None
        if cursor:
            at, pid = cursor.split("|")
            after = (datetime.fromisoformat(at), int(pid))
        self.error, self.searched = "", True
        try:
            with Session(default_engine()) as s:
                page = search_orders(s, self._filter(), after=after, limit=PAGE_SIZE)
        except InvalidRequest as exc:  # a date typed out of range or not a date: say so, show nothing
            self.error, self.rows, self.next_cursor = exc.message, [], ""
            return
        self.rows = [order_row(r) for r in page.rows]
        self.next_cursor = (
            f"{page.next_cursor[0].isoformat()}|{page.next_cursor[1]}" if page.next_cursor else ""
        )

    def _url(self) -> str:
        return routes.orders_url(
            q=self.q,
            status="" if self.status == ANY_STATUS else self.status,
            date_from=self.date_from,
            date_to=self.date_to,
        )

    def _show_in_address_bar(self):
        # the filters live in the URL: a reload, a bookmark or a link sent to a colleague shows the same list
        return rx.call_script(f"window.history.replaceState(null, '', {json.dumps(self._url())})")

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        # the URL alone says what is shown: a filter missing from it is cleared, never kept from before
        params = self.router.page.params
        self.q = str(params.get("q", "")).strip()
        status = str(params.get("status", "")).strip().upper()
        self.status = status if status in set(PaymentStatus) else ANY_STATUS
        self.date_from, self.date_to = str(params.get("date_from", "")), str(params.get("date_to", ""))
        self.cursors = [""]
        self._fetch("")
        return None

    @rx.event
    def search(self, form: dict):
        """The form's fields, all of them, as they are on screen now (text, status, dates)."""
        if self.authorize("viewer") is None:
            return self.denied()
        self.q = str(form.get("q", "")).strip()
        status = str(form.get("status", "") or ANY_STATUS)
        self.status = status if status in set(PaymentStatus) else ANY_STATUS
        self.date_from, self.date_to = str(form.get("date_from", "")), str(form.get("date_to", ""))
        self.cursors = [""]
        self._fetch("")
        return self._show_in_address_bar()

    @rx.event
    def clear(self):
        if self.authorize("viewer") is None:
            return self.denied()
        self.q, self.status, self.date_from, self.date_to = "", ANY_STATUS, "", ""
        self.cursors = [""]
        self._fetch("")
        return [
            self._show_in_address_bar(),
            rx.call_script("document.getElementById('orders-filter').reset()"),
        ]

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

    @rx.var
    def filters_text(self) -> str:
        """What the list is filtered by, in words (shown above it, and in the empty-search message)."""
        parts = []
        if self.q:
            parts.append(f"“{self.q}”")
        if self.status != ANY_STATUS:
            parts.append(f"status {PAYMENT.states[PaymentStatus(self.status)].operator.lower()}")
        if self.date_from or self.date_to:
            parts.append(f"created {self.date_from or '…'} to {self.date_to or '…'} (Taipei)")
        return ", ".join(parts)

    @rx.event
    def download(self, name: str):
        """The CSV of the dates searched (today if none): the browser fetches it with its session cookie, and the
        endpoint checks the session and role again (esa_admin/exports.py)."""
        if self.authorize("viewer") is None:
            return self.denied()
        try:  # a range the endpoint would refuse is said here, not saved as a file
            start, end = export_range(filter_day(self.date_from, "From"), filter_day(self.date_to, "To"))
        except InvalidRequest as exc:
            self.say(exc.message, "error")
            return None
        return rx.download(
            url=export_url(name, start.isoformat(), end.isoformat()),
            filename=f"{name}-{start.isoformat()}-to-{end.isoformat()}.csv",
        )


def order_cells(r) -> list[rx.Component]:
    return [
        rx.table.cell(rx.link(r["number"], href=r["link"], weight="bold")),
        rx.table.cell(status_badge(r["status"])),
        rx.table.cell(r["amount"]),
        rx.table.cell(r["targets"]),
        rx.table.cell(rx.link(r["customer"], href=r["customer_link"])),
        rx.table.cell(r["created"]),
        rx.table.cell(rx.text(r["trade_no"], size="1", color_scheme="gray")),
    ]


ORDER_HEADERS = ["Order", "Status", "Amount", "Targets", "Customer", "Created (Taipei)", "MerchantTradeNo"]


def _row(r) -> rx.Component:
    return rx.table.row(*order_cells(r))


def _status_choices() -> list[rx.Component]:
    return [rx.select.item("Any status", value=ANY_STATUS)] + [
        rx.select.item(st.operator, value=str(s)) for s, st in PAYMENT.states.items()
    ]


def _download(label: str, name: str, id: str) -> rx.Component:
    return rx.button(
        rx.icon("download", size=14),
        label,
        variant="outline",
        size="1",
        on_click=OrdersState.download(name),
        id=id,
    )


@template(routes.ORDERS, "Orders", on_load=[OrdersState.load])
def orders_page() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.flex(
                rx.input(
                    name="q",
                    placeholder="Number (+62 / 62 / 0, or part of it), name, LINE id, #order, "
                    "MerchantTradeNo, TradeNo, supplier ref",
                    default_value=OrdersState.q,
                    key=OrdersState.q,
                    width=rx.breakpoints(initial="100%", md="460px"),
                    id="order-search",
                ),
                rx.select.root(
                    rx.select.trigger(placeholder="Any status", id="status-filter"),
                    rx.select.content(*_status_choices()),
                    name="status",
                    default_value=OrdersState.status,
                    key=OrdersState.status,
                    # a status picked applies at once, with the text as it is in the box now
                    on_change=rx.call_script("document.getElementById('orders-filter').requestSubmit()"),
                ),
                rx.hstack(
                    rx.input(
                        name="date_from",
                        type="date",
                        default_value=OrdersState.date_from,
                        key=OrdersState.date_from,
                        id="date-from",
                        aria_label="From",
                    ),
                    rx.text("to", size="2"),
                    rx.input(
                        name="date_to",
                        type="date",
                        default_value=OrdersState.date_to,
                        key=OrdersState.date_to,
                        id="date-to",
                        aria_label="To",
                    ),
                    align="center",
                    spacing="2",
                ),
                rx.hstack(
                    rx.button("Search", type="submit", id="order-search-submit"),
                    rx.button(
                        "Clear", type="button", variant="ghost", on_click=OrdersState.clear, id="clear"
                    ),
                    spacing="2",
                ),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            on_submit=OrdersState.search,
            reset_on_submit=False,
            id="orders-filter",
        ),
        rx.cond(
            OrdersState.error != "", rx.callout(OrdersState.error, color_scheme="red", id="orders-error")
        ),
        rx.cond(
            OrdersState.filters_text != "",
            rx.text(
                "Filtered by ", OrdersState.filters_text, size="2", color_scheme="gray", id="filters-text"
            ),
        ),
        empty_state(
            OrdersState.searched & (OrdersState.error == "") & (OrdersState.rows.length() == 0),
            rx.cond(
                OrdersState.filters_text != "",
                "No order matches "
                + OrdersState.filters_text
                + ". Try part of the number, or clear a filter.",
                "No orders yet.",
            ),
        ),
        rx.cond(
            OrdersState.rows.length() > 0,
            table(ORDER_HEADERS, OrdersState.rows, _row, id="orders-table"),
        ),
        rx.flex(
            pager(
                OrdersState.prev_page,
                OrdersState.next_page,
                OrdersState.cursors.length() <= 1,
                OrdersState.next_cursor == "",
            ),
            rx.spacer(),
            rx.hstack(
                rx.text("CSV of the dates above (today if none):", size="1", color_scheme="gray"),
                _download("Orders", "orders", "export-orders"),
                _download("Refunds", "refunds", "export-refunds"),
                rx.cond(AuthState.is_admin, _download("Audit log", "audit", "export-audit")),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            width="100%",
            wrap="wrap",
            gap="8px",
        ),
        width="100%",
        spacing="3",
    )
