"""The customer API's request and response bodies (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Printable, no control characters (PostgreSQL refuses NUL) and bounded: what a person can type.
ProductCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,60}$")]
TargetText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,64}$")]
ZoneText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{0,20}$")]
PromoCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
TargetKind = Literal["phone", "pln_meter", "game_id", "game_id_zone", "customer_no", "email"]
# the e-invoice carrier as typed; its format is checked by the domain (esa_domain.invoicing.carrier.parse_carrier),
# which says what is wrong in a person's words
CarrierKindText = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,16}$")]
CarrierValueText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{0,20}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetSpec(BaseModel):
    kind: TargetKind
    label: str
    hint: str = Field(description="what to type, for a person")
    pattern: str = Field(description="regular expression the normalised value matches")
    example: str
    needs_zone: bool = False
    zone_label: str | None = None
    zone_pattern: str | None = None
    zone_example: str | None = None


class ProductOut(BaseModel):
    code: str
    name: str
    price_twd: int = Field(description="what the customer pays, whole New Taiwan dollars")
    nominal_idr: int | None = Field(description="face value in rupiah, for display")
    target_kind: TargetKind
    target: TargetSpec
    available: bool = Field(description="false while no supplier can deliver it")


class CategoryOut(BaseModel):
    code: str
    name: str
    kind: str = Field(description="prepaid (delivered at once) or postpaid (a bill)")
    products: list[ProductOut]


class CatalogOut(BaseModel):
    categories: list[CategoryOut]


class LineIn(_In):
    product_code: ProductCode
    target: TargetText = Field(description="phone, meter, game user id or customer number")
    zone: ZoneText | None = Field(default=None, description="game zone (server) id, for game_id_zone")


class InvoiceCarrierIn(_In):
    """Where the Taiwan e-invoice (電子發票) of the order goes."""

    kind: CarrierKindText = Field(
        default="none",
        description="none (ECPay keeps it for the customer), mobile (a mobile barcode, 手機條碼) or donation "
        "(a love code, 捐贈碼)",
    )
    value: CarrierValueText | None = Field(
        default=None,
        description="the mobile barcode ('/' and 7 of 0-9 A-Z . + -) or the love code (3-7 digits)",
    )


class InvoiceCarrierCheckIn(InvoiceCarrierIn):
    save: bool = Field(
        default=False, description="keep it for the next checkout (none: forget the saved one)"
    )


class InvoiceCarrierOut(BaseModel):
    kind: str = Field(description="none, mobile or donation")
    value: str | None = Field(description="normalised as ECPay takes it (a mobile barcode in capitals)")
    saved: bool = Field(default=False, description="true when this is now the customer's saved carrier")


class QuoteIn(_In):
    items: list[LineIn] = Field(min_length=1, max_length=10)
    promo_code: PromoCode | None = None
    invoice_carrier: InvoiceCarrierIn | None = Field(
        default=None,
        description="where the e-invoice goes (none when left out); check it first with POST "
        "/api/v1/invoice-carrier/check: an order re-checks only its format",
    )


class PromoCheckIn(_In):
    promo_code: PromoCode
    items: list[LineIn] = Field(min_length=1, max_length=10)


class QuoteLineOut(BaseModel):
    product_code: str
    product_name: str
    target: str = Field(description="normalised as it will be delivered to")
    zone: str | None
    price_twd: int


class QuoteOut(BaseModel):
    items: list[QuoteLineOut]
    subtotal_twd: int
    discount_twd: int
    amount_twd: int = Field(description="what ECPay will charge")
    promo_code: str | None


class PromoCheckOut(BaseModel):
    promo_code: str
    valid: Literal[True] = True
    subtotal_twd: int
    discount_twd: int
    amount_twd: int


_FINAL = (
    "true once it moves on only if a person acts (delivered, refunded, not paid in time, or waiting for our "
    "team): stop polling"
)


_COLOUR = "the status's colour (gray, blue, green, amber, orange, red, purple), as the dashboard shows it"


class DeliveryOut(BaseModel):
    """What the customer received for an item (esa_domain.fulfillment.delivery.Delivery); only the owner sees it."""

    serial: str | None = Field(description="the supplier's serial number of the top-up")
    pin: str | None = Field(description="the voucher's PIN, when the product is a voucher sold with one")
    voucher_code: str | None = Field(description="the voucher code to redeem")
    token: str | None = Field(description="the PLN prepaid token to key into the meter")
    customer_name: str | None = Field(description="PLN: the meter owner's name as the supplier states it")
    tariff: str | None = Field(description="PLN: tariff and power, e.g. R1/1300VA")
    kwh: str | None = Field(description="PLN: the kWh bought")


class PaymentCodeOut(BaseModel):
    """What ECPay gave for an offline payment (PaymentInfoURL): where to pay, how much, until when."""

    method: str = Field(description="ATM, CVS or BARCODE, in words in the request's language")
    payment_type: str = Field(description="ECPay's PaymentType, e.g. ATM_TAISHIN, CVS_CVS, BARCODE_BARCODE")
    bank_code: str | None
    v_account: str | None = Field(description="the ATM virtual account to transfer to")
    payment_no: str | None = Field(description="the convenience-store payment code")
    barcodes: list[str]
    amount_twd: int
    pay_by: datetime | None = Field(description="the deadline ECPay set")


class BillOut(BaseModel):
    """The bill an item pays, as the supplier stated it when the customer checked it."""

    customer_name: str | None
    periods: str | None
    bill_idr: int | None
    admin_idr: int | None
    total_idr: int | None


class OrderItemOut(BaseModel):
    id: int
    product_code: str
    product_name: str
    target: str
    zone: str | None
    status: str
    status_text: str = Field(description="the status in words, for the customer, in the request's language")
    status_colour: str = Field(description=_COLOUR)
    final: bool = Field(description=_FINAL)
    price_twd: int
    failure_reason: str | None = Field(
        default=None, description="why it was not delivered, in the request's language; null unless it failed"
    )
    delivered_code: str | None = Field(description="serial or PLN token once delivered (never a PIN)")
    delivery: DeliveryOut | None = Field(
        default=None, description="what was delivered, split into its parts; null until delivered"
    )
    bill: BillOut | None = Field(
        default=None, description="the bill it pays (name, period, amounts); null if none"
    )


class InvoiceOut(BaseModel):
    """The order's Taiwan e-invoice (統一發票) at ECPay, once the order is delivered."""

    status: str = Field(description="PENDING, ISSUED, FAILED, VOID or INVALIDATED")
    status_text: str = Field(description="the status in words, in the request's language")
    status_colour: str = Field(description=_COLOUR)
    invoice_no: str | None = Field(description="the invoice number, e.g. AB12345678, once issued")
    random_number: str | None = Field(description="its 4-digit random code (隨機碼)")
    issued_at: datetime | None
    amount_twd: int
    allowance_twd: int = Field(description="reduced by allowances (折讓) for refunds")
    carrier_kind: str = Field(description="none (ECPay's member carrier), mobile or donation")
    carrier_value: str | None
    invalidated: bool = Field(description="cancelled (作廢) after a full refund")


