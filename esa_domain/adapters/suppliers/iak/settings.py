"""IAK's settings: IAK_USERNAME, IAK_API_KEY, IAK_PREPAID_URL, IAK_POSTPAID_URL, IAK_CALLBACK_ALLOWED_IPS."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from esa_domain.adapters.suppliers.iak.adapter import SANDBOX_POSTPAID_URL, SANDBOX_PREPAID_URL, IakAdapter
from esa_domain.adapters.suppliers.spec import SupplierSettings


class IakSettings(SupplierSettings):
    """`username` is the IAK account's phone number, `api_key` its development or production key."""

    model_config = SettingsConfigDict(env_prefix="IAK_", env_file=".env", extra="ignore")

    username: str = ""
    api_key: SecretStr = SecretStr("")
    prepaid_url: str = SANDBOX_PREPAID_URL
    postpaid_url: str = SANDBOX_POSTPAID_URL
    # IAK's callback source addresses or CIDRs (comma list), from IAK's security page; empty: sign only
    callback_allowed_ips: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.username and self.api_key.get_secret_value())

    def build(self, read_timeout_s: float) -> IakAdapter | None:
        if not self.configured:
            return None
        return IakAdapter(
            username=self.username,
            api_key=self.api_key,
            prepaid_url=self.prepaid_url,
            postpaid_url=self.postpaid_url,
            callback_allowed_ips=self.callback_allowed_ips,
            read_timeout_s=read_timeout_s,
        )
