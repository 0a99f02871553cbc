"""Small shared widgets: stat cards, status badges, tables, the auto-refresh ticker."""

from __future__ import annotations

import reflex as rx

from esa_domain.core.states import PAYMENT, Lifecycle


def status_badge(status, lifecycle: Lifecycle = PAYMENT) -> rx.Component:
    """A status in its lifecycle's colour, in the words an operator reads; the stored code shows on hover.

    `status` is a Var known only in the browser, so every row of the table becomes a case at compile time."""
    colours = [(str(s), st.colour) for s, st in lifecycle.states.items()]
    meanings = [(str(s), st.operator) for s, st in lifecycle.states.items()]
    return rx.badge(
        rx.match(status, *meanings, status),
        color_scheme=rx.match(status, *colours, "gray"),
        title=status,
        variant="soft",
        custom_attrs={"data-status": status},
    )


def stat(label: str, value, sub=None, id: str | None = None) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="1", color_scheme="gray"),
            rx.heading(value, size="6", id=id),
            rx.cond(sub is not None, rx.text(sub, size="1", color_scheme="gray"))
            if sub is not None
            else rx.fragment(),
            spacing="1",
        ),
        min_width="150px",
    )


def table(headers: list[str], rows, render_row, id: str | None = None) -> rx.Component:
    """A table that scrolls sideways inside its own box on a narrow screen (the page itself never does)."""
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
            rx.table.body(rx.foreach(rows, render_row)),
            variant="surface",
            size="1",
            width="100%",
            id=id,
        ),
        width="100%",
        overflow_x="auto",
    )


def empty_state(shown, message) -> rx.Component:
    """What a table shows instead of bare headers when nothing matched: `message` says what was looked for."""
    return rx.cond(
        shown,
        rx.callout(message, icon="search", color_scheme="gray", width="100%", class_name="empty-state"),
    )


def ticker(handler, every_ms: int = 15000) -> rx.Component:
    """Calls `handler` every `every_ms` while the page is open (live refresh without a reload)."""
    return rx.moment(interval=every_ms, on_change=handler, display="none")
