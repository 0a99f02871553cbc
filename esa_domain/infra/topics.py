"""The outbox topics: the names of the side effects, and the payload each carries.

An outbox row's topic is the dramatiq actor that carries it out (workers/actors.py registers one per topic).
Every actor is idempotent by state: receiving the same message twice does no harm.
"""

CHECK_PAYMENT = "check_payment"  # {"payment_id"}: ask ECPay (QueryTradeInfo), heal through the notification path or expire
FULFILL_ITEM = "fulfill_item"  # {"item_id"}: run the supplier engine for one paid item
CHECK_ATTEMPT = "check_attempt"  # {"attempt_id"}: status check of a live (pending/unknown) supplier attempt
REFUND_PAYMENT = "refund_payment"  # {"payment_id"}: request the refund of what was not delivered
SEND_REFUND = "send_refund"  # {"refund_id"}: carry one card refund to ECPay (DoAction R), or resume it
SEND_ALERT = "send_alert"  # {"alert_id"}: push an operator alert to LINE
SYNC_CATALOG = "sync_catalog"  # {"supplier_code"}: refresh one supplier's offers
NOTIFY_CUSTOMER = (
    "notify_customer"  # {"message_id"}: push one customer message (esa_domain.ordering.notify) to LINE
)
# {"invoice_id", "plan"?}: issue one e-invoice at ECPay (esa_domain.invoicing.issuing); without a plan, ask first
ISSUE_INVOICE = "issue_invoice"
# {"adjustment_id", "resume"?}: one invoice allowance / invalidation at ECPay
ADJUST_INVOICE = "adjust_invoice"

ALL = (
    CHECK_PAYMENT,
    FULFILL_ITEM,
    CHECK_ATTEMPT,
    REFUND_PAYMENT,
    SEND_REFUND,
    SEND_ALERT,
    SYNC_CATALOG,
    NOTIFY_CUSTOMER,
)
ALL += (ISSUE_INVOICE, ADJUST_INVOICE)
