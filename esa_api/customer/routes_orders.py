"""A customer's orders: place one (idempotently), read one's own, list them, and hand off to ECPay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from esa_api.customer import ordering, reads, routes_invoice
from esa_api.customer.auth import CurrentCustomer, current_customer
from esa_api.customer.config import CustomerApiConfig
from esa_api.customer.deps import get_config
from esa_api.customer.i18n import preferred_language
from esa_api.customer.problems import Problem
from esa_api.customer.responses import problems
from esa_api.customer.schemas import CheckoutOut, OrderOut, OrderPage, QuoteIn
from esa_api.deps import get_runtime
from esa_domain.core.states import PAYMENT
from esa_domain.infra import logging_setup
from esa_domain.infra.runtime import Runtime

# every route here needs the customer; current_customer counts the address and customer limits
router = APIRouter(prefix="/api/v1/orders", tags=["customer: orders"])
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the order id")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[!-~]{1,80}$",
        description="one fresh value (a UUID) per order attempt; resend it when retrying the same attempt",
    ),
]


def customer_language(
    response: Response,
    accept_language: Annotated[
        str | None,
        Header(
            max_length=500,
            description="id (the default), en or zh-Hant (zh-TW): the language of `status_text`",
        ),
    ] = None,
) -> str:
    language = preferred_language(accept_language)
    response.headers["Content-Language"] = language
    response.headers.add_vary_header("Accept-Language")
    return language


Language = Annotated[str, Depends(customer_language)]


def _not_found(order_id: int) -> Problem:
    # the same answer whether the order is missing or someone else's: existence never leaks
    return Problem(404, "order_not_found", f"you have no order {order_id}; see GET /api/v1/orders")


@router.post(
    "",
    response_model=OrderOut,
    status_code=201,
    responses={200: {"model": OrderOut, "description": "A replay: this key already placed this order"}}
    | problems(400, 401, 409, 503),
)
async def place_order(
    body: QuoteIn,
    response: Response,
    idempotency_key: IdempotencyKey,
    language: Language,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    cfg: CustomerApiConfig = Depends(get_config),
) -> OrderOut:
    """Place an order; it waits for payment through `checkout_url`. The same key and body returns the same
    order (200, `Idempotent-Replayed: true`); the same key with another body is a 409."""
    placed, order = await run_in_threadpool(
        ordering.place,
        rt,
        me.id,
        idempotency_key,
        body.items,
        body.promo_code,
        cfg.policy,
        cfg.public_url,
        body.invoice_carrier,
    )
    logging_setup.bind(payment_id=placed.payment_id)  # on this request's access line
    if order is None:  # placed for this customer a moment ago: cannot be missing
        raise _not_found(placed.payment_id)
    if placed.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return reads.in_language(order, language)


@router.get("", response_model=OrderPage, responses=problems(401))
async def list_orders(
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="from `next_before`")] = None,
    *,
    language: Language,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    cfg: CustomerApiConfig = Depends(get_config),
) -> OrderPage:
    """Your orders, newest first."""
    page, nxt = await run_in_threadpool(
        lambda: reads.own_orders(
            rt.engine, me.id, limit=limit, before=before, public_url=cfg.public_url, language=language
        )
    )
    return OrderPage(orders=page, next_before=nxt)


@router.get("/{order_id}", response_model=OrderOut, responses=problems(401, 404))
async def get_order(
    order_id: OrderId,
    language: Language,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    cfg: CustomerApiConfig = Depends(get_config),
) -> OrderOut:
    """One of your orders, with its items and status (poll it after paying, until `final`)."""
    order = await run_in_threadpool(reads.own_order, rt.engine, me.id, order_id, cfg.public_url, language)
    if order is None:
        raise _not_found(order_id)
    return await run_in_threadpool(routes_invoice.with_invoice, rt, order, language)


@router.get("/{order_id}/checkout", response_model=CheckoutOut, responses=problems(401, 404, 409))
async def get_checkout(
    order_id: OrderId,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    cfg: CustomerApiConfig = Depends(get_config),
) -> CheckoutOut:
    """Where to pay this order: a page of ours that hands the payer to ECPay."""
    order = await run_in_threadpool(reads.own_order, rt.engine, me.id, order_id, cfg.public_url)
    if order is None:
        raise _not_found(order_id)
    if order.checkout_url is None:
        raise Problem(
            409,
            "order_not_payable",
            f"order {order_id} is {PAYMENT.customer_text(order.status, 'en').lower()}; it can no longer be paid. "
            "Place a new order.",
        )
    return CheckoutOut(
        order_id=order.id,
        checkout_url=order.checkout_url,
        amount_twd=order.amount_twd,
        expires_at=order.expires_at,
    )
