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


# --- layouts the pages share (one look for every table section, form and row action) ------------------------


def section(title, *children, **stack_props) -> rx.Component:
    """A card the page's width: its title, then its content stacked (a table, a form, a note)."""
    return rx.card(
        rx.vstack(rx.heading(title, size="3"), *children, width="100%", **stack_props), width="100%"
    )


def note(*text) -> rx.Component:
    """The small grey sentence under a heading or a form that says what it does."""
    return rx.text(*text, size="1", color_scheme="gray")


def form_row(*fields, align: str | None = "center") -> rx.Component:
    """A form's fields on one line that wraps on a narrow screen."""
    props = {"gap": "8px", "wrap": "wrap"}
    if align:
        props["align"] = align
    return rx.flex(*fields, **props)


def form_card(title: str, *rows, on_submit, id: str) -> rx.Component:
    """A titled form in a card: its rows (form_row, notes, an error) stacked; the fields keep what was typed
    when it is refused (the page resets it by its id once it succeeded)."""
    return rx.card(
        rx.form(
            rx.vstack(rx.heading(title, size="3"), *rows, spacing="2"),
            on_submit=on_submit,
            reset_on_submit=False,
            id=id,
        ),
        width="100%",
    )


def save_or_add(editing, noun: str, on_new, submit_id: str, *beside) -> rx.Component:
    """The submit of a form that both adds and edits: 'Add <noun>', or while a row is being edited 'Save <noun>'
    (with the fields `beside` it) and a way back to adding a new one."""
    return rx.cond(
        editing,
        rx.hstack(
            *beside,
            rx.button(f"Save {noun}", type="submit", id=submit_id),
            rx.button(f"New {noun} instead", type="button", variant="ghost", on_click=on_new),
            align="center",
        ),
        rx.button(f"Add {noun}", type="submit", id=submit_id),
    )


def row_button(label, on_click=None, **props) -> rx.Component:
    """An action in a table row: small and soft, so the row's data stays what the eye reads first."""
    if on_click is not None:
        props["on_click"] = on_click
    return rx.button(label, size="1", variant="soft", **props)


def flag(on, yes: str, no: str, no_colour: str = "gray") -> rx.Component:
    """A yes/no column as a badge: `yes` in green when `on`, else `no`."""
    return rx.cond(on, rx.badge(yes, color_scheme="green"), rx.badge(no, color_scheme=no_colour))


def pager(on_newer, on_older, no_newer, no_older) -> rx.Component:
    """'← Newer' and 'Older →' under a list read a page at a time (each disabled at its end)."""
    return rx.hstack(
        rx.button("← Newer", on_click=on_newer, disabled=no_newer, variant="soft"),
        rx.button("Older →", on_click=on_older, disabled=no_older, variant="soft"),
    )


def field(
    name: str, placeholder: str | None, value=None, width: str | None = None, id: str | None = None, **props
) -> rx.Component:
    """A form's text field by its name: `value` is what it starts with (the row being edited)."""
    given = {"placeholder": placeholder, "default_value": value, "width": width, "id": id}
    return rx.input(name=name, **{k: v for k, v in given.items() if v is not None}, **props)


def row_form(*fields, on_submit, reset: bool = False, spacing: str | None = "1") -> rx.Component:
    """A small form inside a table row (its hidden ids, a field or two, its button) on one line."""
    line = {"align": "center"} | ({"spacing": spacing} if spacing else {})
    return rx.form(rx.hstack(*fields, **line), on_submit=on_submit, reset_on_submit=reset)
