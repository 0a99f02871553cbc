"""Redision: pulsa over an assumed SNAP-BI style contract. The adapter, its response codes and its settings."""

from esa_domain.adapters.suppliers.redision.adapter import RedisionAdapter, RedisionConfig
from esa_domain.adapters.suppliers.redision.settings import RedisionSettings
from esa_domain.adapters.suppliers.spec import SupplierSpec

SUPPLIER = SupplierSpec(code="redision", settings=RedisionSettings)

__all__ = ["SUPPLIER", "RedisionAdapter", "RedisionConfig", "RedisionSettings"]
