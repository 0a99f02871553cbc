"""Pulsa IF: pulsa over an assumed OtomaX-style H2H contract. The adapter, its reply patterns and its settings."""

from esa_domain.adapters.suppliers.pulsaif.adapter import PulsaIFAdapter, PulsaIFConfig
from esa_domain.adapters.suppliers.pulsaif.settings import PulsaIFSettings
from esa_domain.adapters.suppliers.spec import SupplierSpec

SUPPLIER = SupplierSpec(code="pulsaif", settings=PulsaIFSettings)

__all__ = ["SUPPLIER", "PulsaIFAdapter", "PulsaIFConfig", "PulsaIFSettings"]
