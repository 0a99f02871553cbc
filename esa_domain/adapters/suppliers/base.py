"""The one interface every supplier adapter implements, and the provider-neutral values it returns.

An adapter turns every answer of its supplier, for every call, into exactly one `SupplierOutcome`
(see shared/specs/suppliers.md, "One outcome per attempt"). It never decides what to do next: the
fulfillment engine does. Every HTTP exchange is returned as an `Exchange` with secrets and signatures
already redacted, so the caller can store it for the audit trail.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Protocol

SECRET_FIELDS = ("pin", "voucher_code")


@dataclass(frozen=True)
class Delivery:
    """What was delivered for one item; every field is None when the product has no such thing."""

    serial: str | None = None  # the supplier's serial number / reference of the top-up
    pin: str | None = None  # a voucher's PIN (secret)
    voucher_code: str | None = None  # a voucher's code (secret)
    token: str | None = None  # PLN prepaid token
    customer_name: str | None = None  # PLN: the meter owner's name as the supplier states it
    tariff: str | None = None  # PLN: tariff/power, e.g. "R1/1300VA"
    kwh: str | None = None  # PLN: kWh bought, as stated

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def masked(self) -> dict[str, str | None]:
        """For logs and operators before a reveal: secrets shown as '***' (present) or None (absent)."""
        return {k: ("***" if k in SECRET_FIELDS and v else v) for k, v in self.as_dict().items()}

    def __repr__(self) -> str:  # a stray log of a Delivery never shows a secret
        shown = ", ".join(f"{k}={v!r}" for k, v in self.masked().items() if v is not None)
        return f"Delivery({shown})"

    __str__ = __repr__


class Outcome(StrEnum):
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    PENDING = "PENDING"
    UNKNOWN = "UNKNOWN"


class FailureClass(StrEnum):
    CUSTOMER = "customer"  # bad number, blocked, wrong game id: another supplier will not help
    PRODUCT = "product"  # out of stock, cut-off, maintenance, price changed: try the next supplier
    CONFIG = "config"  # credentials, balance, IP whitelist: try the next supplier and alert operators


@dataclass(frozen=True)
class SupplierOutcome:
    outcome: Outcome
    failure_class: FailureClass | None = None
    # what the customer sees in lists and alerts: the serial or the PLN token, NEVER a PIN or a voucher code
    artifact: str | None = None
    supplier_code: str | None = None  # the supplier's own status/response code, as answered
    message: str = ""
    supplier_txn_id: str | None = None
    price_idr: int | None = None  # what the supplier says it charged, when it says
    # a status check answered "no such transaction" (IAK rc 06, an empty BillFazz order list): still UNKNOWN,
    # because the purchase may be in flight; the engine trusts it only after a grace period, then falls back
    no_transaction: bool = False
    # what was delivered, split into its parts (serial, PIN, voucher code, token, meter facts); the engine stores
    # it encrypted where secret (esa_domain.fulfillment.delivery). Its repr masks the secrets.
    delivery: Delivery | None = None

    def __post_init__(self) -> None:
        if (self.outcome is Outcome.FAILED) != (self.failure_class is not None):
            raise ValueError("a FAILED outcome needs a failure class, and only a FAILED one has one")
        if self.no_transaction and self.outcome is not Outcome.UNKNOWN:
            raise ValueError("'no such transaction' is an UNKNOWN outcome until the grace period has passed")

    @property
    def is_final(self) -> bool:
        return self.outcome in (Outcome.SUCCESS, Outcome.FAILED)


@dataclass(frozen=True)
class Exchange:
    """One request/response with the supplier, redacted, for the audit trail."""

    operation: str  # purchase | status | catalog | balance | callback | token
    method: str
    url: str  # without secrets in the query string
    request: dict[str, Any] | None
    response: dict[str, Any] | str | None
    http_status: int | None
    latency_ms: int
    error: str | None = None  # timeout, connection reset, ...


@dataclass(frozen=True)
class CallResult:
    outcome: SupplierOutcome
    exchanges: list[Exchange] = field(default_factory=list)


@dataclass(frozen=True)
class BillRef:
    """The inquiry a bill payment pays (esa_domain.ordering.bills): the ref_id it was asked under, the supplier's
    inquiry id (IAK's tr_id, signed into the payment) and the total it quoted; a fresh inquiry (the first one
    went stale) is paid only if it asks for exactly that total."""

    reference: str
    txn_id: str | None
    price_idr: int | None
    months: int | None = None


@dataclass(frozen=True)
class BillQuery:
    """One bill inquiry: the product's supplier code, the customer number, and what some bills also need."""

    reference: str  # ours, unique per inquiry (IAK's ref_id)
    sku: str
    customer_no: str
    months: int | None = None  # BPJS Kesehatan: months to pay
    region: str | None = None  # PDAM: the water company's region, where the supplier takes it apart


