"""Shop set-up (admins): suppliers from the adapter registry (add, enable/disable with a reason, fees, whether
their credentials are configured, breaker state), categories, products and each product's supplier SKUs.
Every change is audited (esa_domain.catalog.admin)."""

from __future__ import annotations

from datetime import UTC, datetime

import reflex as rx
from sqlmodel import Session, select

from esa_admin import format as fmt
from esa_admin import routes
from esa_admin.auth import AuthState
from esa_admin.components.layout import template
from esa_admin.components.widgets import (
    field,
    flag,
    form_row,
    note,
    row_button,
    row_form,
    save_or_add,
    section,
    table,
)
from esa_admin.deps import unit_of_work
from esa_domain.adapters.suppliers.registry import supplier_settings
from esa_domain.catalog import admin, discovered, display
from esa_domain.core.errors import DomainError
from esa_domain.infra.db import default_engine
from esa_domain.models import Operator, Product, ProductCategory, Supplier
from esa_domain.models.catalog import TARGET_KINDS


def _registered() -> dict[str, bool]:
    """Every registered supplier adapter and whether its credentials are configured in this process."""
    return {code: config.configured for code, config in supplier_settings().items()}


class SetupState(AuthState):
    suppliers: list[dict[str, str]] = []
    categories: list[dict[str, str]] = []
    products: list[dict[str, str]] = []
    offers: list[dict[str, str]] = []
    discovered: list[dict[str, str]] = []  # SKUs the catalog sync found that no offer maps yet
    error: str = ""
    # the product in the form: {} for a new one, else its fields (the form is re-drawn with them)
    editing: dict[str, str] = {}
    editing_category: dict[str, str] = {}  # the same for the category form

    def _reload(self) -> None:
        now = datetime.now(UTC)
        with Session(default_engine()) as s:
            setup = admin.supplier_setup(s, _registered())
            categories = s.exec(
                select(ProductCategory).order_by(ProductCategory.sort_order, ProductCategory.name)
            ).all()
            products = s.exec(select(Product).order_by(Product.code)).all()
            offers = admin.offers(s)
            found = discovered.discovered(s)
        self.suppliers = [
            {
                "id": str(r.id or ""),
                "code": r.code,
                "name": r.name,
                "in_shop": "yes" if r.id else "",
                "enabled": "yes" if r.enabled else "",
                "configured": "yes" if r.configured else "",
                "fee_twd": str(r.fee_twd),
                "fee_idr": str(r.fee_idr),
                "offers": str(r.offers),
                "health": "enabled without credentials: routing skips it"
                if r.enabled and not r.configured
                else (
                    f"breaker open until {fmt.when(r.circuit_open_until)}"
                    if r.circuit_open_until and r.circuit_open_until > now
                    else (
                        f"{r.consecutive_failures} failures in a row" if r.consecutive_failures else "healthy"
                    )
                ),
            }
            for r in setup
        ]
        self.categories = [
            {"id": str(c.id), "code": c.code, "name": c.name, "kind": c.kind, "game": "yes" if c.is_game else "",
             "order": str(c.sort_order)}
            for c in categories
        ]  # fmt: skip
        names = {c.id: c.name for c in categories}
        self.products = [
            {"id": str(p.id), "code": p.code, "name": p.name, "category": names.get(p.category_id, ""),
             "price": fmt.twd(p.price_twd), "target": admin.TARGET_KIND_WORDS.get(p.target_kind, p.target_kind),
             "on_sale": "yes" if p.active else "", "reason": p.disabled_reason or "",
             "category_id": str(p.category_id), "target_kind": p.target_kind, "price_twd": str(p.price_twd),
             "nominal_idr": str(p.nominal_idr or ""), "display_order": str(p.display_order),
             "sale_from": f"{p.sale_from:%H:%M}" if p.sale_from else "",
             "sale_until": f"{p.sale_until:%H:%M}" if p.sale_until else "",
             "hours": display.hours_words(p.sale_from, p.sale_until)}
            for p in products
        ]  # fmt: skip
        self.discovered = [
            {"id": str(d.id), "supplier": d.supplier, "sku": d.sku, "name": d.name, "category": d.category or "",
             "cost": fmt.idr(d.cost_idr) if d.cost_idr > 0 else "no price",
             "available": "yes" if d.available else "", "seen": fmt.when(d.last_seen_at or d.first_seen_at)}
            for d in found
        ]  # fmt: skip
        self.offers = [
            {"id": str(o.id), "product": o.product, "supplier": o.supplier, "sku": o.sku,
             "cost": fmt.idr(o.cost_idr), "available": "yes" if o.available else ""}
            for o in offers
        ]  # fmt: skip

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
            self._reload()
            return False
        self.say(done, "ok")
        self._reload()
        return True

    def _after(self, ok: bool, form_id: str = ""):
        if not self.logged_in:
            return self.denied()
        if ok and form_id:
            return rx.call_script(f"document.getElementById('{form_id}').reset()")
        return None

    @rx.event
    def load(self):
        if self.authorize("admin") is None:
            return self.denied()
        self._reload()
        return None

    @rx.event
    def add_supplier(self, code: str):
        ok = self._act(lambda s, me: admin.add_supplier(s, me, code, code, set(_registered())),
                       f"Supplier {code} added, disabled: map its SKUs, then enable it.")  # fmt: skip
        return self._after(ok)

    @rx.event
    def switch_supplier(self, form: dict):
        supplier_id, enable = int(form.get("supplier_id", 0)), form.get("enable") == "yes"
        configured = _registered()

        def change(s, me):
            code = s.get(Supplier, supplier_id).code if s.get(Supplier, supplier_id) else ""
            admin.set_supplier_enabled(s, me, supplier_id, enable, str(form.get("reason", "")),
                                       configured=configured.get(code, False))  # fmt: skip

        return self._after(self._act(change, "Supplier enabled." if enable else "Supplier disabled."))

    @rx.event
    def save_fees(self, form: dict):
        supplier_id = int(form.get("supplier_id", 0))
        ok = self._act(
            lambda s, me: admin.set_supplier_fees(
                s, me, supplier_id, form.get("fee_twd", ""), form.get("fee_idr", "")
            ),
            "Fees saved.",
        )
        return self._after(ok)

    @rx.event
    def add_category(self, form: dict):
        editing = self.editing_category.get("id", "")
        ok = self._act(
            lambda s, me: admin.save_category(
                s, me, code=str(form.get("code", "")), name=str(form.get("name", "")),
                kind=str(form.get("kind", "") or "prepaid"), is_game=bool(form.get("is_game")),
                sort_order=str(form.get("sort_order", "0")), category_id=int(editing) if editing else None,
            ),
            f"Category {form.get('name', '')} saved.",
        )  # fmt: skip
        if ok:
            self.editing_category = {}
        return self._after(ok, "category-form")

    @rx.event
    def edit_category(self, category_id: str):
        if self.authorize("admin") is None:
            return self.denied()
        self.editing_category = next((c for c in self.categories if c["id"] == category_id), {})
        return None

    @rx.event
    def new_category(self):
        self.editing_category = {}

    @rx.event
    def edit_product(self, product_id: str):
        if self.authorize("admin") is None:
            return self.denied()
        self.editing = next((p for p in self.products if p["id"] == product_id), {})
        return None

    @rx.event
    def new_product(self):
        self.editing = {}

    @rx.event
    def add_product(self, form: dict):
        category = str(form.get("category_id", ""))
        editing = self.editing.get("id", "")

        def change(s, me):  # the product, then its place in the list and its hours: one transaction
            product = admin.save_product(
                s,
                me,
                code=str(form.get("code", "")),
                category_id=int(category) if category.isdigit() else 0,
                name=str(form.get("name", "")),
                price_twd=str(form.get("price_twd", "")),
                target_kind=str(form.get("target_kind", "")),
                nominal_idr=str(form.get("nominal_idr", "")),
                active=bool(form.get("on_sale")) if editing else False,
                product_id=int(editing) if editing else None,
            )
            display.set_product_display(
                s,
                me,
                product.id,
                display_order=str(form.get("display_order", "")),
                sale_from=str(form.get("sale_from", "")),
                sale_until=str(form.get("sale_until", "")),
            )

        ok = self._act(
            change,
            f"Product {form.get('code', '')} saved."
            if editing
            else f"Product {form.get('code', '')} created, off sale: map a supplier SKU, price it, then put it on sale.",
        )  # fmt: skip
        if ok:
            self.editing = {}
        return self._after(ok, "product-form")

    @rx.event
    def map_sku(self, form: dict):
        product, supplier = str(form.get("product_id", "")), str(form.get("supplier_id", ""))
        ok = self._act(
            lambda s, me: admin.map_sku(
                s, me, product_id=int(product) if product.isdigit() else 0,
                supplier_id=int(supplier) if supplier.isdigit() else 0,
                sku=str(form.get("sku", "")), cost_idr=str(form.get("cost_idr", "")),
            ),
            f"SKU {form.get('sku', '')} mapped.",
        )  # fmt: skip
        return self._after(ok, "sku-form")

    @rx.event
    def adopt(self, form: dict):
        found, product = str(form.get("discovered_id", "")), str(form.get("product_id", ""))
        ok = self._act(
            lambda s, me: discovered.adopt_sku(
                s, me, int(found) if found.isdigit() else 0, int(product) if product.isdigit() else 0
            ),
            "SKU adopted: the product can be bought from this supplier.",
        )
        return self._after(ok)

    @rx.event
    def unmap(self, offer_id: str):
        return self._after(
            self._act(lambda s, me: admin.unmap_sku(s, me, int(offer_id)), "SKU no longer used.")
        )


