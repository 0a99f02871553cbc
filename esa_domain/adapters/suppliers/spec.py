"""What a supplier folder gives the registry: its code and its own settings class, which builds its adapter.

Each supplier reads its own environment variables (`IAK_USERNAME`, `PULSAIF_PIN`, ...) through a
`SupplierSettings` subclass in `<code>/settings.py`; the central Settings keeps only what all suppliers share
(`SUPPLIER_READ_TIMEOUT_S`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic_settings import BaseSettings, SettingsConfigDict

from esa_domain.adapters.suppliers.base import SupplierAdapter


class SupplierSettings(BaseSettings, ABC):
    """One supplier's credentials and addresses, read from the environment (and `.env`) under its prefix."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    @property
    @abstractmethod
    def configured(self) -> bool:
        """Whether the credentials are there; a supplier without them is not registered (routing skips it)."""

    @abstractmethod
    def build(self, read_timeout_s: float) -> SupplierAdapter | None:
        """The adapter, or None when not `configured`; `read_timeout_s` bounds each read of each call."""


@dataclass(frozen=True)
class SupplierSpec:
    """A supplier as the registry knows it: `code` is the registry key (and the adapter's `code`)."""

    code: str
    settings: type[SupplierSettings]

    def settings_from(self, env: Mapping[str, str]) -> SupplierSettings:
        """This supplier's settings from environment-style names (`IAK_USERNAME`, ...) in `env`.

        What `env` does not name is read from the environment and `.env`, as a process given `env` would.
        """
        prefix = str(self.settings.model_config.get("env_prefix", "")).lower()
        fields = {
            name.lower().removeprefix(prefix): value
            for name, value in env.items()
            if name.lower().startswith(prefix)
        }
        return self.settings(**fields)
