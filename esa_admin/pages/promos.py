"""Promos (admins create and stop codes; everyone sees them): kind and value, validity window (Taipei days), total
limit, minimum order and cap, uses per customer, the products it is for. Audited (esa_domain.ordering.promos)."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import form_card, form_row, note, row_button, table
from esa_admin.deps import unit_of_work
from esa_domain.core.errors import DomainError
from esa_domain.infra.db import default_engine
from esa_domain.models import Operator
from esa_domain.ordering import promos


class PromosState(AuthState):
    rows: list[dict[str, str]] = []

    def _reload(self) -> None:
        with Session(default_engine()) as s:
            rows = promos.promo_rows(s)
        self.rows = [
            {
                "id": str(p.id),
                "code": p.code,
                "discount": f"{p.value}%" if p.kind == "percent" else fmt.twd(p.value),
                "window": f"{fmt.when(p.starts_at) if p.starts_at else 'now'} → "
                f"{fmt.when(p.ends_at) if p.ends_at else 'no end'}",
                "uses": f"{p.used_count} of {p.max_uses}" if p.max_uses else f"{p.used_count} (no limit)",
                "given": fmt.twd(p.discount_given_twd),
                "terms": f"min {fmt.twd(p.min_order_twd)}"
                + (f", cap {fmt.twd(p.max_discount_twd)}" if p.max_discount_twd else "")
                + f", {p.per_customer_limit}× per customer"
                + (f", only {' '.join(p.products)}" if p.products else ""),
                "active": "yes" if p.active else "",
            }
            for p in rows
        ]

    def _act(self, change, done: str) -> bool:
        actor = self.authorize("admin")
        if actor is None:
            return False
        try:
            with unit_of_work() as uow:
                change(uow.session, uow.session.get(Operator, actor.id))
                uow.commit()
        except (DomainError, PermissionError) as exc:
            self.say(str(exc), "error")
            return False
        self.say(done, "ok")
        self._reload()
        return True

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        self._reload()
        return None

    @rx.event
    def create(self, form: dict):
        fields = {k: str(form.get(k, "")) for k in
                  ("code", "value", "starts_on", "ends_on", "max_uses", "min_order_twd", "max_discount_twd",
                   "per_customer", "products")}  # fmt: skip
        kind = str(form.get("kind", "") or "percent")
        ok = self._act(lambda s, me: promos.create_promo(s, me, kind=kind, **fields),
                       f"Promo {fields['code'].strip().upper()} created.")  # fmt: skip
        if not self.logged_in:
            return self.denied()
        return rx.call_script("document.getElementById('promo-form').reset()") if ok else None

    @rx.event
    def switch(self, promo_id: str, active: bool):
        self._act(lambda s, me: promos.set_promo_active(s, me, int(promo_id), active),
                  "Promo offered again." if active else "Promo stopped.")  # fmt: skip
        return None if self.logged_in else self.denied()


def _row(p) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(p["code"])),
        rx.table.cell(p["discount"]),
        rx.table.cell(p["window"]),
        rx.table.cell(p["uses"]),
        rx.table.cell(p["given"]),
        rx.table.cell(p["terms"]),
        rx.table.cell(
            rx.cond(
                p["active"] == "yes",
                rx.hstack(rx.badge("offered", color_scheme="green"),
                          rx.cond(AuthState.is_admin, row_button("Stop", PromosState.switch(p["id"], False),
                                                                color_scheme="red"))),
                rx.hstack(rx.badge("stopped", color_scheme="gray"),
                          rx.cond(AuthState.is_admin, row_button("Offer again", PromosState.switch(p["id"], True)))),
            )
        ),
    )  # fmt: skip


def _form() -> rx.Component:
    return form_card(
        "New promo code",
        form_row(
            rx.input(name="code", placeholder="Code (HEMAT10)", id="promo-code", width="130px"),
            rx.select.root(
                rx.select.trigger(placeholder="Percent off"),
                rx.select.content(
                    rx.select.item("Percent off", value="percent"),
                    rx.select.item("NT$ off", value="amount"),
                ),
                name="kind",
                default_value="percent",
            ),
            rx.input(name="value", placeholder="10", id="promo-value", width="70px", aria_label="Discount"),
            rx.input(name="starts_on", type="date", aria_label="First day", id="promo-start"),
            rx.text("to", size="2"),
            rx.input(name="ends_on", type="date", aria_label="Last day", id="promo-end"),
        ),
        form_row(
            rx.input(
                name="max_uses",
                placeholder="Uses in total (blank: no limit)",
                width="220px",
                id="promo-max-uses",
            ),
            rx.input(name="min_order_twd", placeholder="Minimum order NT$", width="160px"),
            rx.input(name="max_discount_twd", placeholder="Largest discount NT$", width="170px"),
            rx.input(
                name="per_customer",
                placeholder="Uses per customer (1)",
                width="170px",
                id="promo-per-customer",
            ),
            rx.input(
                name="products",
                placeholder="Only for products (codes; blank: all)",
                width="260px",
                id="promo-products",
            ),
            rx.button("Create", type="submit", id="promo-submit"),
        ),
        note(
            "Each customer uses a code once unless you allow more. A code for some products discounts only "
            "those in the order. A use comes back when its order expires unpaid or is refunded in full."
        ),
        on_submit=PromosState.create,
        id="promo-form",
    )


@template(routes.PROMOS, "Promos", on_load=[PromosState.load])
def promos_page() -> rx.Component:
    return rx.vstack(
        rx.cond(AuthState.is_admin, _form()),
        rx.cond(
            PromosState.rows.length() == 0,
            rx.callout("No promo codes yet.", icon="search", color_scheme="gray", class_name="empty-state"),
            table(
                ["Code", "Discount", "Valid (Taipei)", "Used", "Given", "Terms", ""],
                PromosState.rows,
                _row,
                id="promos-table",
            ),
        ),
        width="100%",
        spacing="3",
    )
