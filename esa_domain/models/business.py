"""Running the business from the dashboard (issue 18): the SKUs a supplier's catalog sync found that no offer of
ours maps yet, kept for an operator to adopt onto a product (esa_domain.catalog.discovered)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from esa_domain.models._base import created_at, fk, money, pk, ts


class DiscoveredSku(SQLModel, table=True):
    __tablename__ = "discovered_skus"
    __table_args__ = (UniqueConstraint("supplier_id", "supplier_sku", name="uq_discovered_sku"),)
    id: int | None = pk()
    supplier_id: int = fk("suppliers.id", index=False)
    supplier_sku: str = Field(sa_column=Column(String(60), nullable=False))
    name: str = Field(default="", max_length=200)  # as the supplier's catalog names it
    category: str | None = Field(default=None, max_length=80)
    cost_idr: int = money()
    available: bool = True
    first_seen_at: datetime = created_at()
    last_seen_at: datetime | None = ts()
    # set once an operator mapped it onto a product (the offer it became)
    adopted_offer_id: int | None = fk("supplier_offers.id", nullable=True, index=False, ondelete="SET NULL")
    adopted_at: datetime | None = ts()


class PromoProduct(SQLModel, table=True):
    """The products a promo is for; a promo with none is for every product (esa_domain.ordering.promos)."""

    __tablename__ = "promo_products"
    promo_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("promos.id", ondelete="CASCADE"), primary_key=True)
    )
    product_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True)
    )
