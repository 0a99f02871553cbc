"""BillFazz's settings: BILLFAZZ_API_KEY, BILLFAZZ_API_SECRET, BILLFAZZ_BASE_URL."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from esa_domain.adapters.suppliers.billfazz.adapter import SANDBOX_URL, BillfazzAdapter
from esa_domain.adapters.suppliers.spec import SupplierSettings


class BillfazzSettings(SupplierSettings):
    """`api_key`/`api_secret` are the HTTP Basic credentials; `base_url` includes `/api/v1`."""

    model_config = SettingsConfigDict(env_prefix="BILLFAZZ_", env_file=".env", extra="ignore")

    api_key: str = ""
    api_secret: SecretStr = SecretStr("")
    base_url: str = SANDBOX_URL

    @property
    def configured(self) -> bool:
        return bool(self.api_key and self.api_secret.get_secret_value())

    def build(self, read_timeout_s: float) -> BillfazzAdapter | None:
        if not self.configured:
            return None
        return BillfazzAdapter(
            api_key=self.api_key,
            api_secret=self.api_secret,
            base_url=self.base_url,
            read_timeout_s=read_timeout_s,
        )
