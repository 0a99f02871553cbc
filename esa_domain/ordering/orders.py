"""`place_order`: validate, price, apply a promo, and write the whole order in one transaction.

Idempotency: (customer, Idempotency-Key) is unique in the database. The same key with the same request
returns the same order; the same key with a different request is a conflict; concurrent duplicates race on
the unique index and exactly one wins, the others read its order back.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from esa_domain.catalog.display import hours_words, in_sale_hours
from esa_domain.catalog.fx import PAIR, effective_cost_twd, ensure_fresh
from esa_domain.core.errors import (
    DomainError,
    IdempotencyConflict,
    InvalidRequest,
    ProductUnavailable,
    PromoAlreadyUsed,
    PromoError,
    PromoExhausted,
    PromoExpired,
    PromoMinimumNotMet,
    PromoNotStarted,
    PromoUnknown,
    UnknownProduct,
)
from esa_domain.core.states import ITEM, PAYMENT, PaymentStatus
from esa_domain.core.transitions import born, initial_state
from esa_domain.infra import outbox
from esa_domain.infra.db import UnitOfWork, driver
from esa_domain.invoicing.carrier import Carrier, parse_carrier
from esa_domain.models import Product, Promo, PromoProduct
from esa_domain.ordering.targets import validate_target
from esa_domain.ordering.verify import check_operator

ACTOR = "system:orders"
_TRADE_NO_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class OrderLine:
    product_code: str
    target: str
    zone: str | None = None


@dataclass(frozen=True)
class OrderRequest:
    customer_id: int
    idempotency_key: str
    lines: tuple[OrderLine, ...]
    promo_code: str | None = None
    # where the e-invoice goes (issue 19); None: none. Checked with ECPay before the order (POST
    # /api/v1/invoice-carrier/check); place_order re-checks its format only, so the hot path calls no one
    carrier: Carrier | None = None


@dataclass(frozen=True)
class OrderPolicy:
    payment_window: timedelta = timedelta(minutes=30)
    fx_max_age: timedelta = timedelta(hours=24)
    max_items: int = 10
    # ECPay is asked about a still unpaid order this long after its window closes (then healed or expired)
    check_after_window: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class PlacedOrder:
    payment_id: int
    merchant_trade_no: str
    amount_twd: int
    status: str
    expires_at: datetime
    replayed: bool = False  # True when the idempotency key returned an existing order
    item_ids: tuple[int, ...] = ()  # in line order, when this call wrote the order
    quote: Quote | None = None  # what this call wrote (None for a replay)
    created_at: datetime | None = None


@dataclass(frozen=True)
class CatalogProduct:
    """A product as quoted: the columns pricing and validation read."""

    id: int
    code: str
    name: str
    price_twd: int
    active: bool
    target_kind: str
    postpaid: bool = False  # a bill: ordered only from its inquiry (esa_domain.ordering.bills)
    sale_from: time | None = None  # its daily hours (esa_domain.catalog.display); None: all day
    sale_until: time | None = None


@dataclass(frozen=True)
class Offer:
    cost_idr: int
    fee_idr: int
    fee_twd: int


@dataclass(frozen=True)
class QuoteCatalog:
    """Everything one quote reads, fetched in a single statement: the products asked for, their available
    offers from enabled suppliers, and the newest FX rate."""

    products: dict[str, CatalogProduct]
    offers: dict[int, list[Offer]]  # by product id
    fx_rate_id: int | None
    fx_rate: Decimal | None
    fx_fetched_at: datetime | None

    def kinds(self) -> dict[str, str]:
        return {code: p.target_kind for code, p in self.products.items()}


_CATALOG = """
    SELECT fx.id AS fx_id, fx.rate AS fx_rate, fx.fetched_at AS fx_fetched_at,
           p.id, p.code, p.name, p.price_twd, p.active, p.target_kind, k.kind, p.sale_from, p.sale_until,
           o.cost_idr, o.fee_idr, o.fee_twd
    FROM (SELECT 1) AS one
    LEFT JOIN LATERAL (
        SELECT id, rate, fetched_at FROM fx_rates WHERE pair = %(pair)s
        ORDER BY fetched_at DESC, id DESC LIMIT 1
    ) AS fx ON true
    LEFT JOIN products AS p ON p.code = ANY(%(codes)s)
    LEFT JOIN product_categories AS k ON k.id = p.category_id
    LEFT JOIN LATERAL (
        SELECT so.cost_idr, su.fee_idr, su.fee_twd
        FROM supplier_offers AS so JOIN suppliers AS su ON su.id = so.supplier_id
        WHERE so.product_id = p.id AND so.available AND su.enabled
    ) AS o ON true
    """


def load_catalog(session: Session, codes: set[str] | frozenset[str], pair: str = PAIR) -> QuoteCatalog:
    """One round trip for what a quote of these product codes needs."""
    products: dict[str, CatalogProduct] = {}
    offers: dict[int, list[Offer]] = {}
    fx_id = fx_rate = fx_at = None
    cursor = driver(session).cursor(row_factory=namedtuple_row)
    for r in cursor.execute(_CATALOG, {"pair": pair, "codes": sorted(codes)}).fetchall():
        fx_id, fx_rate, fx_at = r.fx_id, r.fx_rate, r.fx_fetched_at
        if r.id is None:
            continue
        products.setdefault(
            r.code,
            CatalogProduct(
                r.id,
                r.code,
                r.name,
                r.price_twd,
                r.active,
                r.target_kind,
                r.kind == "postpaid",
                r.sale_from,
                r.sale_until,
            ),
        )
        if r.cost_idr is not None:
            offers.setdefault(r.id, []).append(Offer(r.cost_idr, r.fee_idr, r.fee_twd))
    return QuoteCatalog(products, offers, fx_id, fx_rate, fx_at)


@dataclass
class _PricedLine:
    product: CatalogProduct
    target: str
    zone: str | None
    cost_idr: int
    cost_twd: Decimal


@dataclass
class Quote:
    lines: list[_PricedLine]
    subtotal_twd: int
    discount_twd: int
    amount_twd: int
    fx_rate_id: int
    fx_rate: Decimal
    cost_idr: int
    cost_twd: Decimal
    promo: Promo | None = None
    notes: list[str] = field(default_factory=list)


def new_merchant_trade_no(now: datetime) -> str:
    """Unique forever per merchant: 'E' + yymmdd + 13 random alphanumerics (20 characters, ECPay's limit)."""
    return "E" + now.strftime("%y%m%d") + "".join(secrets.choice(_TRADE_NO_ALPHABET) for _ in range(13))


def request_hash(
    lines: list[tuple[str, str, str | None]], promo_code: str | None, carrier: Carrier | None = None
) -> str:
    """The digest an idempotency key is bound to. A carrier other than none is part of the request (the same key
    with another carrier is another order); without one the digest is what it was before carriers existed."""
    request: dict = {"lines": lines, "promo": (promo_code or "").upper() or None}
    if carrier is not None and carrier.kind != "none":
        request["carrier"] = [carrier.kind, carrier.value]
    canonical = json.dumps(request, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _validate_shape(request: OrderRequest, policy: OrderPolicy) -> None:
    key = request.idempotency_key
    if not key or len(key) > 80 or not key.isprintable():
        raise InvalidRequest("an Idempotency-Key of 1 to 80 printable characters is required")
    if not request.lines:
        raise InvalidRequest("an order needs at least one item")
    if len(request.lines) > policy.max_items:
        raise InvalidRequest(f"an order holds at most {policy.max_items} items")


def _cheapest_offer(catalog: QuoteCatalog, product: CatalogProduct, rate: Decimal) -> tuple[int, Decimal]:
    offers = catalog.offers.get(product.id)
    if not offers:
        raise ProductUnavailable(
            f"{product.name} cannot be delivered right now (no supplier has it in stock); please try later",
            product=product.code,
        )
    costs = [
        (o.cost_idr, effective_cost_twd(o.cost_idr, rate, fee_idr=o.fee_idr, fee_twd=o.fee_twd))
        for o in offers
    ]
    return min(costs, key=lambda c: c[1])


def _usable_rate(catalog: QuoteCatalog, now: datetime, max_age: timedelta) -> tuple[int, Decimal]:
    """The newest rate, if fresh enough to quote with; otherwise StaleRate (never misprice)."""
    fetched_at = catalog.fx_fetched_at if catalog.fx_rate is not None else None
    ensure_fresh(fetched_at, now=now, max_age=max_age)
    assert catalog.fx_rate_id is not None and catalog.fx_rate is not None
    return catalog.fx_rate_id, catalog.fx_rate


# the customer's next free use number of the promo, up to its per-customer limit (none free: no row)
_PROMO_USE = text(
    """
    INSERT INTO promo_usages (promo_id, customer_id, payment_id, discount_twd, use_no)
    SELECT :promo_id, :customer_id, :payment_id, :discount, n
    FROM promos pr CROSS JOIN LATERAL generate_series(1, pr.per_customer_limit) AS n
    WHERE pr.id = :promo_id
      AND n NOT IN (SELECT u.use_no FROM promo_usages u WHERE u.promo_id = :promo_id AND u.customer_id = :customer_id)
    ORDER BY n
    LIMIT 1
    RETURNING id
    """
)


def promo_base(session: Session, promo: Promo, code: str, lines: list[_PricedLine]) -> int | None:
    """What a promo for some products discounts: the price of the order's lines it is for (None: a promo for
    every product). Refused when the order holds none of them."""
    eligible = set(
        session.exec(select(PromoProduct.product_id).where(PromoProduct.promo_id == promo.id)).all()
    )
    if not eligible:
        return None
    base = sum(line.product.price_twd for line in lines if line.product.id in eligible)
    if base == 0:
        names = session.exec(
            select(Product.name).where(col(Product.id).in_(sorted(eligible))).order_by(Product.name)
        ).all()
        raise PromoError(f"promo code '{code}' is only for {', '.join(names)}; this order holds none of them")
    return base


def _promo_discount(
    session: Session, code: str, subtotal: int, now: datetime, lines: list[_PricedLine] | None = None
) -> tuple[Promo, int]:
    promo = session.exec(select(Promo).where(Promo.code == code.strip().upper())).first()
    if promo is None or not promo.active:
        raise PromoUnknown(f"promo code '{code}' does not exist or is no longer offered")
    if promo.starts_at and now < promo.starts_at:
        raise PromoNotStarted(f"promo code '{code}' starts on {promo.starts_at:%Y-%m-%d}")
    if promo.ends_at and now >= promo.ends_at:
        raise PromoExpired(f"promo code '{code}' expired on {promo.ends_at:%Y-%m-%d}")
    if promo.max_uses is not None and promo.used_count >= promo.max_uses:
        raise PromoExhausted(f"promo code '{code}' has been used up")
    if subtotal < promo.min_order_twd:
        raise PromoMinimumNotMet(f"promo code '{code}' needs an order of at least NT${promo.min_order_twd}")
    base = promo_base(session, promo, code, lines or [])  # a promo for some products discounts only them
    discount = (
        (base if base is not None else subtotal) * promo.value // 100
        if promo.kind == "percent"
        else promo.value
    )
    if base is not None:
        discount = min(discount, base)
    if promo.max_discount_twd is not None:
        discount = min(discount, promo.max_discount_twd)
    return promo, min(discount, subtotal - 1)  # ECPay charges at least NT$1


def quote(
    session: Session,
    request: OrderRequest,
    *,
    now: datetime,
    policy: OrderPolicy,
    catalog: QuoteCatalog | None = None,
) -> Quote:
    """Validate and price a request without writing anything. `catalog`: from `load_catalog`, if the caller
    already read it (one read serves the API's field checks, the idempotency digest and the price)."""
    _validate_shape(request, policy)
    if catalog is None:
        catalog = load_catalog(session, {line.product_code for line in request.lines})
    fx_rate_id, rate = _usable_rate(catalog, now, policy.fx_max_age)
    priced: list[_PricedLine] = []
    for line in request.lines:
        product = catalog.products.get(line.product_code)
        if product is None:
            raise UnknownProduct(f"there is no product '{line.product_code}'", product=line.product_code)
        if not product.active:
            raise ProductUnavailable(f"{product.name} is not on sale at the moment", product=product.code)
        if not in_sale_hours(product.sale_from, product.sale_until, now):
            raise ProductUnavailable(
                f"{product.name} is sold only {hours_words(product.sale_from, product.sale_until)} (Taipei time); "
                "please order it then",
                product=product.code,
            )
        if product.postpaid:  # its price is the bill's, known only from an inquiry
            raise InvalidRequest(
                f"{product.name} is a bill: check the bill first, then pay it from what the check found",
                product=product.code,
            )
        target, zone = validate_target(product.target_kind, line.target, line.zone)
        check_operator(product.code, product.name, product.target_kind, target)  # before anything is paid
        cost_idr, cost_twd = _cheapest_offer(catalog, product, rate)
        priced.append(_PricedLine(product, target, zone, cost_idr, cost_twd))
    subtotal = sum(p.product.price_twd for p in priced)
    promo, discount = (None, 0)
    if request.promo_code:
        promo, discount = _promo_discount(session, request.promo_code, subtotal, now, priced)
    return Quote(
        lines=priced,
        subtotal_twd=subtotal,
        discount_twd=discount,
        amount_twd=subtotal - discount,
        fx_rate_id=fx_rate_id,
        fx_rate=rate,
        cost_idr=sum(p.cost_idr for p in priced),
        cost_twd=sum((p.cost_twd for p in priced), Decimal(0)),
        promo=promo,
    )


def _request_digest(catalog: QuoteCatalog, request: OrderRequest) -> str:
    normalised = []
    for line in request.lines:
        product = catalog.products.get(line.product_code)
        if product is None:
            raise UnknownProduct(f"there is no product '{line.product_code}'", product=line.product_code)
        target, zone = validate_target(product.target_kind, line.target, line.zone)
        normalised.append((line.product_code, target, zone))
    return request_hash(normalised, request.promo_code, request.carrier)


_EXISTING = text(
    "SELECT id, merchant_trade_no, amount_twd, status, expires_at, request_hash FROM payments "
    "WHERE customer_id = :customer_id AND idempotency_key = :key"
)


def _existing(session: Session, request: OrderRequest, digest: str) -> PlacedOrder | None:
    row = session.execute(
        _EXISTING, {"customer_id": request.customer_id, "key": request.idempotency_key}
    ).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different order; use a new key for a new order",
            payment_id=row.id,
        )
    return PlacedOrder(row.id, row.merchant_trade_no, row.amount_twd, row.status, row.expires_at, True)


def place_order(
    uow: UnitOfWork,
    request: OrderRequest,
    *,
    now: datetime | None = None,
    policy: OrderPolicy | None = None,
    catalog: QuoteCatalog | None = None,
) -> PlacedOrder:
    """Validate, price and write an order (payment, items, history, promo usage, outbox) in one transaction.

    The happy path is two statements: one read (`load_catalog`) and one write (`_write`). A replay of an
    earlier order is recognised by the idempotency index itself (the insert does nothing), or, when the
    request can no longer be quoted (a price or availability changed), by looking the key up before failing.
    """
    now = now or datetime.now(UTC)
    policy = policy or OrderPolicy()
    session = uow.session
    _validate_shape(request, policy)
    if request.carrier is not None:  # its format only (InvalidCarrier); ECPay was asked before, by the API
        request = replace(request, carrier=parse_carrier(request.carrier.kind, request.carrier.value))
    if catalog is None:
        catalog = load_catalog(session, {line.product_code for line in request.lines})
    digest = _request_digest(catalog, request)
    try:
        q = quote(session, request, now=now, policy=policy, catalog=catalog)
    except DomainError:
        # a replay returns the original order even if prices or availability changed since
        replay = _existing(session, request, digest)
        uow.rollback()
        if replay is not None:
            return replay
        raise
    try:
        placed = _write(session, request, q, digest, now, policy)
        if placed is None:  # the key is taken: an earlier or concurrent request placed this order
            replay = _existing(session, request, digest)
            uow.rollback()
            if replay is None:  # cannot happen: the conflicting row is committed before we return
                raise InvalidRequest("this Idempotency-Key is in use by an order being placed; retry")
            return replay
        uow.commit()
        return placed
    except (IntegrityError, psycopg.IntegrityError) as exc:
        uow.rollback()
        diag = getattr(getattr(exc, "orig", exc), "diag", None)  # SQLAlchemy wraps; psycopg's own does not
        constraint = getattr(diag, "constraint_name", None) or ""
        if constraint == "ck_promo_usage_limit":
            raise PromoExhausted(f"promo code '{request.promo_code}' has been used up") from None
        if constraint == "uq_promo_usage_customer_use":  # a concurrent order took the same use
            raise PromoAlreadyUsed(f"you have already used promo code '{request.promo_code}'") from None
        if "customer_id" in constraint:
            raise InvalidRequest(f"customer {request.customer_id} does not exist") from None
        raise


# The whole order in one statement: the payment with its e-invoice carrier (the idempotency index decides: a taken key inserts nothing,
# and then nothing else is written), its history row, the items and their history rows, and the outbox row
# that asks ECPay about the payment at the end of its window.
_WRITE = f"""
    WITH p AS (
        INSERT INTO payments (merchant_trade_no, customer_id, status, subtotal_twd, discount_twd, amount_twd,
            promo_id, fx_rate_id, fx_rate, cost_idr, cost_twd, idempotency_key, request_hash, expires_at,
            refunded_twd, created_at, invoice_carrier_kind, invoice_carrier_value)
        VALUES (%(trade_no)s, %(customer_id)s, '{initial_state(PAYMENT)}', %(subtotal)s, %(discount)s, %(amount)s, %(promo_id)s, %(fx_rate_id)s,
            %(fx_rate)s, %(cost_idr)s, %(cost_twd)s, %(key)s, %(digest)s, %(expires_at)s, 0, %(now)s,
            %(carrier_kind)s, %(carrier_value)s)
        ON CONFLICT (customer_id, idempotency_key) DO NOTHING
        RETURNING id
    ), {born(PAYMENT, rows="p", name="ph", cause="'order placed'", actor="%(actor)s")}, i AS (
        INSERT INTO payment_items (payment_id, product_id, target, zone, status, price_twd, cost_idr, created_at)
        SELECT p.id, l.product_id, l.target, l.zone, '{initial_state(ITEM)}', l.price_twd, l.cost_idr, %(now)s
        FROM p, unnest(CAST(%(product_ids)s AS bigint[]), CAST(%(targets)s AS text[]), CAST(%(zones)s AS text[]),
                       CAST(%(prices)s AS bigint[]), CAST(%(costs)s AS bigint[]))
                WITH ORDINALITY AS l(product_id, target, zone, price_twd, cost_idr, n)
        ORDER BY l.n
        RETURNING id, payment_id
    ), {born(ITEM, rows="i", name="ih", cause="'order placed'", actor="%(actor)s")}, o AS (
        INSERT INTO outbox (topic, payload, available_at, dispatch_attempts)
        SELECT 'check_payment', jsonb_build_object('payment_id', id), %(check_at)s, 0 FROM p
        RETURNING id, payload
    )
    SELECT p.id, o.id AS outbox_id, o.payload AS outbox_payload,
           (SELECT array_agg(id ORDER BY id) FROM i) AS item_ids
    FROM p, o
    """  # noqa: S608 (constants only)


def _write(
    session: Session, request: OrderRequest, q: Quote, digest: str, now: datetime, policy: OrderPolicy
) -> PlacedOrder | None:
    """Write the order; None when the idempotency key is already taken (nothing was written)."""
    expires_at = now + policy.payment_window
    check_at = expires_at + policy.check_after_window  # ask ECPay, then heal or expire
    trade_no = new_merchant_trade_no(now)
    row = (
        driver(session)
        .cursor(row_factory=namedtuple_row)
        .execute(
            _WRITE,
            {
                "trade_no": trade_no,
                "customer_id": request.customer_id,
                "subtotal": q.subtotal_twd,
                "discount": q.discount_twd,
                "amount": q.amount_twd,
                "promo_id": q.promo.id if q.promo else None,
                "fx_rate_id": q.fx_rate_id,
                "fx_rate": q.fx_rate,
                "cost_idr": q.cost_idr,
                "cost_twd": q.cost_twd,
                "key": request.idempotency_key,
                "digest": digest,
                "expires_at": expires_at,
                "now": now,
                "actor": ACTOR,
                "product_ids": [line.product.id for line in q.lines],
                "targets": [line.target for line in q.lines],
                "zones": [line.zone for line in q.lines],
                "prices": [line.product.price_twd for line in q.lines],
                "costs": [line.cost_idr for line in q.lines],
                "check_at": check_at,
                "carrier_kind": request.carrier.kind if request.carrier else "none",
                "carrier_value": request.carrier.value if request.carrier else None,
            },
        )
        .fetchone()
    )
    if row is None:
        return None
    outbox.remember(session, row.outbox_id, "check_payment", row.outbox_payload, check_at)
    if q.promo is not None:
        # the CHECK constraint refuses the use past max_uses; the customer's uses take the numbers 1..their
        # limit (the unique index refuses one number twice, so two concurrent orders cannot both take the last)
        session.execute(
            text("UPDATE promos SET used_count = used_count + 1 WHERE id = :id"), {"id": q.promo.id}
        )
        used = session.execute(
            _PROMO_USE,
            {
                "promo_id": q.promo.id,
                "customer_id": request.customer_id,
                "payment_id": row.id,
                "discount": q.discount_twd,
            },
        ).first()
        if used is None:
            raise PromoAlreadyUsed(f"you have already used promo code '{q.promo.code}' as often as it allows")
    return PlacedOrder(
        row.id,
        trade_no,
        q.amount_twd,
        PaymentStatus.PENDING,
        expires_at,
        item_ids=tuple(row.item_ids),
        quote=q,
        created_at=now,
    )
