"""The FX source adapter: a JSON rate source over HTTP (FX_SOURCE_URL); the sandbox's /fx stands in for it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx

from esa_domain.catalog.fx_refresh import FxQuote, FxSourceError, checked_rate


class HttpFxSource:
    """A JSON rate source: GET `url` answers {"rate": "0.00198", ...} (TWD per 1 IDR).

    `name`: stored as the rate's source (default "http:<host>"). `timeout`: seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.name = name or f"http:{httpx.URL(url).host}"
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def fetch(self) -> FxQuote:
        try:
            response = self._http.get(self.url)
        except httpx.HTTPError as exc:
            raise FxSourceError(f"{self.name} could not be reached: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise FxSourceError(f"{self.name} answered HTTP {response.status_code}")
        try:
            body = json.loads(response.text, parse_float=Decimal)  # never through a binary float
        except ValueError:
            raise FxSourceError(f"{self.name} answered something that is not JSON") from None
        if not isinstance(body, dict) or "rate" not in body:
            raise FxSourceError(f"{self.name} answered no 'rate'")
        return FxQuote(checked_rate(body["rate"]), self.name, datetime.now(UTC))
