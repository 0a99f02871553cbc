"""IAK: prepaid top-ups and postpaid bills. The adapter, its response codes and its settings."""

from esa_domain.adapters.suppliers.iak.adapter import IakAdapter
from esa_domain.adapters.suppliers.iak.settings import IakSettings
from esa_domain.adapters.suppliers.spec import SupplierSpec

SUPPLIER = SupplierSpec(code="iak", settings=IakSettings)

__all__ = ["SUPPLIER", "IakAdapter", "IakSettings"]