def _yes(value) -> rx.Component:
    return flag(value == "yes", "yes", "no")


def _supplier_row(r) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(r["name"], weight="bold"), rx.text(r["code"], size="1", color_scheme="gray")),
        rx.table.cell(flag(r["configured"] == "yes", "configured", "no credentials", "amber")),
        rx.table.cell(r["health"]),
        rx.table.cell(r["offers"]),
        rx.table.cell(
            rx.cond(
                r["in_shop"] == "yes",
                row_form(
                    rx.el.input(type="hidden", name="supplier_id", value=r["id"]),
                    rx.el.input(
                        type="hidden", name="enable", value=rx.cond(r["enabled"] == "yes", "no", "yes")
                    ),
                    flag(r["enabled"] == "yes", "enabled", "disabled"),
                    rx.input(
                        name="reason",
                        placeholder="Why?",
                        size="1",
                        width="110px",
                        id="reason-" + r["code"],
                    ),
                    row_button(
                        rx.cond(r["enabled"] == "yes", "Disable", "Enable"),
                        type="submit",
                        id="switch-" + r["code"],
                    ),
                    on_submit=SetupState.switch_supplier,
                    reset=True,
                ),
                rx.button(
                    "Add to shop",
                    size="1",
                    on_click=SetupState.add_supplier(r["code"]),
                    id="add-" + r["code"],
                ),
            )
        ),
        rx.table.cell(
            rx.cond(
                r["in_shop"] == "yes",
                row_form(
                    rx.el.input(type="hidden", name="supplier_id", value=r["id"]),
                    rx.input(
                        name="fee_twd",
                        default_value=r["fee_twd"],
                        size="1",
                        width="50px",
                        aria_label="TWD fee",
                    ),
                    rx.text("TWD +", size="1"),
                    rx.input(
                        name="fee_idr",
                        default_value=r["fee_idr"],
                        size="1",
                        width="70px",
                        aria_label="IDR fee",
                    ),
                    rx.text("IDR", size="1"),
                    row_button("Save", type="submit"),
                    on_submit=SetupState.save_fees,
                ),
            )
        ),
    )


