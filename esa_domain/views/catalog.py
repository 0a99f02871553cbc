"""Suppliers, offers, products and margins: what the Suppliers, FX & margins and Catalog pages show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import Session, col

from esa_domain.catalog.fx import PAIR, effective_cost_twd, latest_rate
from esa_domain.models import FxRate, Operator, Product, ProductCategory, Supplier, SupplierOffer


@dataclass(frozen=True)
class SupplierRow:
    id: int
    code: str
    name: str
    enabled: bool
    circuit: str  # closed | open | half-open (cool-down over, the next attempt probes)
    consecutive_failures: int
    circuit_open_until: datetime | None
    balance_idr: int | None
    balance_checked_at: datetime | None
    last_sync_at: datetime | None
    offers: int
    available_offers: int


def circuit_state(supplier: Supplier, now: datetime) -> str:
    if supplier.circuit_open_until and supplier.circuit_open_until > now:
        return "open"
    if supplier.circuit_open_until and supplier.consecutive_failures > 0:
        return "half-open"
    return "closed"


def suppliers(session: Session, *, now: datetime) -> list[SupplierRow]:
    rows = session.execute(
        select(
            Supplier,
            func.count(SupplierOffer.id),
            func.count(SupplierOffer.id).filter(col(SupplierOffer.available)),
        )
        .outerjoin(SupplierOffer, col(SupplierOffer.supplier_id) == col(Supplier.id))
        .group_by(Supplier.id)
        .order_by(Supplier.code)
    ).all()
    return [
        SupplierRow(
            s.id,
            s.code,
            s.name,
            s.enabled,
            circuit_state(s, now),
            s.consecutive_failures,
            s.circuit_open_until,
            s.balance_idr,
            s.balance_checked_at,
            s.last_sync_at,
            n,
            avail,
        )
        for s, n, avail in rows
    ]


@dataclass(frozen=True)
class OfferCost:
    supplier_code: str
    cost_idr: int
    cost_twd: Decimal | None  # None when no rate is known
    available: bool
    usable: bool  # available and the supplier enabled: routing may pick it
    cheapest: bool


@dataclass(frozen=True)
class ProductCosts:
    product_id: int
    code: str
    name: str
    category: str
    price_twd: int
    active: bool
    disabled_reason: str | None
    offers: list[OfferCost]
    best_cost_twd: Decimal | None  # cheapest usable offer
    margin_twd: Decimal | None
    margin_pct: Decimal | None

    @property
    def below_cost(self) -> bool:
        return self.margin_twd is not None and self.margin_twd < 0


def product_costs(session: Session, *, rate: Decimal | None = None) -> list[ProductCosts]:
    """Every product with each supplier's cost in IDR and TWD (at `rate`, default latest), cheapest marked."""
    if rate is None:
        latest = latest_rate(session, PAIR)
        rate = latest.rate if latest else None
    products = session.execute(
        select(Product, ProductCategory.name)
        .join(ProductCategory, col(ProductCategory.id) == col(Product.category_id))
        .order_by(ProductCategory.sort_order, ProductCategory.name, Product.price_twd, Product.code)
    ).all()
    offers: dict[int, list[tuple[SupplierOffer, Supplier]]] = {}
    for offer, supplier in session.execute(
        select(SupplierOffer, Supplier).join(Supplier, col(Supplier.id) == col(SupplierOffer.supplier_id))
    ).all():
        offers.setdefault(offer.product_id, []).append((offer, supplier))
    out = []
    for product, category in products:
        costs = []
        for offer, supplier in sorted(offers.get(product.id, []), key=lambda t: t[1].code):
            twd = (
                effective_cost_twd(offer.cost_idr, rate, fee_idr=supplier.fee_idr, fee_twd=supplier.fee_twd)
                if rate is not None
                else None
            )
            costs.append(
                (supplier.code, offer.cost_idr, twd, offer.available, offer.available and supplier.enabled)
            )
        usable = [c[2] for c in costs if c[4] and c[2] is not None]
        best = min(usable) if usable else None
        margin = Decimal(product.price_twd) - best if best is not None else None
        out.append(
            ProductCosts(
                product.id,
                product.code,
                product.name,
                category,
                product.price_twd,
                product.active,
                product.disabled_reason,
                [OfferCost(c[0], c[1], c[2], c[3], c[4], c[4] and c[2] == best) for c in costs],
                best,
                margin,
                (margin * 100 / product.price_twd).quantize(Decimal("0.1")) if margin is not None else None,
            )
        )
    return out


@dataclass(frozen=True)
class RateRow:
    id: int
    rate: Decimal
    source: str
    fetched_at: datetime
    set_by: str | None


def rate_history(session: Session, *, limit: int = 60, pair: str = PAIR) -> list[RateRow]:
    """The newest `limit` rates, newest first (ix_fx_pair_fetched)."""
    rows = session.execute(
        select(FxRate, Operator.username)
        .outerjoin(Operator, col(Operator.id) == col(FxRate.set_by_operator_id))
        .where(col(FxRate.pair) == pair)
        .order_by(col(FxRate.fetched_at).desc(), col(FxRate.id).desc())
        .limit(limit)
    ).all()
    return [RateRow(r.id, r.rate, r.source, r.fetched_at, u) for r, u in rows]
