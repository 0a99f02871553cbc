"""What an operator may do about an e-invoice (issue 19), audited like every operator action.

`retry_invoice`: an invoice ECPay refused (FAILED: a mobile barcode or love code it does not know, say) is sent
again, optionally to another carrier (the customer's corrected barcode, or none: ECPay's member carrier). The
worker asks ECPay first (GetIssue by its RelateNumber), so a retry never issues twice.
"""

from __future__ import annotations

from sqlalchemy import text

from esa_domain.core.states import InvoiceStatus
from esa_domain.infra import outbox, topics
from esa_domain.infra.db import UnitOfWork
from esa_domain.invoicing.carrier import Carrier, parse_carrier
from esa_domain.models import Operator
from esa_domain.operations.actions import ActionRefused
from esa_domain.operations.operators import record_action, require_role

RETRY_INVOICE = "retry_invoice"  # the audit action

_LOCK = text("SELECT id, status, carrier_kind, carrier_value FROM invoices WHERE payment_id = :p FOR UPDATE")
_CARRIER = text(
    "UPDATE invoices SET carrier_kind = :k, carrier_value = :v, updated_at = now() WHERE id = :id AND status = :s"
)


def retry_invoice(
    uow: UnitOfWork, operator: Operator, payment_id: int, reason: str, carrier: Carrier | None = None
) -> int:
    """Send the order's refused e-invoice again (after commit), to `carrier` when given (format checked:
    InvalidCarrier). Returns the invoice's id. Raises ActionRefused unless its invoice is FAILED."""
    require_role(operator, "operator")
    why = (reason or "").strip()
    if len(why) < 3:
        raise ActionRefused("say why in a few words: the reason is kept in the audit trail")
    s = uow.session
    invoice = s.connection().execute(_LOCK, {"p": payment_id}).first()
    if invoice is None:
        raise ActionRefused(f"order {payment_id} has no e-invoice")
    if invoice.status != InvoiceStatus.FAILED:
        raise ActionRefused(
            f"only an e-invoice ECPay refused (FAILED) is sent again; this one is {invoice.status}"
        )
    detail = {"carrier_before": [invoice.carrier_kind, invoice.carrier_value]}
    if carrier is not None:
        carrier = parse_carrier(carrier.kind, carrier.value)
        s.connection().execute(
            _CARRIER, {"k": carrier.kind, "v": carrier.value, "id": invoice.id, "s": InvoiceStatus.FAILED}
        )
        detail["carrier_after"] = [carrier.kind, carrier.value]
    outbox.record(s, topics.ISSUE_INVOICE, {"invoice_id": int(invoice.id)})
    record_action(s, operator.id, RETRY_INVOICE, payment_id=payment_id, reason=why, detail=detail)
    uow.commit()
    return int(invoice.id)