def _suppliers() -> rx.Component:
    return section(
        "Suppliers",
        note(
            "Every supplier the app has an adapter for. Credentials live in the environment (README, "
            "Configuration); a supplier is added disabled and enabled once its credentials are configured and its SKUs mapped."
        ),
        table(
            ["Supplier", "Credentials", "Health", "SKUs", "Routing", "Fee per transaction"],
            SetupState.suppliers,
            _supplier_row,
            id="setup-suppliers",
        ),
    )


def _categories() -> rx.Component:
    return section(
        "Categories",
        rx.form(
            form_row(
                field("code", "Code (pulsa)", SetupState.editing_category["code"], "120px", "category-code"),
                field("name", "Name shown (Pulsa)", SetupState.editing_category["name"], id="category-name"),
                rx.select(
                    ["prepaid", "postpaid"],
                    name="kind",
                    default_value=rx.cond(
                        SetupState.editing_category.contains("kind"),
                        SetupState.editing_category["kind"],
                        "prepaid",
                    ),
                ),
                rx.input(
                    name="sort_order",
                    placeholder="Order",
                    width="70px",
                    aria_label="Display order",
                    default_value=rx.cond(
                        SetupState.editing_category.contains("order"),
                        SetupState.editing_category["order"],
                        "0",
                    ),
                ),
                rx.checkbox(
                    "Game (no CVS payment)",
                    name="is_game",
                    default_checked=SetupState.editing_category["game"] == "yes",
                ),
                save_or_add(
                    SetupState.editing_category.contains("id"),
                    "category",
                    SetupState.new_category,
                    "category-submit",
                ),
            ),
            on_submit=SetupState.add_category,
            reset_on_submit=False,
            id="category-form",
            key=SetupState.editing_category["id"].to(str),
        ),
        table(
            ["Order", "Code", "Name", "Kind", "Game", ""],
            SetupState.categories,
            lambda c: rx.table.row(
                rx.table.cell(c["order"]),
                rx.table.cell(c["code"]),
                rx.table.cell(c["name"]),
                rx.table.cell(c["kind"]),
                rx.table.cell(_yes(c["game"])),
                rx.table.cell(
                    row_button("Edit", SetupState.edit_category(c["id"]), id="edit-category-" + c["code"])
                ),
            ),
            id="setup-categories",
        ),
    )


