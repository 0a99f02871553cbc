"""Pulsa IF adapter: an ASSUMED OtomaX-style H2H contract over HTTP GET (see shared/specs/suppliers.md).

Replies are one line of Indonesian text read by pattern, so every pattern is a constant (those that decide the
outcome in `codes.py`, those that pick out fields below) and is one edit to correct once real docs arrive.
Additions beyond the spec, marked `ASSUMED+`: the sign of /pricelist and /balance
(`OtomaX|memberID|pin|password`), GET /balance answering `Saldo <amount>`, and the price read from
`Harga <amount>` in a reply, and `tidak ditemukan` answering a check of an unknown refID (UNKNOWN with
supplier_code `not_found`, listed in `codes.NOT_FOUND_CODES` for the engine's grace re-check, as for IAK
rc 06).

ASSUMPTIONS (Pulsa IF publishes nothing; it runs the OtomaX H2H conventions): a transaction is one GET
`/trx?memberID&product&dest&refID&sign` answered by one text line `R#<refID> <product>.<dest> <verdict>. ...
Saldo <balance>`; the verdict words are SUKSES (with `SN: <serial>`), GAGAL (with a reason), or "akan diproses"
(pending; a report follows on the URL set once per account). Resending the same refID, or `check=1`, asks for
its status. OtomaX centres word their replies freely, so only what a reply says unmistakably is believed:
- GAGAL is a definite failure ONLY with a reason this adapter recognises (bad number or destination; product
  disturbed, empty or cut off; our sign/IP; our balance). Any other GAGAL, including a differently worded
  duplicate ("trx ganda", "sudah pernah") or a status reply we cannot read, is UNKNOWN and settled by a status
  check: the first purchase may have gone through, so it never falls back.
- a PLN serial `token/name/segment/power/kWh` is split into the token and the meter's facts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from esa_domain.adapters.suppliers._delivery import delivery_from, shown
from esa_domain.adapters.suppliers._http import REDACTED, build_client, timed_request
from esa_domain.adapters.suppliers.base import (
    BalanceResult,
    CallbackRequest,
    CallbackResult,
    CallResult,
    CatalogEntry,
    CatalogResult,
    Exchange,
    FailureClass,
    Outcome,
    PurchaseRequest,
    SupplierError,
    SupplierOutcome,
)
from esa_domain.adapters.suppliers.pulsaif.codes import (
    AUTH_WORDS,
    BALANCE_WORDS,
    CALLBACK_STATUS,
    CUSTOMER_WORDS,
    DUPLICATE,
    FAILED,
    NOT_FOUND,
    PENDING,
    PRODUCT_WORDS,
    SUCCESS,
)

TRX_PATH = "/trx"
PRICELIST_PATH = "/pricelist"
BALANCE_PATH = "/balance"  # ASSUMED+
REDACT_KEYS = ("sign", "pin", "password")

REFERENCE = re.compile(r"\bR#(?P<ref>[^\s.,]+)")
SERIAL = re.compile(r"\bSN\s*[:/]\s*")
SERIAL_END = re.compile(r"\.\s|\.?\s*$|\s+(?:Harga|Saldo|@)", re.IGNORECASE)
PRICE = re.compile(r"\bHarga\s*:?\s*(?:Rp\.?\s*)?(?P<amount>\d[\d.]*)", re.IGNORECASE)
BALANCE = re.compile(r"\bSaldo\b\D*(?P<amount>\d[\d.]*)", re.IGNORECASE)
AVAILABLE = frozenset({"1", "aktif", "active", "open", "normal", "tersedia", "ready"})


# ---- signatures (pure) ----------------------------------------------------------------------------------


def _b64_sha1(text: str) -> str:
    # sha1 here is the supplier's signature scheme, not our choice of hash
    digest = hashlib.sha1(text.encode()).digest()  # noqa: S324
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def trx_sign(member_id: str, product: str, dest: str, ref_id: str, pin: str, password: str) -> str:
    """The `sign` of /trx: base64url_nopad(sha1("OtomaX|member|product|dest|ref|pin|password"))."""
    return _b64_sha1(f"OtomaX|{member_id}|{product}|{dest}|{ref_id}|{pin}|{password}")


def account_sign(member_id: str, pin: str, password: str) -> str:
    """The `sign` of /pricelist and /balance (ASSUMED+): b64url_nopad(sha1("OtomaX|member|pin|password"))."""
    return _b64_sha1(f"OtomaX|{member_id}|{pin}|{password}")


# ---- replies (pure) -------------------------------------------------------------------------------------


def parse_idr(text: str) -> int:
    """An Indonesian-formatted whole-rupiah amount ("10.150", "Rp 1.234.567") as int."""
    digits = re.sub(r"[^\d]", "", text)
    if not digits:
        raise ValueError(f"no rupiah amount in {text!r}")
    return int(digits)


def _match_int(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return parse_idr(match.group("amount").rstrip(".")) if match else None


def serial_from(text: str) -> str | None:
    """The serial after `SN:` or `SN/`, up to the end of its sentence ("SN: 1234/NAME/R1/900/22.5.")."""
    match = SERIAL.search(text)
    if match is None:
        return None
    rest = text[match.end() :]
    end = SERIAL_END.search(rest)
    serial = rest[: end.start()] if end else rest
    return serial.strip() or None


def failure_class_of(reason: str, *, is_status_query: bool = False) -> FailureClass | None:
    """The class a GAGAL reason names (first sentence only: replies end with the balance).

    Returns None when the reason is not one this adapter recognises, or when a status query itself was refused
    (bad sign, IP): neither says whether the order went through.
    """
    first = re.split(r"\.\s|\.$", reason.strip(), maxsplit=1)[0]
    if CUSTOMER_WORDS.search(first):
        return FailureClass.CUSTOMER
    if PRODUCT_WORDS.search(first):
        return FailureClass.PRODUCT
    if AUTH_WORDS.search(first):
        return None if is_status_query else FailureClass.CONFIG
    if BALANCE_WORDS.search(first):
        return FailureClass.CONFIG
    return None


def parse_reply(text: str, reference: str, *, is_status_query: bool = False) -> SupplierOutcome:
    """Map one /trx reply line to exactly one outcome; `reference` is our refID, checked against `R#`."""
    line = " ".join(text.split())
    price = _match_int(PRICE, line)
    answered = REFERENCE.search(line)
    if answered and answered.group("ref") != reference:
        return SupplierOutcome(Outcome.UNKNOWN, message=f"reply is about R#{answered.group('ref')}: {line}")
    if DUPLICATE.search(line):
        return SupplierOutcome(Outcome.UNKNOWN, message=f"duplicate reference, query it: {line}")
    if is_status_query and NOT_FOUND.search(line) and not FAILED.search(line):
        return SupplierOutcome(
            Outcome.UNKNOWN, supplier_code="not_found", message=f"no such refID: {line}", no_transaction=True
        )
    if SUCCESS.search(line):
        delivery = delivery_from(serial_from(line))
        return SupplierOutcome(
            Outcome.SUCCESS, artifact=shown(delivery), delivery=delivery, message=line, price_idr=price
        )
    failed = FAILED.search(line)
    if failed:
        failure_class = failure_class_of(failed.group("reason"), is_status_query=is_status_query)
        if failure_class is None:
            return SupplierOutcome(Outcome.UNKNOWN, message=f"GAGAL without a definite reason: {line[:280]}")
        return SupplierOutcome(Outcome.FAILED, failure_class, message=line, price_idr=price)
    if PENDING.search(line):
        return SupplierOutcome(Outcome.PENDING, message=line, price_idr=price)
    return SupplierOutcome(Outcome.UNKNOWN, message=f"unrecognised reply: {line[:300]}")


def parse_pricelist(text: str) -> list[CatalogEntry]:
    """`code;name;price;status` lines as catalog entries; lines that do not fit are skipped."""
    entries = []
    for raw in text.splitlines():
        parts = [p.strip() for p in raw.split(";")]
        if len(parts) != 4 or not parts[0]:
            continue
        code, name, price, status = parts
        if not re.fullmatch(r"\d{1,3}(\.\d{3})+|\d+", price):
            continue  # a header line, or a price that is not whole rupiah
        entries.append(CatalogEntry(code, name or code, parse_idr(price), status.lower() in AVAILABLE))
    return entries


# ---- the adapter ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PulsaIFConfig:
    """Where and how to reach Pulsa IF.

    `pin` and `password` only ever enter the sign. `callback_secret` is the last path segment of the report
    URL we give Pulsa IF (its callbacks are unsigned, so knowing the URL is the credential).
    """

    base_url: str
    member_id: str
    pin: str = field(repr=False)
    password: str = field(repr=False)
    callback_secret: str = field(repr=False)
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 15.0


class PulsaIFAdapter:
    """The SupplierAdapter for Pulsa IF."""

    code = "pulsaif"

    def __init__(self, config: PulsaIFConfig, transport: httpx.BaseTransport | None = None) -> None:
        """`transport` routes calls elsewhere (tests)."""
        if not (config.base_url and config.member_id and config.pin and config.password):
            raise SupplierError("Pulsa IF needs base_url, member_id, pin and password")
        if len(config.callback_secret) < 16:
            raise SupplierError(
                "Pulsa IF callback_secret must be at least 16 characters: it is the credential"
            )
        self._config = config
        self._base = config.base_url.rstrip("/")
        self._client = build_client(
            transport=transport,
            connect_timeout_s=config.connect_timeout_s,
            read_timeout_s=config.read_timeout_s,
        )

    def _get(
        self, operation: str, path: str, params: dict[str, str]
    ) -> tuple[httpx.Response | None, Exchange]:
        return timed_request(
            self._client, operation, "GET", self._base + path, params=params, redact_keys=REDACT_KEYS
        )

    def _trx_params(self, request: PurchaseRequest) -> dict[str, str]:
        c = self._config
        sign = trx_sign(c.member_id, request.sku, request.target, request.reference, c.pin, c.password)
        return {
            "memberID": c.member_id,
            "product": request.sku,
            "dest": request.target,
            "refID": request.reference,
            "sign": sign,
        }

    def purchase(self, request: PurchaseRequest) -> CallResult:
        """GET /trx; a lost answer is UNKNOWN, never FAILED."""
        if request.postpaid:
            raise SupplierError("Pulsa IF (assumed contract) has no bill payment flow")
        response, exchange = self._get("purchase", TRX_PATH, self._trx_params(request))
        return CallResult(self._outcome(response, request.reference, is_status_query=False), [exchange])

    def check_status(self, request: PurchaseRequest) -> CallResult:
        """The same GET /trx with check=1: reports the existing transaction, never buys."""
        params = {**self._trx_params(request), "check": "1"}
        response, exchange = self._get("status", TRX_PATH, params)
        return CallResult(self._outcome(response, request.reference, is_status_query=True), [exchange])

    @staticmethod
    def _outcome(
        response: httpx.Response | None, reference: str, *, is_status_query: bool
    ) -> SupplierOutcome:
        if response is None:
            return SupplierOutcome(Outcome.UNKNOWN, message="no answer (timeout or connection error)")
        if response.status_code >= 500:
            return SupplierOutcome(Outcome.UNKNOWN, message=f"HTTP {response.status_code}")
        return parse_reply(response.text, reference, is_status_query=is_status_query)

    def fetch_catalog(self) -> CatalogResult:
        """GET /pricelist."""
        c = self._config
        params = {"memberID": c.member_id, "sign": account_sign(c.member_id, c.pin, c.password)}
        response, exchange = self._get("catalog", PRICELIST_PATH, params)
        if response is None or response.status_code != 200:
            raise SupplierError(f"Pulsa IF price list unavailable: {exchange.http_status or exchange.error}")
        entries = parse_pricelist(response.text)
        if not entries and FAILED.search(response.text):
            raise SupplierError(f"Pulsa IF refused the price list: {response.text.strip()[:200]}")
        return CatalogResult(entries, [exchange])

    def balance(self) -> BalanceResult:
        """GET /balance (ASSUMED+), answered `Saldo <amount>`."""
        c = self._config
        params = {"memberID": c.member_id, "sign": account_sign(c.member_id, c.pin, c.password)}
        response, exchange = self._get("balance", BALANCE_PATH, params)
        amount = _match_int(BALANCE, response.text) if response is not None else None
        if response is None or response.status_code != 200 or amount is None:
            raise SupplierError(f"Pulsa IF balance unavailable: {exchange.http_status or exchange.error}")
        return BalanceResult(amount, [exchange])

    def parse_callback(self, request: CallbackRequest) -> CallbackResult:
        """A report GET ?refid=&status=20|40|1&price=&message=, authenticated by the secret path segment."""
        segment = request.path.rstrip("/").rsplit("/", 1)[-1]
        stored_path = request.path.replace(segment, REDACTED) if segment else request.path
        stored: dict[str, Any] = {"path": stored_path, "query": dict(request.query)}
        if not hmac.compare_digest(segment.encode(), self._config.callback_secret.encode()):
            return _rejected("the callback path does not end with our secret", 403, stored)
        reference = request.query.get("refid", "").strip()
        status = request.query.get("status", "").strip()
        if not reference or status not in CALLBACK_STATUS:
            return _rejected(f"report without refid or with status {status!r}", 400, stored)
        message = " ".join(request.query.get("message", "").split())
        price = _safe_price(request.query.get("price", ""))
        outcome = CALLBACK_STATUS[status]
        if outcome is Outcome.SUCCESS:
            result = SupplierOutcome(
                outcome, artifact=serial_from(message), supplier_code=status, message=message
            )
        elif outcome is Outcome.FAILED:
            failure_class = _report_failure_class(message)
            result = SupplierOutcome(outcome, failure_class, supplier_code=status, message=message)
        else:
            result = SupplierOutcome(outcome, supplier_code=status, message=message)
        return CallbackResult(
            authenticated=True, reference=reference, outcome=result, price_idr=price, redacted=stored
        )

    def __repr__(self) -> str:
        return f"PulsaIFAdapter(base_url={self._base!r}, member_id={self._config.member_id!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


def _report_failure_class(message: str) -> FailureClass:
    failed = FAILED.search(message)
    return failure_class_of(failed.group("reason") if failed else message) or FailureClass.PRODUCT


def _safe_price(text: str) -> int | None:
    try:
        return parse_idr(text) if text.strip() else None
    except ValueError:
        return None


def _rejected(reason: str, status: int, stored: dict[str, Any]) -> CallbackResult:
    return CallbackResult(
        authenticated=False,
        reference=None,
        outcome=None,
        reply_status=status,
        reply_body="GAGAL",
        reason=reason,
        redacted=stored,
    )
