"""How the dashboard prints money, rates and times (Taipei time: the business's clock)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from esa_domain.views.orders import TAIPEI


def twd(amount: int | Decimal | None) -> str:
    if amount is None:
        return "—"
    if isinstance(amount, Decimal) and amount != amount.to_integral_value():
        return f"NT${amount:,.2f}"
    return f"NT${int(amount):,}"


def idr(amount: int | None) -> str:
    return "—" if amount is None else f"Rp{amount:,}".replace(",", ".")


def pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


def when(at: datetime | None) -> str:
    return "—" if at is None else at.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M:%S")


def age(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} d"


# ECPay's PaymentType values (ECPay AIO "PaymentType" reply field), in words an operator reads
_PAYMENT_TYPES = {
    "Credit_CreditCard": "Credit card",
    "WebATM": "Web ATM",
    "TWQR_OPAY": "TWQR",
    "ApplePay": "Apple Pay",
    "BNPL_URICH": "Buy now, pay later",
}
_PAYMENT_TYPE_PREFIXES = {
    "ATM_": "ATM transfer",
    "CVS_": "Convenience store code",
    "BARCODE_": "Barcode",
    "WebATM_": "Web ATM",
    "Credit_": "Credit card",
}

# codes that reach a page as they are stored: alert conditions, stuck conditions, audit actions, statuses
_CODES = {
    "supplier_pending_overdue": "Supplier answer overdue",
    "payment_unconfirmed": "Payment not confirmed",
    "paid_not_delivered": "Paid, not delivered",
    "refund_stuck": "Refund stuck",
    "item_needs_review": "Item needs review",
    "refund_needs_review": "Refund needs review",
    "supplier_config": "Supplier not configured",
    "catalog_price_jump": "Supplier price jumped",
    "retry_fulfillment": "Retried delivery",
    "resolve_review": "Resolved a review",
    "set_fx_rate": "Set the FX rate",
    "login_failed": "Failed login",
    "operator_create": "Created an operator",
    "operator_role": "Changed a role",
    "operator_deactivate": "Deactivated an operator",
    "operator_reactivate": "Reactivated an operator",
    "operator_password_reset": "Reset a password",
    "operator_session_revoke": "Revoked a session",
    "export_csv": "Exported a CSV",
    "supplier_add": "Added a supplier",
    "supplier_enable": "Enabled a supplier",
    "supplier_disable": "Disabled a supplier",
    "supplier_fees": "Changed supplier fees",
    "category_save": "Saved a category",
    "product_save": "Saved a product",
    "update_product": "Changed a product",
    "sku_map": "Mapped a supplier SKU",
    "sku_unmap": "Stopped using a supplier SKU",
    "reprice": "Repriced by the rule",
    "stop_below_cost": "Took products below cost off sale",
    "promo_create": "Created a promo",
    "promo_stop": "Stopped a promo",
    "promo_resume": "Offered a promo again",
    "margin_floor": "Not bought below the margin floor",
    "give_up_item": "Gave up a waiting item",
    "sku_adopt": "Adopted a SKU the sync found",
    "product_display": "Set a product's list order and hours",
    "invoice_refused": "E-invoice refused by ECPay",
    "invoice_lagging": "E-invoice not issued yet",
    "invoice_adjustment_refused": "Invoice adjustment refused by ECPay",
    "invoice_adjustment_lagging": "Invoice adjustment not made yet",
    "retry_invoice": "Sent a refused e-invoice again",
    "login": "Logged in",
    "logout": "Logged out",
    "REFUND_PENDING": "Refund under way",
    "NEEDS_REVIEW": "Needs review",
    "SUPPLIER_PENDING": "Waiting for supplier",
}


def payment_method(code: str | None) -> str:
    """ECPay's PaymentType in words ("Credit_CreditCard" -> "Credit card"); unknown codes keep their own name."""
    if not code:
        return "—"
    if code in _PAYMENT_TYPES:
        return _PAYMENT_TYPES[code]
    for prefix, words in _PAYMENT_TYPE_PREFIXES.items():
        if code.startswith(prefix):
            return f"{words} ({code[len(prefix) :]})"
    return label(code)


def label(code: str | None) -> str:
    """A stored code in plain words: a known one from the table, any other with its underscores made spaces."""
    if not code:
        return "—"
    if code in _CODES:
        return _CODES[code]
    words = code.replace("_", " ").strip()
    return words[:1].upper() + words[1:].lower() if words.isupper() or "_" in code else words


def order_number(payment_id: int | None) -> str:
    """The order number the customer sees in the Mini App and in LINE ("#76"): the one used on every page."""
    return "—" if payment_id is None else f"#{payment_id}"


def item_number(payment_id: int, position: int) -> str:
    """An item by its order and its place in it ("#76-1"), so it never reads like another order's number."""
    return f"#{payment_id}-{position}"
