"""Read models for the customer API: the catalog as sold, and a customer's own orders (never others')."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, exists, text
from sqlmodel import Session, col, select

from esa_api.customer.schemas import (
    BillOut,
    CatalogOut,
    CategoryOut,
    DeliveryOut,
    OrderItemOut,
    OrderOut,
    PaymentCodeOut,
    ProductOut,
)
from esa_api.customer.target_hints import TARGET_SPECS
from esa_domain.catalog.display import in_sale_hours
from esa_domain.core.states import ITEM, PAYMENT, ItemStatus, PaymentStatus
from esa_domain.fulfillment.delivery import deliveries_for
from esa_domain.models import Payment, PaymentItem, Product, ProductCategory, Supplier, SupplierOffer
from esa_domain.ordering import wording
from esa_domain.ordering.bills import bills_for_items
from esa_domain.payments.checkout import LastCheckout, last_checkouts
from esa_domain.payments.second_payment import PURPOSE as SECOND_PAYMENT


def payment_words(status: str, language: str = "id") -> dict[str, Any]:
    """An order's status as the customer reads it (esa_domain.core.states is the one source of wording)."""
    return {
        "status_text": PAYMENT.customer_text(status, language),
        "status_colour": PAYMENT[status].colour,
        "final": PAYMENT.customer_final(status),
    }


def item_words(
    status: str, *, paid: bool, language: str = "id", order_status: str | None = None
) -> dict[str, Any]:
    """An item's status as the customer reads it; `paid`: its order's money has arrived. An item of an order
    that was never paid reads as its order does (never "queued for delivery")."""
    if order_status == PaymentStatus.EXPIRED and status == ItemStatus.PENDING:
        return payment_words(order_status, language)
    return {
        "status_text": ITEM.customer_text(status, language, paid=paid),
        "status_colour": ITEM[status].colour,
        "final": ITEM.customer_final(status),
    }


def in_language(order: OrderOut, language: str) -> OrderOut:
    """The same order with its wording in `language` (for a view built before the language was known)."""
    paid = order.paid_at is not None
    return order.model_copy(
        update={
            **payment_words(order.status, language),
            "items": [
                i.model_copy(
                    update=item_words(i.status, paid=paid, language=language, order_status=order.status)
                )
                for i in order.items
            ],
        }
    )  # a just-placed order: nothing failed, refunded or declined yet


def catalog(engine: Engine) -> CatalogOut:
    """Active products by category, with prices, the target each needs and whether it can be delivered."""
    deliverable = (
        exists()
        .where(SupplierOffer.product_id == Product.id, col(SupplierOffer.available))
        .where(Supplier.id == SupplierOffer.supplier_id, col(Supplier.enabled))
    )
    with Session(engine) as s:
        cats = s.exec(
            select(ProductCategory).order_by(col(ProductCategory.sort_order), col(ProductCategory.id))
        )
        categories = list(cats.all())
        rows = s.exec(
            select(Product, deliverable.label("available"))
            .where(col(Product.active))
            .order_by(col(Product.display_order), col(Product.price_twd), col(Product.id))
        ).all()
    now = datetime.now(UTC)  # outside its daily hours (Shop set-up) a product is listed as not available now
    by_cat: dict[int, list[ProductOut]] = {}
    for product, available in rows:
        by_cat.setdefault(product.category_id, []).append(
            ProductOut(
                code=product.code,
                name=product.name,
                price_twd=product.price_twd,
                nominal_idr=product.nominal_idr,
                target_kind=product.target_kind,  # type: ignore[arg-type]
                target=TARGET_SPECS[product.target_kind],
                available=bool(available) and in_sale_hours(product.sale_from, product.sale_until, now),
            )
        )
    return CatalogOut(
        categories=[
            CategoryOut(code=c.code, name=c.name, kind=c.kind, products=by_cat[c.id])  # type: ignore[index]
            for c in categories
            if by_cat.get(c.id)  # type: ignore[arg-type]
        ]
    )


