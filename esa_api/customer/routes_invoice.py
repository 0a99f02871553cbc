"""The e-invoice carrier (issue 19): check a mobile barcode (手機條碼) or a love code (捐贈碼) with ECPay before the
order is placed, keep it for the next checkout, read the saved one.

The order itself (POST /api/v1/orders, `invoice_carrier`) re-checks only the carrier's format: the hottest path
makes no call to ECPay. The Mini App calls the check first, so an unknown carrier is refused before anything is
ordered or paid. Errors answer in the customer's language (esa_api.customer.i18n), on the field
`invoice_carrier.value` (or `.kind`).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from esa_api.customer.auth import CurrentCustomer, current_customer
from esa_api.customer.deps import get_limiter
from esa_api.customer.problems import Problem
from esa_api.customer.ratelimit import RateLimiter
from esa_api.customer.responses import problems
from esa_api.customer.schemas import InvoiceCarrierCheckIn, InvoiceCarrierOut, InvoiceOut, OrderOut
from esa_api.deps import get_runtime
from esa_domain.core.states import INVOICE
from esa_domain.infra.runtime import Runtime
from esa_domain.invoicing import carrier as carriers
from esa_domain.invoicing.carrier import Carrier, CarrierCheck, InvalidCarrier
from esa_domain.invoicing.carrier_choice import save_carrier, saved_carrier
from esa_domain.invoicing.views import invoice_for_payment

router = APIRouter(prefix="/api/v1", tags=["customer: e-invoice carrier"])
CHECKS_PER_MINUTE = 10  # carrier checks a customer may ask for in a minute (each one calls ECPay)

_SAID = {
    "mobile_format": "a mobile barcode is '/' and 7 of 0-9, A-Z, '.', '+', '-' (like /ABC+123)",
    "love_code_format": "a donation love code has 3 to 7 digits",
    "mobile_not_found": "ECPay does not know this mobile barcode: check it in your e-invoice app, or choose none",
    "love_code_not_found": "ECPay does not know this love code: check it, or choose none",
    "kind": "choose none, mobile or donation",
}


def carrier_problem(exc: InvalidCarrier) -> Problem:
    """The customer's problem for a carrier that is wrong: 422 on the field at fault, in their words."""
    reason = str(getattr(exc, "reason", "") or "kind")
    field = "invoice_carrier.kind" if reason == "kind" else "invoice_carrier.value"
    return Problem(422, f"invoice_carrier_{reason}", _SAID.get(reason, exc.message), field=field)


def _unavailable() -> Problem:
    return Problem(
        503,
        "invoice_carrier_unavailable",
        "ECPay cannot check the carrier right now: try again in a moment, or choose none",
        field="invoice_carrier.value",
        headers={"Retry-After": "30"},
    )


def check_with_ecpay(rt: Runtime, carrier: Carrier) -> None:
    """Ask ECPay whether it knows the carrier (CheckBarcode / CheckLoveCode): a Problem unless it does."""
    answer = carriers.check_carrier(carrier, rt.invoice_client)  # 'none' asks nothing
    if answer == CarrierCheck.NOT_FOUND:
        raise carrier_problem(carriers.not_found_error(carrier))
    if answer != CarrierCheck.OK:
        raise _unavailable()


def _check(rt: Runtime, customer_id: int, body: InvoiceCarrierCheckIn) -> InvoiceCarrierOut:
    try:
        carrier = carriers.parse_carrier(body.kind, body.value)
    except InvalidCarrier as exc:
        raise carrier_problem(exc) from None
    check_with_ecpay(rt, carrier)  # before anything is written: an unknown carrier is never saved
    if body.save:
        with rt.uow() as uow:
            save_carrier(uow.session, customer_id, carrier)
            uow.commit()
    return InvoiceCarrierOut(kind=carrier.kind, value=carrier.value, saved=body.save)


@router.post(
    "/invoice-carrier/check", response_model=InvoiceCarrierOut, responses=problems(401, 422, 429, 503)
)
async def check_invoice_carrier(
    body: InvoiceCarrierCheckIn,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    limiter: RateLimiter = Depends(get_limiter),
) -> InvoiceCarrierOut:
    """Check an e-invoice carrier before ordering: its format, then ECPay's word on it (a mobile barcode through
    CheckBarcode, a love code through CheckLoveCode). 422 `invoice_carrier_mobile_format` /
    `invoice_carrier_love_code_format` / `invoice_carrier_mobile_not_found` / `invoice_carrier_love_code_not_found`,
    503 `invoice_carrier_unavailable` when ECPay does not answer. With `save`, a carrier ECPay knows becomes the
    customer's saved one (`none` forgets it)."""
    await limiter.hit("carrier_check", str(me.id), limit=CHECKS_PER_MINUTE, window_s=60)
    return await run_in_threadpool(_check, rt, me.id, body)


def _saved(rt: Runtime, customer_id: int) -> InvoiceCarrierOut:
    with Session(rt.engine) as s:
        c = saved_carrier(s, customer_id)
    return InvoiceCarrierOut(kind=c.kind, value=c.value, saved=c.kind != "none")


@router.get("/me/invoice-carrier", response_model=InvoiceCarrierOut, responses=problems(401))
async def my_invoice_carrier(
    me: CurrentCustomer = Depends(current_customer), rt: Runtime = Depends(get_runtime)
) -> InvoiceCarrierOut:
    """The customer's saved e-invoice carrier, prefilled at checkout (`none` when they keep none)."""
    return await run_in_threadpool(_saved, rt, me.id)


def with_invoice(rt: Runtime, order: OrderOut, language: str) -> OrderOut:
    """The customer's order with its e-invoice (number, random code, date, carrier, allowance, invalidation)
    once it has one (esa_domain.invoicing.views); before, as it was."""
    with Session(rt.engine) as s:
        view = invoice_for_payment(s, order.id)
    if view is None:
        return order
    invoice = InvoiceOut(
        status=view.status,
        status_text=view.customer_text(language),
        status_colour=INVOICE[view.status].colour,
        invoice_no=view.invoice_no,
        random_number=view.random_number,
        issued_at=view.issued_at,
        amount_twd=view.amount_twd,
        allowance_twd=view.allowance_twd,
        carrier_kind=view.carrier_kind,
        carrier_value=view.carrier_value,
        invalidated=view.invalidated,
    )
    return order.model_copy(update={"invoice": invoice})