def _product_field(name: str, placeholder: str, width: str | None = None, id: str | None = None):
    return field(name, placeholder, SetupState.editing[name], width, id)


def _products() -> rx.Component:
    return section(
        "Products",
        rx.form(
            form_row(
                _product_field("code", "Code (TSEL10)", "130px", "product-code"),
                _product_field("name", "Name shown", None, "product-name"),
                rx.select.root(
                    rx.select.trigger(placeholder="Category", id="product-category"),
                    rx.select.content(
                        rx.foreach(SetupState.categories, lambda c: rx.select.item(c["name"], value=c["id"]))
                    ),
                    name="category_id",
                    default_value=SetupState.editing["category_id"],
                ),
                rx.select.root(
                    rx.select.trigger(placeholder="The customer gives…", id="product-target"),
                    rx.select.content(
                        *[rx.select.item(admin.TARGET_KIND_WORDS[k], value=k) for k in TARGET_KINDS]
                    ),
                    name="target_kind",
                    default_value=SetupState.editing["target_kind"],
                ),
                _product_field("price_twd", "Price TWD", "100px", "product-price"),
                _product_field("nominal_idr", "Face value IDR", "120px"),
                _product_field("display_order", "List order (0)", "110px", "product-order"),
                _product_field("sale_from", "Sold from 08:00", "120px", "product-sale-from"),
                _product_field("sale_until", "until 22:00", "100px", "product-sale-until"),
                save_or_add(
                    SetupState.editing.contains("id"),
                    "product",
                    SetupState.new_product,
                    "product-submit",
                    rx.checkbox(
                        "On sale",
                        name="on_sale",
                        default_checked=SetupState.editing["on_sale"] == "yes",
                        id="product-on-sale",
                    ),
                ),
            ),
            on_submit=SetupState.add_product,
            reset_on_submit=False,
            id="product-form",
            key=SetupState.editing["id"].to(str),
        ),
        note(
            "New products start off sale: price them (Pricing) and put them on sale (Catalog). List order: "
            "lower first in the customer's list; hours (Taipei time, blank: all day) when customers may buy it."
        ),
        table(
            ["Code", "Name", "Category", "Price", "Customer gives", "Order", "Hours", "On sale", ""],
            SetupState.products,
            lambda p: rx.table.row(
                rx.table.cell(p["code"]),
                rx.table.cell(p["name"]),
                rx.table.cell(p["category"]),
                rx.table.cell(p["price"]),
                rx.table.cell(p["target"]),
                rx.table.cell(p["display_order"]),
                rx.table.cell(p["hours"]),
                rx.table.cell(flag(p["on_sale"] == "yes", "on sale", "off sale")),
                rx.table.cell(row_button("Edit", SetupState.edit_product(p["id"]), id="edit-" + p["code"])),
            ),
            id="setup-products",
        ),
    )


