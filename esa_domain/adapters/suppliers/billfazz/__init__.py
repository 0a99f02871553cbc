"""BillFazz: prepaid and postpaid payments. The adapter, its answer codes and its settings."""

from esa_domain.adapters.suppliers.billfazz.adapter import BillfazzAdapter
from esa_domain.adapters.suppliers.billfazz.settings import BillfazzSettings
from esa_domain.adapters.suppliers.spec import SupplierSpec

SUPPLIER = SupplierSpec(code="billfazz", settings=BillfazzSettings)

__all__ = ["SUPPLIER", "BillfazzAdapter", "BillfazzSettings"]
