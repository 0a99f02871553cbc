"""The supplier registry: one line per supplier. Adding a supplier is one adapter module and one line here."""

from __future__ import annotations

from collections.abc import Callable

from esa_domain.adapters.suppliers.base import SupplierAdapter
from esa_domain.infra.settings import Settings


def _secret(value) -> str:  # type: ignore[no-untyped-def]
    return value.get_secret_value()


def _iak(s: Settings) -> SupplierAdapter | None:
    from esa_domain.adapters.suppliers.iak import IakAdapter

    if not (s.iak_username and _secret(s.iak_api_key)):
        return None
    return IakAdapter(
        username=s.iak_username,
        api_key=s.iak_api_key,
        prepaid_url=s.iak_prepaid_url,
        postpaid_url=s.iak_postpaid_url,
        read_timeout_s=s.supplier_read_timeout_s,
    )


def _lapakgaming(s: Settings) -> SupplierAdapter | None:
    from esa_domain.adapters.suppliers.lapakgaming import LapakGamingAdapter

    if not _secret(s.lapakgaming_secret_key):
        return None
    return LapakGamingAdapter(
        secret_key=s.lapakgaming_secret_key,
        base_url=s.lapakgaming_base_url,
        read_timeout_s=s.supplier_read_timeout_s,
    )


def _billfazz(s: Settings) -> SupplierAdapter | None:
    from esa_domain.adapters.suppliers.billfazz import BillfazzAdapter

    if not (s.billfazz_api_key and _secret(s.billfazz_api_secret)):
        return None
    return BillfazzAdapter(
        api_key=s.billfazz_api_key,
        api_secret=s.billfazz_api_secret,
        base_url=s.billfazz_base_url,
        read_timeout_s=s.supplier_read_timeout_s,
    )


def _redision(s: Settings) -> SupplierAdapter | None:
    from esa_domain.adapters.suppliers.redision import RedisionAdapter, RedisionConfig

    if not (s.redision_base_url and s.redision_client_id and _secret(s.redision_client_secret)):
        return None
    return RedisionAdapter(
        RedisionConfig(
            base_url=s.redision_base_url,
            client_id=s.redision_client_id,
            client_secret=_secret(s.redision_client_secret),
            partner_id=s.redision_partner_id,
            read_timeout_s=s.supplier_read_timeout_s,
        )
    )


def _pulsaif(s: Settings) -> SupplierAdapter | None:
    from esa_domain.adapters.suppliers.pulsaif import PulsaIFAdapter, PulsaIFConfig

    if not (s.pulsaif_base_url and s.pulsaif_member_id and _secret(s.pulsaif_pin)):
        return None
    return PulsaIFAdapter(
        PulsaIFConfig(
            base_url=s.pulsaif_base_url,
            member_id=s.pulsaif_member_id,
            pin=_secret(s.pulsaif_pin),
            password=_secret(s.pulsaif_password),
            callback_secret=_secret(s.pulsaif_callback_secret),
            read_timeout_s=s.supplier_read_timeout_s,
        )
    )


REGISTRY: dict[str, Callable[[Settings], SupplierAdapter | None]] = {
    "iak": _iak,
    "lapakgaming": _lapakgaming,
    "billfazz": _billfazz,
    "redision": _redision,
    "pulsaif": _pulsaif,
}


def build_adapters(settings: Settings) -> dict[str, SupplierAdapter]:
    """Every configured supplier's adapter, by code."""
    adapters = {}
    for code, factory in REGISTRY.items():
        adapter = factory(settings)
        if adapter is not None:
            adapters[code] = adapter
    return adapters
