"""The customer API's knobs, read from the typed settings (tests install their own on app.state)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from esa_domain.infra.settings import Settings
from esa_domain.ordering.orders import OrderPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CustomerApiConfig:
    token_secret: bytes  # signs customer bearer tokens; >= 32 bytes
    token_ttl: timedelta = timedelta(minutes=30)
    line_channel_id: str = ""  # our LINE Login channel: the only ID-token audience accepted
    line_login_base_url: str = "https://api.line.me"  # where POST /oauth2/v2.1/verify lives
    line_login_page_url: str = ""  # the sandbox sign-in page the demo Mini App uses; "" means LIFF
    liff_id: str = ""
    cors_origins: tuple[str, ...] = ()  # Mini App origins allowed to call /api/v1 from a browser
    customer_per_window: int = 60
    address_per_window: int = 120
    window_s: int = 60
    public_url: str = "http://127.0.0.1:3000"
    policy: OrderPolicy = field(default_factory=OrderPolicy)

    @classmethod
    def from_settings(cls, settings: Settings, policy: OrderPolicy) -> CustomerApiConfig:
        """Build from `settings`; a missing token secret is refused in production, random per process else."""
        secret = settings.customer_token_secret.get_secret_value()
        if not secret:
            if settings.environment == "production":
                raise RuntimeError("CUSTOMER_TOKEN_SECRET must be set in production (32+ random bytes)")
            log.warning("no customer_token_secret set: using a random one (tokens die with this process)")
            secret = secrets.token_urlsafe(48)
        origins = tuple(o.strip().rstrip("/") for o in settings.miniapp_origins.split(",") if o.strip())
        return cls(
            token_secret=secret.encode(),
            token_ttl=timedelta(minutes=settings.customer_token_minutes),
            line_channel_id=settings.line_login_channel_id,
            line_login_base_url=settings.line_login_base_url or settings.line_api_base_url,
            line_login_page_url=settings.line_login_page_url,
            liff_id=settings.liff_id,
            cors_origins=origins,
            customer_per_window=settings.rate_limit_customer_per_minute,
            address_per_window=settings.rate_limit_address_per_minute,
            public_url=settings.public_url,
            policy=policy,
        )
