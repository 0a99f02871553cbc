"""Lapak Gaming's settings: LAPAKGAMING_SECRET_KEY, LAPAKGAMING_BASE_URL."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from esa_domain.adapters.suppliers.lapakgaming.adapter import DEV_URL, LapakGamingAdapter
from esa_domain.adapters.suppliers.spec import SupplierSettings


class LapakGamingSettings(SupplierSettings):
    """`secret_key` is the reseller's bearer key; `base_url` the dev or production host."""

    model_config = SettingsConfigDict(env_prefix="LAPAKGAMING_", env_file=".env", extra="ignore")

    secret_key: SecretStr = SecretStr("")
    base_url: str = DEV_URL

    @property
    def configured(self) -> bool:
        return bool(self.secret_key.get_secret_value())

    def build(self, read_timeout_s: float) -> LapakGamingAdapter | None:
        if not self.configured:
            return None
        return LapakGamingAdapter(
            secret_key=self.secret_key, base_url=self.base_url, read_timeout_s=read_timeout_s
        )