def _offer_row(o) -> rx.Component:
    return rx.table.row(
        rx.table.cell(o["product"]),
        rx.table.cell(o["supplier"]),
        rx.table.cell(rx.code(o["sku"])),
        rx.table.cell(o["cost"]),
        rx.table.cell(
            rx.cond(
                o["available"] == "yes",
                row_button("Stop using", SetupState.unmap(o["id"]), color_scheme="red"),
                rx.badge("not used", color_scheme="gray"),
            )
        ),
    )


def _skus() -> rx.Component:
    return section(
        "Supplier SKUs",
        rx.form(
            form_row(
                rx.select.root(
                    rx.select.trigger(placeholder="Product", id="sku-product"),
                    rx.select.content(
                        rx.foreach(SetupState.products, lambda p: rx.select.item(p["code"], value=p["id"]))
                    ),
                    name="product_id",
                ),
                rx.select.root(
                    rx.select.trigger(placeholder="Supplier", id="sku-supplier"),
                    rx.select.content(
                        rx.foreach(
                            SetupState.suppliers,
                            lambda r: rx.cond(
                                r["in_shop"] == "yes", rx.select.item(r["name"], value=r["id"])
                            ),
                        )
                    ),
                    name="supplier_id",
                ),
                rx.input(name="sku", placeholder="Supplier's SKU", id="sku-code"),
                rx.input(name="cost_idr", placeholder="Cost IDR", width="110px", id="sku-cost"),
                rx.button("Map SKU", type="submit", id="sku-submit"),
            ),
            on_submit=SetupState.map_sku,
            reset_on_submit=False,
            id="sku-form",
        ),
        table(["Product", "Supplier", "SKU", "Cost", ""], SetupState.offers, _offer_row, id="setup-offers"),
    )


def _discovered_row(d) -> rx.Component:
    return rx.table.row(
        rx.table.cell(d["supplier"]),
        rx.table.cell(rx.code(d["sku"])),
        rx.table.cell(d["name"]),
        rx.table.cell(d["category"]),
        rx.table.cell(d["cost"]),
        rx.table.cell(d["seen"]),
        rx.table.cell(
            row_form(
                rx.el.input(type="hidden", name="discovered_id", value=d["id"]),
                rx.select.root(
                    rx.select.trigger(placeholder="Onto product", id="adopt-product-" + d["sku"]),
                    rx.select.content(
                        rx.foreach(SetupState.products, lambda p: rx.select.item(p["code"], value=p["id"]))
                    ),
                    name="product_id",
                ),
                rx.button("Adopt", type="submit", size="1", id="adopt-" + d["sku"]),
                on_submit=SetupState.adopt,
                spacing=None,
            )
        ),
    )


def _discovered() -> rx.Component:
    return section(
        "SKUs found by the catalog sync",
        note(
            "Sold by a supplier, not mapped to any product of ours yet. Adopt one onto a product to buy "
            "it there at the catalog's cost."
        ),
        rx.cond(
            SetupState.discovered.length() > 0,  # type: ignore[attr-defined]
            table(
                ["Supplier", "SKU", "Name", "Category", "Cost", "Last seen", "Adopt onto"],
                SetupState.discovered,
                _discovered_row,
                id="setup-discovered",
            ),
            rx.text("Nothing new: every SKU the last syncs saw is mapped.", size="2", id="no-discovered"),
        ),
    )


@template(routes.SETUP, "Shop set-up", on_load=[SetupState.load])
def setup_page() -> rx.Component:
    return rx.cond(
        AuthState.is_admin,
        rx.vstack(
            _suppliers(), _categories(), _products(), _skus(), _discovered(), width="100%", spacing="4"
        ),
        rx.callout("Only admins set up the shop.", color_scheme="amber"),
    )
