"""Redision's settings: REDISION_BASE_URL, REDISION_CLIENT_ID, REDISION_CLIENT_SECRET, REDISION_PARTNER_ID."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from esa_domain.adapters.suppliers.redision.adapter import RedisionAdapter, RedisionConfig
from esa_domain.adapters.suppliers.spec import SupplierSettings


class RedisionSettings(SupplierSettings):
    """`client_id` is sent as X-CLIENT-KEY, `client_secret` keys every HMAC, `partner_id` goes in X-PARTNER-ID."""

    model_config = SettingsConfigDict(env_prefix="REDISION_", env_file=".env", extra="ignore")

    base_url: str = ""
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    partner_id: str = ""

    @property
    def configured(self) -> bool:
        # without a partner_id the adapter refuses to start: a configuration error, not an absent supplier
        return bool(self.base_url and self.client_id and self.client_secret.get_secret_value())

    def build(self, read_timeout_s: float) -> RedisionAdapter | None:
        if not self.configured:
            return None
        return RedisionAdapter(
            RedisionConfig(
                base_url=self.base_url,
                client_id=self.client_id,
                client_secret=self.client_secret.get_secret_value(),
                partner_id=self.partner_id,
                read_timeout_s=read_timeout_s,
            )
        )
