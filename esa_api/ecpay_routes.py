"""ECPay's side of the API: the checkout hand-off, the ReturnURL notification, the browser's return."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from esa_api.deps import get_runtime, runtime_for
from esa_domain.adapters.ecpay import build_checkout_fields, checkout_url, render_autosubmit_form
from esa_domain.core.states import PaymentStatus
from esa_domain.infra.runtime import Runtime
from esa_domain.models import Payment, PaymentItem, Product, ProductCategory
from esa_domain.payments.accept import handle_notification

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
        reply = await run_in_threadpool(handle_notification, rt.uow, fields, rt.ecpay, remote_addr=remote)
    except Exception:
        log.exception(  # %.40s: the trade number is whatever was posted, of any length
            "ECPay notification for %.40s not handled; ECPay will re-send", fields.get("MerchantTradeNo")
        )
        return PlainTextResponse("0|temporary error, please retry", status_code=500)
    return PlainTextResponse(reply.body, status_code=reply.status_code)


def install(app: FastAPI) -> None:
    app.router.add_route("/ecpay/return", return_url, methods=["POST"], include_in_schema=False)
    app.include_router(router)


def _checkout_page(rt: Runtime, merchant_trade_no: str) -> tuple[int, str]:
    with Session(rt.engine) as s:
        payment = s.exec(select(Payment).where(Payment.merchant_trade_no == merchant_trade_no)).first()
        if payment is None:
            return 404, _page("Order not found", "There is no order with this payment reference.")
        if payment.status != PaymentStatus.PENDING or payment.expires_at <= datetime.now(UTC):
            return 409, _page(
                "This order cannot be paid now",
                f"Order {payment.id} is {payment.status.lower()}; it is no longer waiting for payment.",
            )
        rows = s.exec(
            select(Product.name, ProductCategory.is_game)
            .join(PaymentItem, col(PaymentItem.product_id) == col(Product.id))
            .join(ProductCategory, col(ProductCategory.id) == col(Product.category_id))
            .where(PaymentItem.payment_id == payment.id)
            .order_by(col(PaymentItem.id))
        ).all()
    base = rt.settings.public_url.rstrip("/")
    cfg = rt.ecpay
    fields = build_checkout_fields(
        merchant_id=cfg.merchant_id,
        hash_key=cfg.hash_key,
        hash_iv=cfg.hash_iv,
        merchant_trade_no=payment.merchant_trade_no,
        trade_date=payment.created_at,
        total_amount=payment.amount_twd,
        item_names=[name for name, _ in rows],
        trade_desc="ESA Indonesian top-up",
        return_url=f"{base}/ecpay/return",
        order_result_url=f"{base}/ecpay/result",
        client_back_url=f"{base}/ecpay/result/{payment.merchant_trade_no}",
        payment_id=payment.id,  # type: ignore[arg-type]
        choose_payment=rt.settings.ecpay_choose_payment,
        contains_game_product=any(is_game for _, is_game in rows),
    )
    return 200, render_autosubmit_form(checkout_url(cfg.base_url), fields)


@router.get("/checkout/{merchant_trade_no}", response_class=HTMLResponse)
async def checkout(merchant_trade_no: str, rt: Runtime = Depends(get_runtime)) -> HTMLResponse:
    """The auto-submitting form that takes the payer to ECPay's AioCheckOut page."""
    status, body = await run_in_threadpool(_checkout_page, rt, merchant_trade_no)
    return HTMLResponse(body, status_code=status)


@router.post("/result")
async def order_result(request: Request) -> RedirectResponse:
    """OrderResultURL: the payer's browser comes back. It never changes state: show the order as it stands."""
    fields = _form_fields(await request.body())
    trade_no = "".join(ch for ch in fields.get("MerchantTradeNo", "") if ch.isalnum())[:20]
    return RedirectResponse(f"/ecpay/result/{trade_no}", status_code=303)


_MESSAGES = {
    PaymentStatus.PENDING: (
        "Waiting for the payment",
        "We have not heard from ECPay yet. This page refreshes.",
    ),
    PaymentStatus.PAID: ("Payment received", "Your top-up is being delivered. This page refreshes."),
    PaymentStatus.SUCCESS: ("Delivered", "Everything in your order was delivered."),
    PaymentStatus.PARTIAL: ("Partly delivered", "Some items could not be delivered; they will be refunded."),
    PaymentStatus.FAILED: ("Not delivered", "We could not deliver your order; it will be refunded."),
    PaymentStatus.EXPIRED: ("Not paid", "The payment window closed without a payment."),
}


def _result_page(rt: Runtime, merchant_trade_no: str) -> tuple[int, str]:
    with Session(rt.engine) as s:
        payment = s.exec(select(Payment).where(Payment.merchant_trade_no == merchant_trade_no)).first()
    if payment is None:
        return 404, _page("Order not found", "There is no order with this payment reference.")
    title, text = _MESSAGES.get(PaymentStatus(payment.status), (payment.status.title(), ""))
    moving = payment.status in (PaymentStatus.PENDING, PaymentStatus.PAID)
    return 200, _page(title, f"Order {payment.id} · NT${payment.amount_twd} · {text}", refresh=moving)


@router.get("/result/{merchant_trade_no}", response_class=HTMLResponse)
async def order_result_page(merchant_trade_no: str, rt: Runtime = Depends(get_runtime)) -> HTMLResponse:
    status, body = await run_in_threadpool(_result_page, rt, merchant_trade_no)
    return HTMLResponse(body, status_code=status)


def _page(title: str, text: str, refresh: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="3">' if refresh else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family: system-ui, sans-serif; max-width: 32em; margin: 3em auto; padding: 0 1em;">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
