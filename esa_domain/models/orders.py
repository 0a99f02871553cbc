"""Customers, promos, payments, their items, supplier attempts and the history of every transition."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, Index, Integer, Numeric, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from esa_domain.core.states import (
    ATTEMPT_LIVE,
    ITEM_OPEN,
    PAYMENT_OPEN,
    AttemptState,
    ItemStatus,
    PaymentStatus,
)
from esa_domain.models._base import created_at, fk, json_col, money, pk, ts


def _in(values: Any) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


def _in_ordered(values: Any) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (
        # part of a name in the order search (ILIKE '%…%'); only where pg_trgm exists (migration 0016)
        Index(
            "ix_customers_display_name_trgm",
            "display_name",
            postgresql_using="gin",
            postgresql_ops={"display_name": "gin_trgm_ops"},
        ),
    )
    id: int | None = pk()
    line_user_id: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    display_name: str = Field(default="", max_length=120)
    # the language the customer chose (id, en, zh-Hant): the Mini App, its pages and their LINE messages
    language: str = Field(
        default="id", sa_column=Column(String(8), nullable=False, server_default=text("'id'"))
    )
    created_at: datetime = created_at()


class Promo(SQLModel, table=True):
    __tablename__ = "promos"
    __table_args__ = (
        # the usage limit is a constraint, so two concurrent orders cannot both take the last use
        CheckConstraint("max_uses IS NULL OR used_count <= max_uses", name="ck_promo_usage_limit"),
        CheckConstraint("used_count >= 0", name="ck_promo_used_nonnegative"),
        CheckConstraint("kind IN ('percent', 'amount')", name="ck_promo_kind"),
        CheckConstraint("value > 0 AND (kind <> 'percent' OR value <= 100)", name="ck_promo_value"),
        CheckConstraint("per_customer_limit >= 1", name="ck_promo_per_customer"),
    )
    id: int | None = pk()
    code: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    kind: str = Field(max_length=10)  # percent | amount (TWD)
    value: int
    max_discount_twd: int | None = None
    min_order_twd: int = 0
    max_uses: int | None = None
    used_count: int = 0
    # uses per customer (promo_usages.use_no runs 1..this; a released use frees its number)
    per_customer_limit: int = Field(
        default=1, sa_column=Column(Integer, nullable=False, server_default=text("1"))
    )
    starts_at: datetime | None = ts()
    ends_at: datetime | None = ts()
    active: bool = True
    created_at: datetime = created_at()


class PromoUsage(SQLModel, table=True):
    __tablename__ = "promo_usages"
    # a customer's n-th use of a promo, once each, enforced by the database (n up to promos.per_customer_limit)
    __table_args__ = (
        UniqueConstraint("promo_id", "customer_id", "use_no", name="uq_promo_usage_customer_use"),
    )
    id: int | None = pk()
    promo_id: int = fk("promos.id", index=False)
    customer_id: int = fk("customers.id")
    use_no: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default=text("1")))
    payment_id: int = fk("payments.id")
    discount_twd: int = money()
    created_at: datetime = created_at()


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("customer_id", "idempotency_key", name="uq_payment_idempotency"),
        CheckConstraint("amount_twd > 0", name="ck_payment_amount_positive"),
        CheckConstraint(f"status IN {_in(PaymentStatus)}", name="ck_payment_status"),
        # the reconciler's and the stuck list's scan: only payments that can still move
        Index(
            "ix_payments_open",
            "status",
            "created_at",
            postgresql_where=text(f"status IN {_in(PAYMENT_OPEN)}"),
        ),
        Index("ix_payments_created", "created_at"),
        Index("ix_payments_customer_created", "customer_id", "created_at"),
        Index("ix_payments_ecpay_trade_no", "ecpay_trade_no"),  # the order search (views/orders.search_ids)
        # the e-invoice carrier chosen with the order (issue 19; esa_domain.invoicing.carrier)
        CheckConstraint(
            "invoice_carrier_kind IN ('donation', 'mobile', 'none')", name="ck_payment_invoice_carrier_kind"
        ),
    )
    id: int | None = pk()
    merchant_trade_no: str = Field(sa_column=Column(String(20), unique=True, nullable=False))
    customer_id: int = fk("customers.id", index=False)
    status: str = Field(default=PaymentStatus.PENDING, max_length=20)
    subtotal_twd: int = money()
    discount_twd: int = money(default=0)
    amount_twd: int = money()  # what ECPay charges
    promo_id: int | None = fk("promos.id", nullable=True, index=False)
    # the quote, frozen: the rate and costs used, so the margin is explainable later
    fx_rate_id: int | None = fk("fx_rates.id", nullable=True, index=False)
    fx_rate: Decimal = Field(sa_column=Column(Numeric(24, 12), nullable=False))
    cost_idr: int = money()
    cost_twd: Decimal = Field(sa_column=Column(Numeric(18, 4), nullable=False))
    idempotency_key: str = Field(max_length=80)
    request_hash: str = Field(max_length=64)
    payment_method: str | None = Field(default=None, max_length=40)
    ecpay_trade_no: str | None = Field(default=None, max_length=40)
    paid_amount_twd: int | None = money(nullable=True)
    paid_at: datetime | None = ts()
    expires_at: datetime = ts(nullable=False)
    refunded_twd: int = money(default=0)
    next_query_at: datetime | None = ts()  # ECPay polling guidance and 403 back-off
    # the e-invoice carrier (issue 19): none (ECPay's member carrier, see esa_domain.invoicing.carrier) | mobile
    # (a mobile barcode like '/ABC+123') | donation (a love code like '168001')
    invoice_carrier_kind: str = Field(
        default="none", sa_column=Column(Text, nullable=False, server_default=text("'none'"))
    )
    invoice_carrier_value: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = created_at()
    updated_at: datetime | None = ts()


class PaymentItem(SQLModel, table=True):
    __tablename__ = "payment_items"
    __table_args__ = (
        CheckConstraint(f"status IN {_in(ItemStatus)}", name="ck_item_status"),
        Index("ix_items_open", "status", "updated_at", postgresql_where=text(f"status IN {_in(ITEM_OPEN)}")),
        Index("ix_items_target", "target"),
        # part of a number in the order search (LIKE '%…%'); only where pg_trgm exists (migration 0016)
        Index(
            "ix_items_target_trgm",
            "target",
            postgresql_using="gin",
            postgresql_ops={"target": "gin_trgm_ops"},
        ),
        # the stuck list: items waiting for an operator (ix_items_open does not cover them)
        Index("ix_items_needs_review", "updated_at", postgresql_where=text("status = 'NEEDS_REVIEW'")),
    )
    id: int | None = pk()
    payment_id: int = fk("payments.id")
    product_id: int = fk("products.id", index=False)
    target: str = Field(max_length=40)  # phone, meter, game user id, customer number
    zone: str | None = Field(default=None, max_length=20)  # game zone / server
    status: str = Field(default=ItemStatus.PENDING, max_length=20)
    price_twd: int = money()
    cost_idr: int = money()  # cheapest offer when quoted
    artifact: str | None = Field(default=None, max_length=300)  # serial, PLN token, voucher code
    failure_reason: str | None = Field(default=None, max_length=300)
    deadline_at: datetime | None = ts()  # past it, an unknown outcome goes to NEEDS_REVIEW
    next_check_at: datetime | None = ts()
    created_at: datetime = created_at()
    updated_at: datetime | None = ts()


class ItemAttempt(SQLModel, table=True):
    """One row per (item, supplier), committed before the request leaves; its reference is reused for checks."""

    __tablename__ = "item_attempts"
    __table_args__ = (
        UniqueConstraint("item_id", "supplier_id", name="uq_attempt_item_supplier"),
        CheckConstraint(f"state IN {_in_ordered(AttemptState)}", name="ck_attempt_state"),
        # an item never has two live attempts, whatever the number of workers
        Index(
            "uq_attempt_one_live",
            "item_id",
            unique=True,
            postgresql_where=text(f"state IN {_in_ordered(ATTEMPT_LIVE)}"),
        ),
        Index(
            "ix_attempts_live_check",
            "next_check_at",
            postgresql_where=text(f"state IN {_in_ordered(ATTEMPT_LIVE)}"),
        ),
        Index("ix_attempts_created", "created_at"),  # supplier health over a time window
        Index("ix_attempts_supplier_txn_id", "supplier_txn_id"),  # the order search
    )
    id: int | None = pk()
    item_id: int = fk("payment_items.id")
    supplier_id: int = fk("suppliers.id")
    reference: str = Field(sa_column=Column(String(40), unique=True, nullable=False))
    state: str = Field(default=AttemptState.SENDING, max_length=10)  # core.states.ATTEMPT
    failure_class: str | None = Field(default=None, max_length=10)
    supplier_code: str | None = Field(default=None, max_length=40)
    supplier_txn_id: str | None = Field(default=None, max_length=80)
    message: str | None = Field(default=None, max_length=300)
    cost_idr: int = money()  # the offer's cost when sent
    cost_twd: Decimal = Field(sa_column=Column(Numeric(18, 4), nullable=False))
    request_json: dict | None = json_col()  # the purchase request as sent, redacted
    response_json: dict | None = json_col()  # the purchase answer as received, redacted
    latency_ms: int | None = None
    checks: int = 0
    next_check_at: datetime | None = ts()
    created_at: datetime = created_at()
    finished_at: datetime | None = ts()


class SupplierExchange(SQLModel, table=True):
    """Every request and response with a supplier (purchase, status, callback, catalog), secrets redacted."""

    __tablename__ = "supplier_exchanges"
    id: int | None = pk()
    supplier_id: int = fk("suppliers.id", index=False)
    attempt_id: int | None = fk("item_attempts.id", nullable=True)
    operation: str = Field(max_length=20)
    method: str = Field(max_length=8)
    url: str = Field(max_length=500)
    request_json: dict | None = json_col()
    response_json: Any = json_col()
    http_status: int | None = None
    latency_ms: int = 0
    error: str | None = Field(default=None, max_length=300)
    # what we read from it, when it is a supplier's trustworthy word about the attempt (SUCCESS, FAILED
    # customer, PENDING, ...): the item's "last word" on the order page and the review guard read it
    outcome: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_at()


class PaymentHistory(SQLModel, table=True):
    """Every transition of a payment or one of its items: from, to, cause, actor, time."""

    __tablename__ = "payment_history"
    __table_args__ = (Index("ix_history_payment", "payment_id", "id"),)
    id: int | None = pk()
    payment_id: int = fk("payments.id", index=False)
    item_id: int | None = fk("payment_items.id", nullable=True, index=False)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    cause: str = Field(max_length=300)
    actor: str = Field(max_length=80)  # system:<component> | operator:<username> | ecpay | supplier:<code>
    created_at: datetime = created_at()
