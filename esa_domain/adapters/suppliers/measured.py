"""Supplier adapters as the composition root hands them out: every call counted, timed and named in the logs.

A thin wrapper around each adapter (esa_domain/infra/runtime.py wraps them all), so no adapter and no engine
step has to remember it: purchases and status checks are counted by supplier, operation and outcome
(esa_supplier_calls_total) and timed (esa_supplier_call_duration_seconds); a definite non-customer failure,
after which the engine moves the item on to the next supplier, is counted as a fallback from this one
(esa_supplier_fallbacks_total); and the supplier's code is bound to the log lines of the message that called it.
"""

from __future__ import annotations

import time
from typing import Any

from esa_domain.adapters.suppliers.base import (
    CallResult,
    FailureClass,
    Outcome,
    PurchaseRequest,
    SupplierAdapter,
)
from esa_domain.infra import logging_setup, metrics


class MeasuredAdapter:
    """Implements SupplierAdapter by delegating to `inner`; every other attribute is the inner adapter's."""

    def __init__(self, inner: SupplierAdapter) -> None:
        self.inner = inner
        self.code = inner.code

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _measured(self, operation: str, request: PurchaseRequest) -> CallResult:
        logging_setup.bind(supplier=self.code)
        started = time.perf_counter()
        try:
            result: CallResult = getattr(self.inner, operation)(request)
        except Exception:
            metrics.SUPPLIER_CALLS.labels(self.code, operation, "error").inc()
            raise
        finally:
            metrics.SUPPLIER_DURATION.labels(self.code, operation).observe(time.perf_counter() - started)
        o = result.outcome
        metrics.SUPPLIER_CALLS.labels(self.code, operation, metrics.outcome_label(o)).inc()
        if o.outcome is Outcome.FAILED and o.failure_class is not FailureClass.CUSTOMER:
            metrics.SUPPLIER_FALLBACKS.labels(self.code).inc()
        return result

    def purchase(self, request: PurchaseRequest) -> CallResult:
        return self._measured("purchase", request)

    def check_status(self, request: PurchaseRequest) -> CallResult:
        return self._measured("check_status", request)


def measured(adapters: dict[str, SupplierAdapter]) -> dict[str, SupplierAdapter]:
    """The same adapters, each measured (idempotent)."""
    return {
        code: a if isinstance(a, MeasuredAdapter) else MeasuredAdapter(a)  # type: ignore[misc]
        for code, a in adapters.items()
    }
