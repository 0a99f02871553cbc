"""All tables. Import from here so SQLModel.metadata always holds the whole schema (Alembic reads it)."""

from esa_domain.models.bills import BillInquiry, BillInquiryHistory
from esa_domain.models.business import DiscoveredSku, PromoProduct
from esa_domain.models.catalog import FxRate, Product, ProductCategory, Supplier, SupplierOffer
from esa_domain.models.customer_side import CustomerMessage, CustomerMessageHistory, PaymentCheckout
from esa_domain.models.deliveries import ItemDelivery
from esa_domain.models.invoice_carriers import SavedInvoiceCarrier
from esa_domain.models.invoices import Invoice, InvoiceAllowance, InvoiceExchange, InvoiceHistory
from esa_domain.models.money_ops import AlertAck, CloseDifference, DailyClose, SupplierBalance
from esa_domain.models.ops import (
    Alert,
    GatewayEvent,
    JobRun,
    Operator,
    OperatorAction,
    OperatorSession,
    OutboxMessage,
)
from esa_domain.models.orders import (
    Customer,
    ItemAttempt,
    Payment,
    PaymentHistory,
    PaymentItem,
    Promo,
    PromoUsage,
    SupplierExchange,
)
from esa_domain.models.refunds import Refund, RefundHistory
from esa_domain.models.saved import SavedNumber

__all__ = [
    "Alert",
    "AlertAck",
    "BillInquiry",
    "BillInquiryHistory",
    "CloseDifference",
    "Customer",
    "CustomerMessage",
    "CustomerMessageHistory",
    "DailyClose",
    "DiscoveredSku",
    "FxRate",
    "GatewayEvent",
    "Invoice",
    "InvoiceAllowance",
    "InvoiceExchange",
    "InvoiceHistory",
    "ItemAttempt",
    "ItemDelivery",
    "JobRun",
    "Operator",
    "OperatorAction",
    "OperatorSession",
    "OutboxMessage",
    "Payment",
    "PaymentCheckout",
    "PaymentHistory",
    "PaymentItem",
    "Product",
    "ProductCategory",
    "Promo",
    "PromoProduct",
    "PromoUsage",
    "Refund",
    "RefundHistory",
    "SavedInvoiceCarrier",
    "SavedNumber",
    "Supplier",
    "SupplierBalance",
    "SupplierExchange",
    "SupplierOffer",
]
