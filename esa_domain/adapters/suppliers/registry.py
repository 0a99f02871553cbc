"""The supplier registry: one line per supplier. Adding a supplier is one folder (adapter, codes, settings) and
one line here."""

from __future__ import annotations

from collections.abc import Mapping

from esa_domain.adapters.suppliers import billfazz, iak, lapakgaming, pulsaif, redision
from esa_domain.adapters.suppliers.base import SupplierAdapter
from esa_domain.adapters.suppliers.spec import SupplierSettings, SupplierSpec
from esa_domain.infra.settings import Settings

SUPPLIERS: tuple[SupplierSpec, ...] = (
    iak.SUPPLIER,
    lapakgaming.SUPPLIER,
    billfazz.SUPPLIER,
    redision.SUPPLIER,
    pulsaif.SUPPLIER,
)


def supplier_settings(env: Mapping[str, str] | None = None) -> dict[str, SupplierSettings]:
    """Every supplier's settings by code: from the environment and `.env`, or from `env` where it names them.

    `env` holds environment-style names (`IAK_USERNAME`, `PULSAIF_PIN`, ...), as given to a worker process.
    """
    return {spec.code: spec.settings() if env is None else spec.settings_from(env) for spec in SUPPLIERS}


def build_adapters(settings: Settings) -> dict[str, SupplierAdapter]:
    """Every configured supplier's adapter, by code.

    Each supplier's settings come from `settings.suppliers` when given (and only the suppliers it names are
    built), else from the environment. A supplier whose credentials are empty is left out: routing skips it.
    """
    given = supplier_settings() if settings.suppliers is None else settings.suppliers
    known = {spec.code for spec in SUPPLIERS}
    if unknown := sorted(set(given) - known):
        raise ValueError(
            f"no supplier registered as {', '.join(unknown)}; the registered ones: {sorted(known)}"
        )
    adapters = {}
    for spec in SUPPLIERS:
        config = given.get(spec.code)
        if config is None:
            continue
        if not isinstance(config, spec.settings):
            raise TypeError(f"{spec.code} takes {spec.settings.__name__}, not {type(config).__name__}")
        adapter = config.build(settings.supplier_read_timeout_s)
        if adapter is not None:
            adapters[spec.code] = adapter
    return adapters
