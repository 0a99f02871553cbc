"""What we sell, who can fulfil it and at what cost, and the FX rates that turn IDR into TWD."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    Numeric,
    String,
    Time,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from esa_domain.models._base import created_at, fk, money, pk, ts

TARGET_KINDS = ("phone", "pln_meter", "game_id", "game_id_zone", "customer_no", "email")


class ProductCategory(SQLModel, table=True):
    __tablename__ = "product_categories"
    id: int | None = pk()
    code: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    name: str = Field(max_length=80)
    # prepaid goods are delivered at once; postpaid bills are inquired then paid
    kind: str = Field(default="prepaid", max_length=20)
    is_game: bool = False  # ECPay forbids game points through CVS codes
    sort_order: int = 0
    created_at: datetime = created_at()


class Product(SQLModel, table=True):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_twd > 0", name="ck_products_price_positive"),
        CheckConstraint(f"target_kind IN {TARGET_KINDS!r}", name="ck_products_target_kind"),
    )
    id: int | None = pk()
    code: str = Field(sa_column=Column(String(60), unique=True, nullable=False))
    category_id: int = fk("product_categories.id")
    name: str = Field(max_length=120)
    price_twd: int = money()
    nominal_idr: int | None = money(nullable=True)  # face value, for display
    target_kind: str = Field(max_length=20)  # what the customer must give us, see TARGET_KINDS
    active: bool = Field(default=True, index=True)
    disabled_reason: str | None = Field(default=None, max_length=200)
    # where it stands in the customer's list (lower first, within its category), and the daily hours it is
    # offered (Taipei time; both NULL: all day; from > until: across midnight), set on the Shop set-up page
    display_order: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default=text("0")))
    sale_from: time | None = Field(default=None, sa_column=Column(Time, nullable=True))
    sale_until: time | None = Field(default=None, sa_column=Column(Time, nullable=True))
    created_at: datetime = created_at()
    updated_at: datetime | None = ts()


class Supplier(SQLModel, table=True):
    __tablename__ = "suppliers"
    id: int | None = pk()
    code: str = Field(sa_column=Column(String(30), unique=True, nullable=False))  # adapter registry key
    name: str = Field(max_length=80)
    enabled: bool = True
    fee_twd: int = money(default=0)  # per-transaction fee we pay on top of the IDR cost
    fee_idr: int = money(default=0)
    balance_idr: int | None = money(nullable=True)
    balance_checked_at: datetime | None = ts()
    # circuit breaker: skip after repeated non-customer failures, probe again after a cool-down
    consecutive_failures: int = 0
    circuit_open_until: datetime | None = ts()
    # the item whose attempt is the one probe let through after the cool-down (esa_domain.fulfillment.breaker)
    probe_item_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_sync_at: datetime | None = ts()
    created_at: datetime = created_at()


class SupplierOffer(SQLModel, table=True):
    __tablename__ = "supplier_offers"
    __table_args__ = (
        UniqueConstraint("supplier_id", "product_id", name="uq_offer_supplier_product"),
        UniqueConstraint("supplier_id", "supplier_sku", name="uq_offer_supplier_sku"),
        CheckConstraint("cost_idr > 0", name="ck_offer_cost_positive"),
        Index("ix_offers_product_available", "product_id", postgresql_where=text("available")),
    )
    id: int | None = pk()
    supplier_id: int = fk("suppliers.id")
    product_id: int = fk("products.id", index=False)
    supplier_sku: str = Field(max_length=60)
    cost_idr: int = money()
    available: bool = True
    synced_at: datetime | None = ts()
    # this offer's own breaker: out of stock says something about one supplier's one product, not the supplier
    consecutive_failures: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default=text("0"))
    )
    circuit_open_until: datetime | None = ts()
    probe_item_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class FxRate(SQLModel, table=True):
    """An exact rate: how many units of `quote` one unit of `base` buys (IDR/TWD: TWD per 1 IDR)."""

    __tablename__ = "fx_rates"
    __table_args__ = (
        CheckConstraint("rate > 0", name="ck_fx_rate_positive"),
        Index("ix_fx_pair_fetched", "pair", "fetched_at"),
    )
    id: int | None = pk()
    pair: str = Field(max_length=7)  # "IDR/TWD"
    rate: Decimal = Field(sa_column=Column(Numeric(24, 12), nullable=False))
    source: str = Field(max_length=60)
    fetched_at: datetime = created_at()
    set_by_operator_id: int | None = fk("operators.id", nullable=True, index=False)
