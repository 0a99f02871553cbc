"""ECPay's B2C e-invoice API (issue 19): the client in `client`, the wire codec shared with the payment API
(esa_domain.adapters.ecpay.codec aes_encrypt / aes_decrypt)."""

from esa_domain.adapters.ecpay_invoice.client import (
    EcpayInvoiceClient,
    InvoiceThrottled,
    InvoiceUnavailable,
    IssueRequest,
    Line,
)

__all__ = ["EcpayInvoiceClient", "InvoiceThrottled", "InvoiceUnavailable", "IssueRequest", "Line"]