def checkout_url(public_url: str, payment: Payment, now: datetime | None = None) -> str | None:
    """The ECPay hand-off URL while the order can still be paid, else None."""
    if payment.status != PaymentStatus.PENDING or payment.expires_at <= (now or datetime.now(UTC)):
        return None
    return checkout_link(public_url, payment.merchant_trade_no)


def checkout_link(public_url: str, merchant_trade_no: str) -> str:
    return f"{public_url.rstrip('/')}/ecpay/checkout/{merchant_trade_no}"


def _views(s: Session, payments: list[Payment], public_url: str, language: str) -> list[OrderOut]:
    if not payments:
        return []
    ids = [p.id for p in payments]
    rows = s.exec(
        select(PaymentItem, Product.code, Product.name)
        .join(Product, col(Product.id) == col(PaymentItem.product_id))
        .where(col(PaymentItem.payment_id).in_(ids))
        .order_by(col(PaymentItem.id))
    ).all()
    paid = {p.id: p.paid_at is not None for p in payments}
    # decrypted only here, for the order's owner (callers select the customer's own payments)
    delivered = deliveries_for(s, [i.id for i, _, _ in rows if i.status == ItemStatus.SUCCESS])
    failed = [i.id for i, _, _ in rows if i.status == ItemStatus.FAILED]
    failure_class = _failure_classes(s, failed)
    checkouts = last_checkouts(s, ids)  # type: ignore[arg-type]
    bills = bills_for_items(s, [i.id for i, _, _ in rows])  # type: ignore[misc]
    second = _second_payments(s, ids)  # type: ignore[arg-type]
    status_of = {p.id: p.status for p in payments}
    items: dict[int, list[OrderItemOut]] = {}
    for item, code, name in rows:
        items.setdefault(item.payment_id, []).append(
            OrderItemOut(
                id=item.id,  # type: ignore[arg-type]
                product_code=code,
                product_name=name,
                target=item.target,
                zone=item.zone,
                status=item.status,
                **item_words(
                    item.status,
                    paid=paid[item.payment_id],
                    language=language,
                    order_status=status_of[item.payment_id],
                ),
                price_twd=item.price_twd,
                failure_reason=wording.failure_reason(failure_class.get(item.id), language)
                if item.status == ItemStatus.FAILED
                else None,
                delivered_code=item.artifact if item.status == ItemStatus.SUCCESS else None,
                delivery=DeliveryOut(**d.as_dict()) if (d := delivered.get(item.id)) else None,  # type: ignore[arg-type]
                bill=BillOut(**b) if (b := bills.get(item.id)) else None,  # type: ignore[arg-type]
            )
        )
    now = datetime.now(UTC)
    return [
        OrderOut(
            id=p.id,  # type: ignore[arg-type]
            reference=p.merchant_trade_no,
            status=p.status,
            **payment_words(p.status, language),
            subtotal_twd=p.subtotal_twd,
            discount_twd=p.discount_twd,
            amount_twd=p.amount_twd,
            created_at=p.created_at,
            expires_at=p.expires_at,
            paid_at=p.paid_at,
            checkout_url=checkout_url(public_url, p, now),
            **_payment_extras(p, checkouts.get(p.id), language, now),  # type: ignore[arg-type]
            second_payment_note=_second_payment_note(second.get(p.id), p.payment_method, language),  # type: ignore[arg-type]
            items=items.get(p.id, []),  # type: ignore[arg-type]
        )
        for p in payments
    ]


def _second_payments(s: Session, payment_ids: list[int]) -> dict[int, tuple[int, bool]]:
    """payment id -> (amount, refunded yet) of the refund of a second accepted payment of the same order."""
    rows = s.connection().execute(
        text(
            "SELECT payment_id, sum(amount_twd) AS amount, bool_and(status = 'CONFIRMED') AS done FROM refunds "
            "WHERE payment_id = ANY(:ids) AND purpose = :purpose GROUP BY payment_id"
        ),
        {"ids": payment_ids, "purpose": SECOND_PAYMENT},
    )
    return {r.payment_id: (int(r.amount), bool(r.done)) for r in rows}


