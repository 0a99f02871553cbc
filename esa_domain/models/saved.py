"""A customer's saved numbers: a phone, meter or account they top up often, under a name of their own ("Ibu")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from esa_domain.models._base import created_at, fk, pk


class SavedNumber(SQLModel, table=True):
    __tablename__ = "saved_numbers"
    __table_args__ = (
        UniqueConstraint("customer_id", "target", name="uq_saved_number_target"),
        CheckConstraint("length(name) BETWEEN 1 AND 40", name="ck_saved_number_name"),
        CheckConstraint(
            "kind IN ('phone', 'pln_meter', 'customer_no', 'game_id')", name="ck_saved_number_kind"
        ),
    )
    id: int | None = pk()
    # uq_saved_number_target leads with it: no index of its own
    customer_id: int = fk("customers.id", index=False, ondelete="CASCADE")
    name: str = Field(max_length=40)  # the customer's own word for whose number it is: "Ibu", "Adik"
    kind: str = Field(max_length=16)  # the target kind of esa_domain.ordering.targets (phone, pln_meter, ...)
    target: str = Field(max_length=40)  # as payment_items.target: phone, meter, game user id, customer number
    operator: str | None = Field(default=None, max_length=20)  # detected from the number's prefix, if a phone
    created_at: datetime = created_at()