class OrderOut(BaseModel):
    id: int
    reference: str = Field(description="the payment reference ECPay shows (MerchantTradeNo)")
    status: str
    status_text: str = Field(description="the status in words, for the customer, in the request's language")
    status_colour: str = Field(description=_COLOUR)
    final: bool = Field(description=_FINAL)
    subtotal_twd: int
    discount_twd: int
    amount_twd: int
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    checkout_url: str | None = Field(description="where to pay, while the order waits for payment")
    payment_problem: str | None = Field(
        default=None,
        description="while it waits for payment: why the last try did not pay (a declined card), in words; "
        "pay again through `checkout_url`",
    )
    payment_code: PaymentCodeOut | None = Field(
        default=None, description="an ATM, convenience-store code or barcode payment waiting to be paid"
    )
    refund_note: str | None = Field(
        default=None, description="when something is refunded: when the money comes back, for how it was paid"
    )
    second_payment_note: str | None = Field(
        default=None,
        description="the order was paid twice (two payment pages both paid): the second payment's refund, in words",
    )
    invoice: InvoiceOut | None = Field(
        default=None, description="the e-invoice, once the order is delivered (null in lists and before)"
    )
    items: list[OrderItemOut]


class OrderPage(BaseModel):
    orders: list[OrderOut]
    next_before: int | None = Field(description="pass as `before` for the next (older) page; null at the end")


class CheckoutOut(BaseModel):
    order_id: int
    checkout_url: str = Field(description="open in the browser: it hands the payer to ECPay")
    amount_twd: int
    expires_at: datetime


class LineAuthIn(_In):
    id_token: str = Field(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9._~+/=-]+$")


class CustomerOut(BaseModel):
    id: int
    display_name: str
    language: Literal["id", "en", "zh-Hant"] = Field(
        default="id",
        description="the language the customer chose: the app, its pages and their LINE messages",
    )


class LanguageIn(_In):
    language: Literal["id", "en", "zh-Hant"]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="seconds until the token must be renewed by signing in again")
    customer: CustomerOut


class AppConfigOut(BaseModel):
    liff_id: str | None
    line_login_url: str | None = Field(description="the sandbox sign-in page; null in production (LIFF)")
    line_channel_id: str | None


class FieldErrorOut(BaseModel):
    field: str
    message: str


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="stable machine-readable error code")
    instance: str | None = None
    field: str | None = Field(default=None, description="the request field at fault, if one is")
    errors: list[FieldErrorOut] | None = None
    request_id: str | None = None
