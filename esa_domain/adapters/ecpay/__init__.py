"""ECPay (綠界) protocol layer: codecs, checkout fields, notifications and the server API client.

Framework-free; see shared/specs/ecpay.md for the protocol facts every function here honours.
"""

from esa_domain.adapters.ecpay.checkout import (
    build_checkout_fields,
    checkout_url,
    render_autosubmit_form,
)
from esa_domain.adapters.ecpay.client import (
    PRODUCTION_BASE_URL,
    STAGE_BASE_URL,
    CreditDetail,
    DoActionResult,
    EcpayClient,
    EcpayError,
    EcpayInvalidResponse,
    EcpayThrottled,
    EcpayUnavailable,
    TradeQueryResult,
)
from esa_domain.adapters.ecpay.codec import (
    aes_decrypt,
    aes_encrypt,
    check_mac_value,
    parse_query_response,
    verify_check_mac_value,
)
from esa_domain.adapters.ecpay.notification import (
    ACK,
    Notification,
    Rejection,
    nack,
    parse_notification,
    redact,
)

__all__ = [
    "ACK",
    "PRODUCTION_BASE_URL",
    "STAGE_BASE_URL",
    "CreditDetail",
    "DoActionResult",
    "EcpayClient",
    "EcpayError",
    "EcpayInvalidResponse",
    "EcpayThrottled",
    "EcpayUnavailable",
    "Notification",
    "Rejection",
    "TradeQueryResult",
    "aes_decrypt",
    "aes_encrypt",
    "build_checkout_fields",
    "check_mac_value",
    "checkout_url",
    "nack",
    "parse_notification",
    "parse_query_response",
    "redact",
    "render_autosubmit_form",
    "verify_check_mac_value",
]
