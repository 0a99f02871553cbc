"""Pulsa IF's settings: PULSAIF_BASE_URL, PULSAIF_MEMBER_ID, PULSAIF_PIN, PULSAIF_PASSWORD, PULSAIF_CALLBACK_SECRET."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from esa_domain.adapters.suppliers.pulsaif.adapter import PulsaIFAdapter, PulsaIFConfig
from esa_domain.adapters.suppliers.spec import SupplierSettings


class PulsaIFSettings(SupplierSettings):
    """`pin` and `password` only ever enter the sign; `callback_secret` is the last path segment of our report URL."""

    model_config = SettingsConfigDict(env_prefix="PULSAIF_", env_file=".env", extra="ignore")

    base_url: str = ""
    member_id: str = ""
    pin: SecretStr = SecretStr("")
    password: SecretStr = SecretStr("")
    callback_secret: SecretStr = SecretStr("")

    @property
    def configured(self) -> bool:
        # a missing password or a short callback secret makes the adapter refuse to start: a configuration
        # error, not an absent supplier
        return bool(self.base_url and self.member_id and self.pin.get_secret_value())

    def build(self, read_timeout_s: float) -> PulsaIFAdapter | None:
        if not self.configured:
            return None
        return PulsaIFAdapter(
            PulsaIFConfig(
                base_url=self.base_url,
                member_id=self.member_id,
                pin=self.pin.get_secret_value(),
                password=self.password.get_secret_value(),
                callback_secret=self.callback_secret.get_secret_value(),
                read_timeout_s=read_timeout_s,
            )
        )
