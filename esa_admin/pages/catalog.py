"""Catalog: products, prices and availability; admins change a price or take a product off sale (audited)."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import table
from esa_admin.deps import unit_of_work
from esa_domain.core.errors import DomainError
from esa_domain.infra.db import default_engine
from esa_domain.operations import actions as operator_actions
from esa_domain.views import catalog


class CatalogState(AuthState):
    products: list[dict[str, str]] = []
    edit_id: int = 0
    edit_name: str = ""
    edit_error: str = ""

    @rx.event
    def load(self):
        if self.authorize("viewer") is None:
            return self.denied()
        with Session(default_engine()) as s:
            rows = catalog.product_costs(s)
        self.products = [
            {
                "id": str(p.product_id),
                "code": p.code,
                "name": p.name,
                "category": p.category,
                "price": fmt.twd(p.price_twd),
                "price_raw": str(p.price_twd),
                "active": "yes" if p.active else "",
                "reason": p.disabled_reason or "",
                "offers": f"{sum(o.usable for o in p.offers)} of {len(p.offers)} usable",
                "margin": fmt.pct(p.margin_pct),
            }
            for p in rows
        ]
        return None

    @rx.event
    def edit(self, product_id: str, name: str):
        if self.authorize("admin") is None:
            return self.denied()
        self.edit_id, self.edit_name, self.edit_error = int(product_id), name, ""
        return None

    @rx.event
    def close(self):
        self.edit_id = 0

    @rx.event
    def save(self, form: dict):
        operator = self.authorize("admin")
        if operator is None:
            self.edit_id = 0
            return self.denied()
        price = str(form.get("price", "")).strip()
        active = form.get("active")
        try:
            if price and not price.isdigit():
                raise operator_actions.ActionRefused("the price is a whole number of TWD, e.g. 25")
            with unit_of_work() as uow:
                operator_actions.update_product(
                    uow,
                    operator,
                    self.edit_id,
                    str(form.get("reason", "")),
                    price_twd=int(price) if price else None,
                    active=None if active in (None, "") else active == "yes",
                )
        except (DomainError, PermissionError) as exc:
            self.edit_error = str(exc)
            return None
        self.say(f"{self.edit_name} updated.", "ok")
        self.edit_id = 0
        return CatalogState.load


def _row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(r["code"]),
        rx.table.cell(r["name"]),
        rx.table.cell(r["category"]),
        rx.table.cell(r["price"]),
        rx.table.cell(
            rx.cond(
                r["active"] != "",
                rx.badge("on sale", color_scheme="green"),
                rx.badge(
                    rx.cond(r["reason"] != "", "off sale: " + r["reason"], "off sale"), color_scheme="gray"
                ),
            )
        ),
        rx.table.cell(r["offers"]),
        rx.table.cell(r["margin"]),
        rx.table.cell(
            rx.cond(
                AuthState.is_admin,
                rx.button("Edit", size="1", variant="soft", on_click=CatalogState.edit(r["id"], r["name"])),
            )
        ),
    )


def _dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit ", CatalogState.edit_name),
            rx.form(
                rx.vstack(
                    rx.input(
                        name="price", placeholder="New price in whole TWD (blank: unchanged)", width="100%"
                    ),
                    rx.select.root(
                        rx.select.trigger(placeholder="Availability (unchanged)"),
                        rx.select.content(
                            rx.select.item("On sale", value="yes"), rx.select.item("Off sale", value="no")
                        ),
                        name="active",
                    ),
                    rx.text_area(name="reason", placeholder="Reason (required, audited)", width="100%"),
                    rx.cond(
                        CatalogState.edit_error != "", rx.callout(CatalogState.edit_error, color_scheme="red")
                    ),
                    rx.hstack(
                        rx.button(
                            "Cancel",
                            type="button",
                            variant="soft",
                            color_scheme="gray",
                            on_click=CatalogState.close,
                        ),
                        rx.button("Save", type="submit"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=CatalogState.save,
                reset_on_submit=True,
            ),
        ),
        open=CatalogState.edit_id != 0,
    )


@template(routes.CATALOG, "Catalog", on_load=[CatalogState.load])
def catalog_page() -> rx.Component:
    return rx.vstack(
        table(
            ["Code", "Product", "Category", "Price", "Availability", "Offers", "Margin", ""],
            CatalogState.products,
            _row,
            id="catalog-table",
        ),
        _dialog(),
        width="100%",
    )
