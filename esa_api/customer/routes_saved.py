"""Convenience people expect from a top-up app (issue 17, item 6): type the number first and see its operator
and that operator's products; saved numbers with the customer's own names ("Ibu", "Adik"); buy a past order
again; a receipt of a finished order.

The domain does the work (esa_domain.ordering.saved_numbers); errors answer in the customer's language through
the problem handlers (esa_api.customer.i18n).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from esa_api.customer import ordering, reads
from esa_api.customer.auth import CurrentCustomer, current_customer
from esa_api.customer.config import CustomerApiConfig
from esa_api.customer.deps import get_config
from esa_api.customer.problems import Problem
from esa_api.customer.responses import problems
from esa_api.customer.routes_orders import IdempotencyKey, Language, OrderId
from esa_api.customer.schemas import DeliveryOut, InvoiceCarrierIn, LineIn, OrderOut
from esa_api.deps import get_runtime
from esa_domain.core.errors import DomainError
from esa_domain.infra.runtime import Runtime
from esa_domain.invoicing.carrier_choice import saved_carrier
from esa_domain.models import SavedNumber
from esa_domain.ordering import saved_numbers, wording
from esa_domain.ordering.wording import is_offline

router = APIRouter(prefix="/api/v1", tags=["customer: numbers, buy again, receipts"])
SavedId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the saved number's id")]
Kind = Literal["phone", "pln_meter", "customer_no", "game_id"]
NameText = Annotated[str, Field(min_length=1, max_length=40, description='your name for it: "Ibu", "Adik"')]
NumberText = Annotated[
    str, Field(min_length=1, max_length=40, description="the number, as typed (08…, +62…)")
]


class NumberOut(BaseModel):
    kind: str
    number: str = Field(description="normalised as an order stores it (08…)")
    operator: str | None = Field(
        description="from the number's prefix (IAK's prefix list); null if not listed"
    )
    operator_name: str | None
    product_codes: list[str] = Field(description="the phone products for this operator, in catalogue order")
    saved_name: str | None = Field(description="your name for this number, when you saved it")


class SavedIn(BaseModel):
    name: NameText
    number: NumberText
    kind: Kind = "phone"


class RenameIn(BaseModel):
    name: NameText


class SavedOut(BaseModel):
    id: int
    name: str
    kind: str
    number: str
    operator: str | None
    operator_name: str | None


class SavedList(BaseModel):
    numbers: list[SavedOut]
    limit: int = Field(description="how many numbers a customer may keep")


class ReceiptItemOut(BaseModel):
    product_name: str
    target: str
    to_name: str | None = Field(description="your saved name for the number, if any")
    zone: str | None
    status: str
    status_text: str
    price_twd: int
    delivery: DeliveryOut | None


class ReceiptOut(BaseModel):
    order_id: int
    reference: str = Field(description="the payment reference ECPay shows (MerchantTradeNo)")
    status: str
    status_text: str
    status_colour: str
    payment_method: str | None = Field(description="how it was paid, in words in the request's language")
    paid_at: datetime | None
    finished_at: datetime | None
    subtotal_twd: int
    discount_twd: int
    amount_twd: int
    refunded_twd: int
    refund_note: str | None
    items: list[ReceiptItemOut]


_CARD = {"id": "Kartu kredit/debit", "en": "Credit/debit card", "zh-Hant": "信用卡/金融卡"}


def method_words(payment_method: str | None, language: str) -> str | None:
    if not payment_method:
        return None
    if is_offline(payment_method):
        return wording.payment_code_title(payment_method, language)
    if payment_method.startswith("Credit"):
        return _CARD.get(language, _CARD["en"])
    return payment_method


def _saved_out(s: SavedNumber) -> SavedOut:
    name = saved_numbers.OPERATOR_NAMES.get(s.operator) if s.operator else None
    return SavedOut(
        id=s.id, name=s.name, kind=s.kind, number=s.target, operator=s.operator, operator_name=name
    )  # type: ignore[arg-type]


def _domain(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except DomainError as exc:
        raise Problem.of(exc) from None


@router.get("/numbers/detect", response_model=NumberOut, responses=problems(401, 422))
async def detect_number(
    number: Annotated[str, Query(min_length=1, max_length=40, description="the number as typed")],
    kind: Annotated[Kind, Query()] = "phone",
    *,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
) -> NumberOut:
    """Type the number first: its operator from the prefix and the phone products that top it up."""

    def work() -> NumberOut:
        found = saved_numbers.detect(number, kind)
        catalog = reads.catalog(rt.engine)
        phones = [
            (p.code, p.name)
            for c in catalog.categories
            for p in c.products
            if p.target_kind == "phone" and c.kind == "prepaid"
        ]
        codes = saved_numbers.phone_products_for(phones, found.operator) if kind == "phone" else []
        with Session(rt.engine) as s:
            name = saved_numbers.names_by_target(s, me.id).get(found.target)
        return NumberOut(
            kind=found.kind,
            number=found.target,
            operator=found.operator,
            operator_name=found.operator_name,
            product_codes=codes,
            saved_name=name,
        )

    return await run_in_threadpool(_domain, work)


@router.get("/saved-numbers", response_model=SavedList, responses=problems(401))
async def list_saved(
    me: CurrentCustomer = Depends(current_customer), rt: Runtime = Depends(get_runtime)
) -> SavedList:
    """Your saved numbers, by name."""

    def work() -> SavedList:
        with Session(rt.engine) as s:
            rows = saved_numbers.list_saved(s, me.id)
            return SavedList(numbers=[_saved_out(r) for r in rows], limit=saved_numbers.MAX_SAVED)

    return await run_in_threadpool(work)


@router.post("/saved-numbers", response_model=SavedOut, status_code=201, responses=problems(401, 409, 422))
async def save_number(
    body: SavedIn, me: CurrentCustomer = Depends(current_customer), rt: Runtime = Depends(get_runtime)
) -> SavedOut:
    """Save a number under your name for it; saving a number you saved already renames it."""

    def work() -> SavedOut:
        with rt.uow() as uow:
            saved = saved_numbers.save(uow.session, me.id, body.name, body.number, body.kind)
            out = _saved_out(saved)
            uow.commit()
            return out

    return await run_in_threadpool(_domain, work)


@router.put("/saved-numbers/{saved_id}", response_model=SavedOut, responses=problems(401, 404, 422))
async def rename_number(
    saved_id: SavedId,
    body: RenameIn,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
) -> SavedOut:
    def work() -> SavedOut:
        with rt.uow() as uow:
            out = _saved_out(saved_numbers.rename(uow.session, me.id, saved_id, body.name))
            uow.commit()
            return out

    return await run_in_threadpool(_domain, work)


@router.delete("/saved-numbers/{saved_id}", status_code=204, responses=problems(401, 404))
async def delete_number(
    saved_id: SavedId, me: CurrentCustomer = Depends(current_customer), rt: Runtime = Depends(get_runtime)
) -> Response:
    def work() -> None:
        with rt.uow() as uow:
            saved_numbers.delete(uow.session, me.id, saved_id)
            uow.commit()

    await run_in_threadpool(_domain, work)
    return Response(status_code=204)


def _not_found(order_id: int) -> Problem:
    return Problem(404, "order_not_found", f"you have no order {order_id}; see GET /api/v1/orders")


@router.post(
    "/orders/{order_id}/again",
    response_model=OrderOut,
    status_code=201,
    responses={200: {"model": OrderOut, "description": "A replay: this key already placed this order"}}
    | problems(401, 404, 409, 503),
)
async def buy_again(
    order_id: OrderId,
    response: Response,
    idempotency_key: IdempotencyKey,
    language: Language,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    cfg: CustomerApiConfig = Depends(get_config),
) -> OrderOut:
    """A new order of a past order's top-ups still on sale, for the same numbers, at today's prices; it waits
    for payment like any order. Its e-invoice goes to the customer's saved carrier (checked with ECPay when it
    was saved), else none. The same key returns the same order."""

    def lines() -> tuple[list[LineIn], InvoiceCarrierIn | None]:
        with Session(rt.engine) as s:
            if reads.own_payment(s, me.id, order_id) is None:
                raise _not_found(order_id)
            again = saved_numbers.again_lines(s, me.id, order_id)
            carrier = saved_carrier(s, me.id)
        items = [LineIn(product_code=a.product_code, target=a.target, zone=a.zone) for a in again]
        return items, (
            InvoiceCarrierIn(kind=carrier.kind, value=carrier.value) if carrier.kind != "none" else None
        )

    items, carrier = await run_in_threadpool(_domain, lines)
    placed, order = await run_in_threadpool(
        ordering.place, rt, me.id, idempotency_key, items, None, cfg.policy, cfg.public_url, carrier
    )
    if order is None:
        raise _not_found(placed.payment_id)
    if placed.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return reads.in_language(order, language)


@router.get("/orders/{order_id}/receipt", response_model=ReceiptOut, responses=problems(401, 404, 409))
async def receipt(
    order_id: OrderId,
    language: Language,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    cfg: CustomerApiConfig = Depends(get_config),
) -> ReceiptOut:
    """A finished order's receipt: what, to whom, the serial or token, the amounts in TWD, how and when paid."""

    def work() -> ReceiptOut:
        with Session(rt.engine) as s:
            payment = reads.own_payment(s, me.id, order_id)
            view = reads.order_view(s, me.id, order_id, cfg.public_url, language)
            if payment is None or view is None:
                raise _not_found(order_id)
            if not view.final:
                raise Problem(
                    409,
                    "receipt_not_ready",
                    f"order {order_id} is not finished yet: its receipt comes when it is",
                )
            names = saved_numbers.names_by_target(s, me.id)
        return ReceiptOut(
            order_id=view.id,
            reference=view.reference,
            status=view.status,
            status_text=view.status_text,
            status_colour=view.status_colour,
            payment_method=method_words(payment.payment_method, language),
            paid_at=view.paid_at,
            finished_at=payment.updated_at,
            subtotal_twd=view.subtotal_twd,
            discount_twd=view.discount_twd,
            amount_twd=view.amount_twd,
            refunded_twd=payment.refunded_twd,
            refund_note=view.refund_note,
            items=[
                ReceiptItemOut(
                    product_name=i.product_name,
                    target=i.target,
                    to_name=names.get(i.target),
                    zone=i.zone,
                    status=i.status,
                    status_text=i.status_text,
                    price_twd=i.price_twd,
                    delivery=i.delivery,
                )
                for i in view.items
            ],
        )

    return await run_in_threadpool(work)
