"""Bills and checks before paying (issue 16): inquire a bill, read the quote, order it; check a top-up's
destination (the phone number's operator, a PLN meter's owner) before the customer pays.

The domain does the work (esa_domain.ordering.bills, esa_domain.ordering.verify); errors answer in the customer's
language through the problem handlers (esa_api.customer.i18n).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from esa_api.customer import reads
from esa_api.customer.auth import CurrentCustomer, current_customer
from esa_api.customer.config import CustomerApiConfig
from esa_api.customer.deps import get_config, get_limiter
from esa_api.customer.problems import Problem
from esa_api.customer.ratelimit import RateLimiter
from esa_api.customer.responses import problems
from esa_api.customer.routes_orders import IdempotencyKey, Language
from esa_api.customer.schemas import OrderOut, ProductCode
from esa_api.deps import get_runtime
from esa_domain.core.errors import DomainError, InvalidTarget
from esa_domain.core.states import BILL_INQUIRY
from esa_domain.infra.runtime import Runtime
from esa_domain.invoicing.carrier_choice import saved_carrier
from esa_domain.ordering import bills, verify
from esa_domain.ordering.targets import validate_target

router = APIRouter(prefix="/api/v1", tags=["customer: bills and checks"])
InquiryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the bill inquiry's id")]
CHECKS_PER_MINUTE = 20  # destination checks a customer may ask for in a minute (each may call a supplier)


class BillInquiryIn(BaseModel):
    product_code: ProductCode = Field(description="a product of a postpaid category")
    customer_no: str = Field(
        pattern=r"^[^\x00-\x1f\x7f]{4,40}$", description="the customer number printed on the bill"
    )
    months: int | None = Field(
        default=None, ge=1, le=12, description="BPJS Kesehatan: how many months to pay"
    )


class BillQuoteOut(BaseModel):
    id: int
    status: str = Field(description="REQUESTED, QUOTED, NOT_FOUND, FAILED, USED or EXPIRED")
    status_text: str
    product_code: str
    product_name: str
    customer_no: str
    months: int | None
    customer_name: str | None = Field(description="the bill's account name, as the supplier states it")
    periods: str | None = Field(description="the bill's period(s), as the supplier states them")
    bill_idr: int | None
    admin_idr: int | None
    total_idr: int | None = Field(description="bill and admin fee, in rupiah")
    amount_twd: int | None = Field(description="what the customer pays for it, whole New Taiwan dollars")
    expires_at: datetime | None = Field(
        description="the quote is held until then; check the bill again after"
    )


class CheckOut(BaseModel):
    product_code: str
    target: str
    operator: str | None = Field(default=None, description="a phone number's operator, from its prefix")
    owner_name: str | None = Field(default=None, description="a PLN meter's owner, as PLN knows them")
    segment_power: str | None = Field(default=None, description="a PLN meter's tariff and power")
    nickname: str | None = Field(default=None, description="a game player's name, as the game knows it")
    warning: str | None = Field(default=None, description="something to look at before paying, in words")


def _out(q: bills.BillQuote, language: str) -> BillQuoteOut:
    return BillQuoteOut(
        id=q.id,
        status=q.status,
        status_text=BILL_INQUIRY.customer_text(q.status, language),
        product_code=q.product_code,
        product_name=q.product_name,
        customer_no=q.customer_no,
        months=q.months,
        customer_name=q.customer_name,
        periods=q.periods,
        bill_idr=q.bill_idr,
        admin_idr=q.admin_idr,
        total_idr=q.price_idr,
        amount_twd=q.amount_twd,
        expires_at=q.expires_at,
    )


def _inquire(rt: Runtime, customer_id: int, body: BillInquiryIn) -> bills.BillQuote:
    try:
        with rt.uow() as uow:
            q = bills.inquire(
                uow,
                rt.fulfillment.adapters,
                customer_id=customer_id,
                product_code=body.product_code,
                customer_no=body.customer_no,
                months=body.months,
            )
    except DomainError as exc:
        field = "customer_no" if "customer number" in exc.message else None
        raise Problem.of(exc, field=field) from None
    refused = bills.refusal(q)
    if refused is not None:
        raise Problem.of(refused, field="customer_no")
    return q


@router.post(
    "/bills/inquiries", response_model=BillQuoteOut, status_code=201, responses=problems(401, 404, 409, 503)
)
async def inquire_bill(
    body: BillInquiryIn,
    language: Language,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
) -> BillQuoteOut:
    """Look the bill up at the supplier that carries it: its name, period(s), amount, admin fee and what it costs
    in NT$. 404 when there is no bill to pay (an unknown number, or already paid)."""
    return _out(await run_in_threadpool(_inquire, rt, me.id, body), language)


def _quote(rt: Runtime, customer_id: int, inquiry_id: int) -> bills.BillQuote:
    try:
        with Session(rt.engine) as s:
            return bills.load_quote(s, inquiry_id, customer_id)
    except DomainError:
        raise Problem(404, "bill_inquiry_not_found", f"you have no bill inquiry {inquiry_id}") from None


@router.get("/bills/inquiries/{inquiry_id}", response_model=BillQuoteOut, responses=problems(401, 404))
async def get_bill_inquiry(
    inquiry_id: InquiryId,
    language: Language,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
) -> BillQuoteOut:
    """One of your bill inquiries."""
    return _out(await run_in_threadpool(_quote, rt, me.id, inquiry_id), language)


def _order(rt: Runtime, customer_id: int, inquiry_id: int, key: str, cfg: CustomerApiConfig) -> tuple:
    try:
        with rt.uow() as uow:
            carrier = saved_carrier(uow.session, customer_id)  # its e-invoice: the saved carrier, else none
            placed = bills.place_bill_order(
                uow,
                customer_id=customer_id,
                inquiry_id=inquiry_id,
                idempotency_key=key,
                policy=cfg.policy,
                carrier=carrier if carrier.kind != "none" else None,
            )
    except DomainError as exc:
        if exc.code == "not_found":
            raise Problem(404, "bill_inquiry_not_found", f"you have no bill inquiry {inquiry_id}") from None
        raise Problem.of(exc) from None
    with Session(rt.engine) as s:
        return placed, reads.order_view(s, customer_id, placed.payment_id, cfg.public_url)


@router.post(
    "/bills/inquiries/{inquiry_id}/order",
    response_model=OrderOut,
    status_code=201,
    responses={200: {"model": OrderOut, "description": "A replay: this key already ordered this bill"}}
    | problems(401, 404, 409),
)
async def order_bill(
    inquiry_id: InquiryId,
    response: Response,
    idempotency_key: IdempotencyKey,
    language: Language,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    cfg: CustomerApiConfig = Depends(get_config),
) -> OrderOut:
    """Order the bill of a quote: exactly that bill is paid, once. A quote already ordered is a 409
    (`bill_quote_used`), an expired one too (`bill_quote_expired`: check the bill again)."""
    placed, order = await run_in_threadpool(_order, rt, me.id, inquiry_id, idempotency_key, cfg)
    if order is None:
        raise Problem(404, "order_not_found", f"you have no order {placed.payment_id}")
    if placed.replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return reads.in_language(order, language)


_UNKNOWN_METER = {
    "id": "PLN tidak mengenal nomor meter ini: periksa lagi sebelum membayar.",
    "en": "PLN does not know this meter number: check it before paying.",
    "zh-Hant": "PLN 查無此電表號碼：付款前請再確認。",
}


_UNKNOWN_PLAYER = {
    "id": "ID game ini tidak ditemukan: periksa ID dan Zone ID sebelum membayar.",
    "en": "This game id was not found: check the id and zone before paying.",
    "zh-Hant": "查無此遊戲 ID：付款前請確認 ID 與伺服器。",
}


def _offers(rt: Runtime, product_code: str) -> list[tuple[str, str]]:
    with Session(rt.engine) as s:
        rows = s.execute(
            text(
                "SELECT su.code, o.supplier_sku FROM supplier_offers o JOIN products p ON p.id = o.product_id "
                "JOIN suppliers su ON su.id = o.supplier_id WHERE p.code = :c AND o.available AND su.enabled "
                "ORDER BY o.cost_idr"
            ),
            {"c": product_code},
        ).all()
    return [(r[0], r[1]) for r in rows]


def _check(rt: Runtime, product_code: str, target: str, zone: str | None, language: str) -> CheckOut:
    with Session(rt.engine) as s:
        row = s.execute(
            text("SELECT code, name, target_kind FROM products WHERE code = :c AND active"),
            {"c": product_code},
        ).first()
    if row is None:
        raise Problem(422, "unknown_product", f"there is no product '{product_code}'", field="product_code")
    try:
        normalised, zone_ok = validate_target(row.target_kind, target, zone)
        verify.check_operator(row.code, row.name, row.target_kind, normalised)
    except InvalidTarget as exc:
        raise Problem.of(exc, field="target") from None
    except DomainError as exc:
        raise Problem.of(exc, field="target") from None
    out = CheckOut(product_code=row.code, target=normalised)
    if row.target_kind == "phone":
        op = verify.operator_of_number(normalised)
        out.operator = verify.OPERATOR_NAMES[op] if op else None
    elif row.target_kind == "pln_meter":
        owner = verify.pln_owner(rt.fulfillment.adapters, normalised)
        if owner is not None and owner.found:
            out.owner_name, out.segment_power = owner.name, owner.segment_power
        elif owner is not None:
            out.warning = _UNKNOWN_METER.get(language, _UNKNOWN_METER["en"])
    elif row.target_kind in ("game_id", "game_id_zone"):
        account = verify.game_account(rt.fulfillment.adapters, _offers(rt, row.code), normalised, zone_ok)
        if account is not None and account.found:
            out.nickname = account.nickname
        elif account is not None:
            out.warning = _UNKNOWN_PLAYER.get(language, _UNKNOWN_PLAYER["en"])
    return out


@router.get("/checks", response_model=CheckOut, responses=problems(401))
async def check_destination(
    product_code: Annotated[str, Query(pattern=r"^[A-Za-z0-9_.-]{1,60}$")],
    target: Annotated[str, Query(pattern=r"^[^\x00-\x1f\x7f]{1,64}$")],
    zone: Annotated[str | None, Query(pattern=r"^[^\x00-\x1f\x7f]{0,20}$")] = None,
    *,
    language: Language,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    limiter: RateLimiter = Depends(get_limiter),
) -> CheckOut:
    """Check a top-up's destination before paying: a phone number of another operator than the product's is a
    422 (`operator_mismatch`); a PLN meter's owner name and tariff, a game player's nickname, are shown where the
    supplier can say. A check
    that cannot be made says nothing and never stops the sale."""
    await limiter.hit("check", str(me.id), limit=CHECKS_PER_MINUTE, window_s=60)
    return await run_in_threadpool(_check, rt, product_code, target, zone, language)
