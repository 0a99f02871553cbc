"""Quote, promo check and order placement for the API: the domain does the work; this maps its errors to
the request field at fault, so the Mini App can point at the box to fix."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, func, select

from esa_api.customer import reads
from esa_api.customer.problems import Problem
from esa_api.customer.schemas import InvoiceCarrierIn, LineIn, OrderItemOut, OrderOut, QuoteLineOut, QuoteOut
from esa_domain.core.errors import (
    DomainError,
    IdempotencyConflict,
    InvalidTarget,
    PromoAlreadyUsed,
    PromoError,
    UnknownProduct,
)
from esa_domain.core.states import ItemStatus
from esa_domain.infra.runtime import Runtime
from esa_domain.invoicing.carrier import Carrier, InvalidCarrier
from esa_domain.models import PromoUsage
from esa_domain.ordering.orders import (
    OrderLine,
    OrderPolicy,
    OrderRequest,
    PlacedOrder,
    Quote,
    load_catalog,
    place_order,
    quote,
)
from esa_domain.ordering.targets import validate_target

QUOTE_KEY = "quote"  # quotes write nothing; the domain's shape check still wants a key


def _lines(items: Sequence[LineIn]) -> tuple[OrderLine, ...]:
    return tuple(OrderLine(i.product_code, i.target, i.zone or None) for i in items)


def check_targets(kinds: dict[str, str], items: Sequence[LineIn]) -> None:
    """Problem 422 naming `items[i].target` / `.zone` / `.product_code` for the first line that is wrong.

    `kinds`: product code -> target kind, for the codes asked for (`QuoteCatalog.kinds()`)."""
    for n, item in enumerate(items):
        kind = kinds.get(item.product_code)
        if kind is None:
            error = UnknownProduct(f"there is no product '{item.product_code}'; pick one from the catalog")
            raise Problem.of(error, field=f"items[{n}].product_code")
        try:
            validate_target(kind, item.target, item.zone)
        except InvalidTarget as exc:
            raise Problem.of(exc, field=f"items[{n}].{_bad_part(kind, item)}") from None


def _bad_part(kind: str, item: LineIn) -> str:
    if kind != "game_id_zone":
        return "target"
    try:
        validate_target("game_id", item.target)
    except InvalidTarget:
        return "target"
    return "zone"  # the user id is fine, so the zone is what is wrong


def _field_for(error: DomainError, items: Sequence[LineIn]) -> str | None:
    if isinstance(error, PromoError):
        return "promo_code"
    if isinstance(error, IdempotencyConflict):
        return "Idempotency-Key"
    product = error.details.get("product")
    for n, item in enumerate(items):
        if item.product_code == product:
            return f"items[{n}].product_code"
    return None


def _quote_out(q: Quote, promo_code: str | None) -> QuoteOut:
    return QuoteOut(
        items=[
            QuoteLineOut(
                product_code=line.product.code,
                product_name=line.product.name,
                target=line.target,
                zone=line.zone,
                price_twd=line.product.price_twd,
            )
            for line in q.lines
        ],
        subtotal_twd=q.subtotal_twd,
        discount_twd=q.discount_twd,
        amount_twd=q.amount_twd,
        promo_code=q.promo.code if q.promo else None,
    )


def price(
    engine: Engine, customer_id: int, items: Sequence[LineIn], promo_code: str | None, policy: OrderPolicy
) -> QuoteOut:
    """Price a basket for this customer without writing anything; a promo they already used is refused."""
    with Session(engine) as s:
        catalog = load_catalog(s, {i.product_code for i in items})
        check_targets(catalog.kinds(), items)
        request = OrderRequest(customer_id, QUOTE_KEY, _lines(items), promo_code)
        try:
            q = quote(s, request, now=datetime.now(UTC), policy=policy, catalog=catalog)
            if q.promo is not None:
                used = s.exec(
                    select(func.count()).where(
                        PromoUsage.promo_id == q.promo.id, PromoUsage.customer_id == customer_id
                    )
                ).one()
                if used >= q.promo.per_customer_limit:  # a use released by an expiry or refund counts no more
                    raise PromoAlreadyUsed(f"you have already used promo code '{q.promo.code}'")
        except DomainError as exc:
            raise Problem.of(exc, field=_field_for(exc, items)) from None
        return _quote_out(q, promo_code)


def place(
    rt: Runtime,
    customer_id: int,
    key: str,
    items: Sequence[LineIn],
    promo_code: str | None,
    policy: OrderPolicy,
    public_url: str,
    carrier: InvoiceCarrierIn | None = None,
) -> tuple[PlacedOrder, OrderOut | None]:
    """Place the order in one unit of work (outbox rows dispatched after the commit); return it and the
    customer's view of it: built from what was written, or read back for a replay. `carrier`: where its e-invoice
    goes, checked with ECPay before (POST /api/v1/invoice-carrier/check); here its format only."""
    chosen = Carrier(carrier.kind, carrier.value) if carrier is not None else None  # type: ignore[arg-type]
    request = OrderRequest(customer_id, key, _lines(items), promo_code, chosen)
    try:
        with rt.uow() as uow:
            catalog = load_catalog(uow.session, {i.product_code for i in items})
            check_targets(catalog.kinds(), items)
            placed = place_order(uow, request, policy=policy, catalog=catalog)
            if placed.quote is not None:
                return placed, _written_view(placed, placed.quote, public_url)
            return placed, reads.order_view(uow.session, customer_id, placed.payment_id, public_url)
    except InvalidCarrier as exc:
        from esa_api.customer.routes_invoice import carrier_problem

        raise carrier_problem(exc) from None
    except DomainError as exc:
        raise Problem.of(exc, field=_field_for(exc, items)) from None


def _written_view(placed: PlacedOrder, q: Quote, public_url: str) -> OrderOut:
    """The customer's view of an order this request has just written (what `reads.order_view` would read)."""
    return OrderOut(
        id=placed.payment_id,
        reference=placed.merchant_trade_no,
        status=placed.status,
        **reads.payment_words(placed.status),  # in the default language: the route words it for the request
        subtotal_twd=q.subtotal_twd,
        discount_twd=q.discount_twd,
        amount_twd=q.amount_twd,
        created_at=placed.created_at or datetime.now(UTC),
        expires_at=placed.expires_at,
        paid_at=None,
        checkout_url=reads.checkout_link(public_url, placed.merchant_trade_no),
        items=[
            OrderItemOut(
                id=item_id,
                product_code=line.product.code,
                product_name=line.product.name,
                target=line.target,
                zone=line.zone,
                status=ItemStatus.PENDING,
                **reads.item_words(ItemStatus.PENDING, paid=False),
                price_twd=line.product.price_twd,
                delivered_code=None,
            )
            for item_id, line in zip(placed.item_ids, q.lines, strict=True)
        ],
    )