def _second_payment_note(second: tuple[int, bool] | None, method: str | None, language: str) -> str | None:
    return wording.second_payment(second[0], second[1], method, language) if second else None


_REFUNDING = (
    PaymentStatus.PARTIAL,
    PaymentStatus.FAILED,
    PaymentStatus.REFUND_PENDING,
    PaymentStatus.REFUNDED,
    PaymentStatus.NEEDS_REVIEW,
)


def _payment_extras(p: Payment, last: LastCheckout | None, language: str, now: datetime) -> dict[str, Any]:
    """What the customer needs beyond the status: why the last try to pay failed, an offline payment code,
    when a refund comes back."""
    out: dict[str, Any] = {}
    waiting = p.status == PaymentStatus.PENDING and p.expires_at > now
    if waiting and last is not None:
        if last.v_account or last.payment_no or last.barcodes:
            out["payment_code"] = PaymentCodeOut(
                method=wording.payment_code_title(last.payment_type, language),
                payment_type=last.payment_type or "",
                bank_code=last.bank_code,
                v_account=last.v_account,
                payment_no=last.payment_no,
                barcodes=list(last.barcodes),
                amount_twd=last.info_amount_twd or p.amount_twd,
                pay_by=last.pay_by,
            )
        elif last.rtn_code:
            out["payment_problem"] = wording.payment_problem(last.rtn_code, last.rtn_msg, language)
    if p.status in _REFUNDING:
        out["refund_note"] = wording.refund_when(p.payment_method, language)
    return out


def _failure_classes(s: Session, item_ids: list[int]) -> dict[int, str | None]:
    """Each failed item's last supplier attempt's failure class (customer: the number was refused)."""
    if not item_ids:
        return {}
    rows = s.connection().execute(
        text(
            "SELECT DISTINCT ON (item_id) item_id, failure_class FROM item_attempts "
            "WHERE item_id = ANY(:ids) ORDER BY item_id, id DESC"
        ),
        {"ids": item_ids},
    )
    return {r.item_id: r.failure_class for r in rows}


def own_payment(s: Session, customer_id: int, order_id: int) -> Payment | None:
    """The order if it belongs to `customer_id`; None whether it is missing or someone else's."""
    return s.exec(select(Payment).where(Payment.id == order_id, Payment.customer_id == customer_id)).first()


def own_order(
    engine: Engine, customer_id: int, order_id: int, public_url: str, language: str = "id"
) -> OrderOut | None:
    with Session(engine) as s:
        return order_view(s, customer_id, order_id, public_url, language)


def order_view(
    s: Session, customer_id: int, order_id: int, public_url: str, language: str = "id"
) -> OrderOut | None:
    """One of the customer's orders, or None when it is not theirs (or does not exist)."""
    payment = own_payment(s, customer_id, order_id)
    return _views(s, [payment], public_url, language)[0] if payment else None


def own_orders(
    engine: Engine,
    customer_id: int,
    *,
    limit: int,
    before: int | None,
    public_url: str,
    language: str = "id",
) -> tuple[list[OrderOut], int | None]:
    """Newest first, keyset-paged by id: (this page, the `before` for the next page or None)."""
    query = select(Payment).where(Payment.customer_id == customer_id)
    if before is not None:
        query = query.where(col(Payment.id) < before)
    with Session(engine) as s:
        payments = list(s.exec(query.order_by(col(Payment.id).desc()).limit(limit + 1)).all())
        more = len(payments) > limit
        page = _views(s, payments[:limit], public_url, language)
    return page, (page[-1].id if more and page else None)
