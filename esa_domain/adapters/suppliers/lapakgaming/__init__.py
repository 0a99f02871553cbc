"""Lapak Gaming: game top-ups and vouchers. The adapter, its answer codes and its settings."""

from esa_domain.adapters.suppliers.lapakgaming.adapter import LapakGamingAdapter
from esa_domain.adapters.suppliers.lapakgaming.settings import LapakGamingSettings
from esa_domain.adapters.suppliers.spec import SupplierSpec

SUPPLIER = SupplierSpec(code="lapakgaming", settings=LapakGamingSettings)

__all__ = ["SUPPLIER", "LapakGamingAdapter", "LapakGamingSettings"]
