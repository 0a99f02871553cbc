"""ECPay's side of the API: the checkout hand-off, the ReturnURL notification, the browser's return."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from esa_api import ecpay_pages as pages
from esa_api.deps import get_runtime, runtime_for
from esa_domain.adapters.ecpay import build_checkout_fields, check_mac_value, checkout_url
from esa_domain.core.states import LANGUAGES, PaymentStatus
from esa_domain.infra import logging_setup, metrics
from esa_domain.infra.runtime import Runtime
from esa_domain.models import Customer, Payment, PaymentItem, Product, ProductCategory
from esa_domain.ordering import wording
from esa_domain.payments.accept import handle_notification
from esa_domain.payments.checkout import HandOff, hand_off, last_checkouts, payment_of_trade_no
from esa_domain.payments.payment_info import handle_payment_info

log = logging.getLogger(__name__)
router = APIRouter(prefix="/ecpay", tags=["ecpay"], include_in_schema=False)


def _form_fields(body: bytes) -> dict[str, str]:
    # values exactly as sent (no trimming): the CheckMacValue covers them byte for byte
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def return_url(request: Request) -> Response:
    """ReturnURL: answer `1|OK` only once the notification is durably handled; an error makes ECPay re-send.

    A plain Starlette route (ECPay's call is not part of our OpenAPI): FastAPI's dependency and parameter
    machinery would cost more per notification than reading the form does.
    """
    rt = runtime_for(request.app)
    fields = _form_fields(await request.body())
    remote = request.client.host if request.client else None
    try:
        reply = await run_in_threadpool(_handle, rt, fields, remote)
    except Exception:
        metrics.ECPAY_NOTIFICATIONS.labels("error").inc()
        log.exception(  # %.40s: the trade number is whatever was posted, of any length
            "ECPay notification for %.40s not handled; ECPay will re-send", fields.get("MerchantTradeNo")
        )
        return PlainTextResponse("0|temporary error, please retry", status_code=500)
    metrics.ECPAY_NOTIFICATIONS.labels(str(reply.verdict).replace(" ", "_")).inc()
    logging_setup.bind(payment_id=reply.payment_id)
    log.info("ECPay notification: %s", reply.verdict)
    return PlainTextResponse(reply.body, status_code=reply.status_code)


def _handle(rt: Runtime, fields: dict[str, str], remote: str | None) -> Any:
    # the payment the notice names (CustomField1 echoes our payment id) is on the lines written while it is
    # handled, and on the fulfillment messages it sends, so the worker's lines carry it too
    claimed = fields.get("CustomField1", "")
    with logging_setup.scope(payment_id=int(claimed) if claimed.isdigit() and len(claimed) <= 12 else None):
        return handle_notification(rt.uow, fields, rt.ecpay, remote_addr=remote)


async def payment_info_url(request: Request) -> Response:
    """PaymentInfoURL: an offline method's payment code (ATM, CVS, barcode); `1|OK` once stored."""
    rt = runtime_for(request.app)
    fields = _form_fields(await request.body())
    remote = request.client.host if request.client else None
    try:
        reply = await run_in_threadpool(handle_payment_info, rt.uow, fields, rt.ecpay, remote_addr=remote)
    except Exception:
        log.exception(
            "ECPay payment code for %.40s not handled; ECPay will re-send", fields.get("MerchantTradeNo")
        )
        return PlainTextResponse("0|temporary error, please retry", status_code=500)
    return PlainTextResponse(reply.body, status_code=reply.status_code)


def install(app: FastAPI) -> None:
    app.router.add_route("/ecpay/return", return_url, methods=["POST"], include_in_schema=False)
    app.router.add_route("/ecpay/payment-info", payment_info_url, methods=["POST"], include_in_schema=False)
    app.include_router(router)


def _customer_language(s: Session, customer_id: int, asked: str | None) -> str:
    if asked in LANGUAGES:
        return asked  # type: ignore[return-value]
    customer = s.get(Customer, customer_id)
    return wording.language_of(customer.language if customer else None)


def _checkout_page(rt: Runtime, merchant_trade_no: str, lang: str | None = None) -> tuple[int, str]:
    with rt.uow() as uow:
        s = uow.session
        handed = hand_off(s, merchant_trade_no)
        if handed is None:
            return 404, pages.not_found(lang if lang in LANGUAGES else "id")  # type: ignore[arg-type]
        language = _customer_language(s, handed.customer_id, lang)
        if handed.merchant_trade_no is None:
            uow.commit()
            return 409, pages.not_payable(handed.payment_id, handed.status, language, _app_link(rt, handed))
        rows = s.exec(
            select(Product.name, ProductCategory.is_game)
            .join(PaymentItem, col(PaymentItem.product_id) == col(Product.id))
            .join(ProductCategory, col(ProductCategory.id) == col(Product.category_id))
            .where(PaymentItem.payment_id == handed.payment_id)
            .order_by(col(PaymentItem.id))
        ).all()
        created_at = s.get(Payment, handed.payment_id).created_at  # type: ignore[union-attr]
        uow.commit()  # the hand-off is recorded before the payer leaves for ECPay
    base = rt.settings.public_url.rstrip("/")
    cfg = rt.ecpay
    trade_no = handed.merchant_trade_no
    fields = build_checkout_fields(
        merchant_id=cfg.merchant_id,
        hash_key=cfg.hash_key,
        hash_iv=cfg.hash_iv,
        merchant_trade_no=trade_no,
        trade_date=created_at if not handed.fresh else datetime.now(UTC),
        total_amount=handed.amount_twd,
        item_names=[name for name, _ in rows],
        trade_desc="ESA Indonesian top-up",
        return_url=f"{base}/ecpay/return",
        order_result_url=f"{base}/ecpay/result",
        client_back_url=f"{base}/ecpay/result/{trade_no}",
        payment_id=handed.payment_id,
        choose_payment=rt.settings.ecpay_choose_payment,
        contains_game_product=any(is_game for _, is_game in rows),
    )
    # ECPay posts an offline method's payment code (ATM, CVS, barcode) to PaymentInfoURL; signed with the rest
    fields.pop("CheckMacValue")
    fields["PaymentInfoURL"] = f"{base}/ecpay/payment-info"
    fields["CheckMacValue"] = check_mac_value(fields, cfg.hash_key, cfg.hash_iv)
    return 200, pages.handoff(checkout_url(cfg.base_url), fields, language)


def _app_link(rt: Runtime, handed: HandOff) -> str:
    return f"{rt.settings.public_url.rstrip('/')}/app/#order={handed.payment_id}"


@router.get("/checkout/{merchant_trade_no}", response_class=HTMLResponse)
async def checkout(
    merchant_trade_no: str, lang: str | None = None, rt: Runtime = Depends(get_runtime)
) -> HTMLResponse:
    """The auto-submitting form that takes the payer to ECPay's AioCheckOut page, under a MerchantTradeNo ECPay
    has not seen (paying again after a declined card or an abandoned page mints a new one)."""
    ref = "".join(ch for ch in merchant_trade_no if ch.isalnum())[:20]
    status, body = await run_in_threadpool(_checkout_page, rt, ref, lang)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


@router.post("/result")
async def order_result(request: Request) -> RedirectResponse:
    """OrderResultURL: the payer's browser comes back. It never changes state: show the order as it stands."""
    fields = _form_fields(await request.body())
    trade_no = "".join(ch for ch in fields.get("MerchantTradeNo", "") if ch.isalnum())[:20]
    return RedirectResponse(f"/ecpay/result/{trade_no}", status_code=303)


def _result_page(rt: Runtime, merchant_trade_no: str, lang: str | None, tries: int) -> tuple[int, str]:
    with Session(rt.engine) as s:
        payment_id = payment_of_trade_no(s, merchant_trade_no)
        payment = s.get(Payment, payment_id) if payment_id is not None else None
        if payment is None:
            return 404, pages.not_found(lang if lang in LANGUAGES else "id")  # type: ignore[arg-type]
        language = _customer_language(s, payment.customer_id, lang)
        last = last_checkouts(s, [payment.id]).get(payment.id)  # type: ignore[list-item]
    app_link = f"{rt.settings.public_url.rstrip('/')}/app/#order={payment.id}"
    pay_again = None
    if payment.status == PaymentStatus.PENDING and payment.expires_at > datetime.now(UTC):
        pay_again = f"/ecpay/checkout/{payment.merchant_trade_no}"
    return 200, pages.result(payment, last, language, app_link, pay_again, tries)


@router.get("/result/{merchant_trade_no}", response_class=HTMLResponse)
async def order_result_page(
    merchant_trade_no: str,
    lang: str | None = None,
    n: Annotated[int, Query(ge=0, le=100)] = 0,
    rt: Runtime = Depends(get_runtime),
) -> HTMLResponse:
    """Where the payer lands after ECPay: the order as it stands, in their language, with the way back into
    the Mini App and, while it can still be paid, a way to pay again."""
    ref = "".join(ch for ch in merchant_trade_no if ch.isalnum())[:20]
    status, body = await run_in_threadpool(_result_page, rt, ref, lang, n)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
