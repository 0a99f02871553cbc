"""Setting up what we sell from the dashboard: suppliers (from the adapter registry), categories, products, and each
product's supplier SKUs. Every function takes the caller's session, only flushes, and writes its audit row there,
so a change and its record land together or not at all."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from esa_domain.core.errors import DomainError
from esa_domain.models import Operator, Product, ProductCategory, Supplier, SupplierOffer
from esa_domain.models.catalog import TARGET_KINDS
from esa_domain.operations.operators import record_action, require_role

CATEGORY_KINDS = ("prepaid", "postpaid")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$")
# what each target kind asks the customer for, in words (the product form offers these)
TARGET_KIND_WORDS = {
    "phone": "Mobile number",
    "pln_meter": "PLN meter number",
    "game_id": "Game user id",
    "game_id_zone": "Game user id and zone/server",
    "customer_no": "Customer number (bills)",
    "email": "Email address",
}


class CatalogError(DomainError):
    code = "catalog_invalid"
    http_status = 422


def _code(value: str, what: str, limit: int = 60) -> str:
    code = value.strip()
    if not _CODE.match(code) or len(code) > limit:
        raise CatalogError(
            f"the {what} code must be 1 to {limit} letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return code


def _name(value: str, what: str, limit: int) -> str:
    name = value.strip()
    if not name or len(name) > limit:
        raise CatalogError(f"the {what} name is required (at most {limit} characters)")
    return name


def _whole(value: int | str | None, what: str, *, minimum: int = 0, required: bool = True) -> int | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        if required:
            raise CatalogError(f"{what} is required: a whole number")
        return None
    if not text.isdigit() or int(text) < minimum:
        raise CatalogError(f"{what} must be a whole number of at least {minimum}, not {text!r}")
    return int(text)


# --- suppliers ---


@dataclass(frozen=True)
class SupplierSetup:
    code: str
    name: str
    id: int | None  # None: registered as an adapter, not yet added to the shop
    enabled: bool
    configured: bool  # its credentials are in the environment
    fee_twd: int
    fee_idr: int
    offers: int
    circuit_open_until: datetime | None
    consecutive_failures: int


def supplier_setup(session: Session, registered: dict[str, bool]) -> list[SupplierSetup]:
    """Every supplier the registry knows (`registered`: code -> credentials configured) and every one in the
    table, with its fees, offers and breaker state."""
    rows = {
        s.code: (s, n)
        for s, n in session.execute(
            select(Supplier, func.count(SupplierOffer.id))
            .outerjoin(SupplierOffer, col(SupplierOffer.supplier_id) == col(Supplier.id))
            .group_by(Supplier.id)
        ).all()
    }
    out = []
    for code in sorted(set(registered) | set(rows)):
        if code in rows:
            s, n = rows[code]
            out.append(
                SupplierSetup(
                    code, s.name, s.id, s.enabled, registered.get(code, False), s.fee_twd, s.fee_idr, n,
                    s.circuit_open_until, s.consecutive_failures,
                )
            )  # fmt: skip
        else:
            out.append(SupplierSetup(code, code, None, False, registered[code], 0, 0, 0, None, 0))
    return out


def add_supplier(session: Session, actor: Operator, code: str, name: str, registered: set[str]) -> Supplier:
    """Add a registered adapter to the shop, disabled until an admin enables it (after mapping its SKUs)."""
    require_role(actor, "admin")
    if code not in registered:
        raise CatalogError(
            f"no adapter is registered as '{code}'; the registered ones: {', '.join(sorted(registered))}"
        )
    if session.exec(select(Supplier.id).where(Supplier.code == code)).first() is not None:
        raise CatalogError(f"supplier '{code}' is already in the shop")
    supplier = Supplier(code=code, name=_name(name or code, "supplier", 80), enabled=False)
    session.add(supplier)
    session.flush()
    record_action(session, actor.id, "supplier_add", subject=f"supplier:{supplier.id}", detail={"code": code})
    return supplier


def _supplier(session: Session, supplier_id: int) -> Supplier:
    supplier = session.exec(select(Supplier).where(Supplier.id == supplier_id).with_for_update()).first()
    if supplier is None:
        raise CatalogError(f"there is no supplier #{supplier_id}; reload the page")
    return supplier


def set_supplier_enabled(
    session: Session, actor: Operator, supplier_id: int, enabled: bool, reason: str, *, configured: bool
) -> Supplier:
    """Let routing use a supplier, or stop it (items already sent to it finish there). Enabling needs its
    credentials configured; either way the reason is recorded."""
    require_role(actor, "admin")
    if len(reason.strip()) < 3:
        raise CatalogError("say why (a few words): it goes in the audit log")
    supplier = _supplier(session, supplier_id)
    if enabled and not configured:
        raise CatalogError(
            f"{supplier.name} has no credentials configured: set them in the environment and restart first"
        )
    if supplier.enabled != enabled:
        supplier.enabled = enabled
        session.add(supplier)
        record_action(
            session, actor.id, "supplier_enable" if enabled else "supplier_disable",
            subject=f"supplier:{supplier.id}", reason=reason.strip(), detail={"code": supplier.code},
        )  # fmt: skip
        session.flush()
    return supplier


def set_supplier_fees(
    session: Session, actor: Operator, supplier_id: int, fee_twd: int | str, fee_idr: int | str
) -> Supplier:
    """The per-transaction fees we pay a supplier on top of its IDR cost (counted in every cost and margin)."""
    require_role(actor, "admin")
    supplier = _supplier(session, supplier_id)
    twd, idr = _whole(fee_twd, "The TWD fee"), _whole(fee_idr, "The IDR fee")
    before = {"fee_twd": supplier.fee_twd, "fee_idr": supplier.fee_idr}
    supplier.fee_twd, supplier.fee_idr = twd, idr  # type: ignore[assignment]
    session.add(supplier)
    record_action(
        session, actor.id, "supplier_fees", subject=f"supplier:{supplier.id}",
        detail={"before": before, "after": {"fee_twd": twd, "fee_idr": idr}},
    )  # fmt: skip
    session.flush()
    return supplier


# --- categories and products ---


def save_category(
    session: Session,
    actor: Operator,
    *,
    code: str,
    name: str,
    kind: str = "prepaid",
    is_game: bool = False,
    sort_order: int | str = 0,
    category_id: int | None = None,
) -> ProductCategory:
    """Create a category, or change one (`category_id`); `sort_order` places it in the Mini App (low first)."""
    require_role(actor, "admin")
    if kind not in CATEGORY_KINDS:
        raise CatalogError(f"the kind is one of {', '.join(CATEGORY_KINDS)}")
    code, name = _code(code, "category", 40), _name(name, "category", 80)
    order = _whole(sort_order, "The display order") or 0
    clash = session.exec(select(ProductCategory.id).where(ProductCategory.code == code)).first()
    if clash is not None and clash != category_id:
        raise CatalogError(f"a category with code '{code}' already exists")
    if category_id is None:
        category = ProductCategory(code=code, name=name, kind=kind, is_game=is_game, sort_order=order)
    else:
        found = session.get(ProductCategory, category_id)
        if found is None:
            raise CatalogError(f"there is no category #{category_id}; reload the page")
        category = found
        category.code, category.name, category.kind = code, name, kind
        category.is_game, category.sort_order = is_game, order
    session.add(category)
    session.flush()
    record_action(
        session, actor.id, "category_save", subject=f"category:{category.id}",
        detail={"code": code, "name": name, "kind": kind, "is_game": is_game, "sort_order": order},
    )  # fmt: skip
    return category


def save_product(
    session: Session,
    actor: Operator,
    *,
    code: str,
    category_id: int,
    name: str,
    price_twd: int | str,
    target_kind: str,
    nominal_idr: int | str | None = None,
    active: bool = False,
    product_id: int | None = None,
) -> Product:
    """Create a product (off sale until it has a usable supplier SKU and an admin puts it on sale), or change one.

    target_kind says what the customer gives (a phone number, a meter, a game id with zone...)."""
    require_role(actor, "admin")
    code, name = _code(code, "product"), _name(name, "product", 120)
    if target_kind not in TARGET_KINDS:
        raise CatalogError(f"the target is one of {', '.join(TARGET_KINDS)}")
    price = _whole(price_twd, "The price in TWD", minimum=1)
    nominal = _whole(nominal_idr, "The face value in IDR", minimum=1, required=False)
    if session.get(ProductCategory, category_id) is None:
        raise CatalogError("pick the product's category (make one first if there is none)")
    clash = session.exec(select(Product.id).where(Product.code == code)).first()
    if clash is not None and clash != product_id:
        raise CatalogError(f"a product with code '{code}' already exists")
    if product_id is None:
        product = Product(
            code=code, category_id=category_id, name=name, price_twd=price, nominal_idr=nominal,
            target_kind=target_kind, active=active, disabled_reason=None if active else "new: not yet on sale",
        )  # fmt: skip
    else:
        found = session.get(Product, product_id)
        if found is None:
            raise CatalogError(f"there is no product #{product_id}; reload the page")
        product = found
        product.code, product.category_id, product.name = code, category_id, name
        product.price_twd, product.nominal_idr, product.target_kind = price, nominal, target_kind  # type: ignore[assignment]
        product.active = active
        product.disabled_reason = None if active else (product.disabled_reason or "taken off sale")
        product.updated_at = datetime.now(UTC)
    session.add(product)
    session.flush()
    record_action(
        session, actor.id, "product_save", subject=f"product:{product.id}",
        detail={"code": code, "name": name, "price_twd": price, "target_kind": target_kind, "active": active},
    )  # fmt: skip
    return product


def map_sku(
    session: Session, actor: Operator, *, product_id: int, supplier_id: int, sku: str, cost_idr: int | str
) -> SupplierOffer:
    """Say which SKU a supplier sells this product as, and at what IDR cost (the catalog sync updates the cost
    afterwards). One SKU per supplier and product: mapping again replaces it."""
    require_role(actor, "admin")
    sku = sku.strip()
    if not sku or len(sku) > 60:
        raise CatalogError("the supplier's SKU is required (at most 60 characters)")
    cost = _whole(cost_idr, "The cost in IDR", minimum=1)
    if session.get(Product, product_id) is None:
        raise CatalogError("pick a product")
    _supplier(session, supplier_id)
    taken = session.exec(
        select(SupplierOffer).where(
            SupplierOffer.supplier_id == supplier_id, SupplierOffer.supplier_sku == sku
        )
    ).first()
    if taken is not None and taken.product_id != product_id:
        raise CatalogError(f"SKU '{sku}' of this supplier is already mapped to another product")
    offer = session.exec(
        select(SupplierOffer).where(
            SupplierOffer.supplier_id == supplier_id, SupplierOffer.product_id == product_id
        )
    ).first()
    before = None if offer is None else {"sku": offer.supplier_sku, "cost_idr": offer.cost_idr}
    if offer is None:
        offer = SupplierOffer(supplier_id=supplier_id, product_id=product_id, supplier_sku=sku, cost_idr=cost)
    else:
        offer.supplier_sku, offer.cost_idr, offer.available = sku, cost, True  # type: ignore[assignment]
    session.add(offer)
    session.flush()
    record_action(
        session, actor.id, "sku_map", subject=f"product:{product_id}",
        detail={"supplier_id": supplier_id, "sku": sku, "cost_idr": cost, "before": before},
    )  # fmt: skip
    return offer


def unmap_sku(session: Session, actor: Operator, offer_id: int) -> None:
    """Stop buying a product from one supplier (the offer is kept, unavailable, so history still reads)."""
    require_role(actor, "admin")
    offer = session.get(SupplierOffer, offer_id)
    if offer is None:
        raise CatalogError(f"there is no offer #{offer_id}; reload the page")
    offer.available = False
    session.add(offer)
    record_action(
        session, actor.id, "sku_unmap", subject=f"product:{offer.product_id}",
        detail={"supplier_id": offer.supplier_id, "sku": offer.supplier_sku},
    )  # fmt: skip
    session.flush()


@dataclass(frozen=True)
class OfferSetup:
    id: int
    product_id: int
    product: str
    supplier: str
    sku: str
    cost_idr: int
    available: bool


def offers(session: Session) -> list[OfferSetup]:
    """Every product-to-SKU mapping, by product then supplier."""
    rows = session.execute(
        select(SupplierOffer, Product.code, Supplier.code)
        .join(Product, col(Product.id) == col(SupplierOffer.product_id))
        .join(Supplier, col(Supplier.id) == col(SupplierOffer.supplier_id))
        .order_by(Product.code, Supplier.code)
    ).all()
    return [OfferSetup(o.id, o.product_id, p, s, o.supplier_sku, o.cost_idr, o.available) for o, p, s in rows]