@dataclass(frozen=True)
class BillAnswer:
    """What an inquiry found. `outcome` SUCCESS: a bill to pay (the fields below are filled); FAILED with class
    CUSTOMER: no bill to pay (unknown number, already paid); anything else: the supplier could not say."""

    outcome: SupplierOutcome
    customer_name: str | None = None
    periods: str | None = None
    bill_idr: int | None = None  # the bill itself
    admin_idr: int | None = None  # the biller's admin fee
    price_idr: int | None = None  # bill + admin fee: what the bill costs
    cost_idr: int | None = None  # what the supplier deducts from our deposit for it
    detail: dict[str, Any] | None = None
    exchanges: list[Exchange] = field(default_factory=list)


@dataclass(frozen=True)
class MeterOwner:
    """A PLN prepaid meter as its supplier knows it. `found` False: the supplier says there is no such meter."""

    found: bool
    name: str | None = None
    segment_power: str | None = None  # tariff / power, e.g. "R1 /000001300"


@dataclass(frozen=True)
class GameAccount:
    """A game player id as the game knows it. `found` False: the supplier says there is no such player."""

    found: bool
    nickname: str | None = None


@dataclass(frozen=True)
class PurchaseRequest:
    reference: str  # ours, one per (item, supplier) attempt, reused for every status check
    sku: str  # the supplier's product code
    target: str  # phone number, meter number, game user id, customer number
    zone: str | None = None  # game zone / server id, when the product needs one
    expected_cost_idr: int | None = None  # guards against silent price changes where the supplier supports it
    callback_url: str | None = None
    postpaid: bool = False  # a bill payment: inquiry then payment
    bill: BillRef | None = None  # a bill payment from an inquiry the customer saw: pay exactly that one


@dataclass(frozen=True)
class CatalogEntry:
    sku: str
    name: str
    cost_idr: int
    available: bool
    category: str | None = None


@dataclass(frozen=True)
class CatalogResult:
    entries: list[CatalogEntry]
    exchanges: list[Exchange] = field(default_factory=list)


@dataclass(frozen=True)
class BalanceResult:
    balance_idr: int
    exchanges: list[Exchange] = field(default_factory=list)


@dataclass(frozen=True)
class CallbackRequest:
    """An inbound HTTP request on /callbacks/<supplier>, as received."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    query: dict[str, str]
    body: bytes
    remote_addr: str | None = None


@dataclass(frozen=True)
class CallbackResult:
    """What a callback says.

    `authenticated` is False for a forged or malformed callback: it must change nothing.
    `outcome` is None when the callback is only a trigger (unsigned suppliers): the engine then runs a
    status check for `reference` instead of believing the body.
    """

    authenticated: bool
    reference: str | None
    outcome: SupplierOutcome | None
    reply_status: int = 200
    reply_body: str = "OK"
    reply_media_type: str = "text/plain"
    reason: str = ""  # why it was not accepted, for the record
    price_idr: int | None = None  # amount the callback claims, checked against the attempt
    redacted: dict[str, Any] | None = None  # the callback as stored (secrets/signatures removed)


class SupplierError(Exception):
    """Raised only for programming/configuration errors, never for a supplier's answer."""


class SupplierAdapter(Protocol):
    code: str  # registry key: iak | billfazz | redision | lapakgaming | pulsaif

    def purchase(self, request: PurchaseRequest) -> CallResult: ...

    def check_status(self, request: PurchaseRequest) -> CallResult: ...

    def fetch_catalog(self) -> CatalogResult: ...

    def balance(self) -> BalanceResult: ...

    def parse_callback(self, request: CallbackRequest) -> CallbackResult: ...
