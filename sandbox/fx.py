"""A tiny FX rate source: GET /rates/IDR-TWD answers the IDR/TWD rate (TWD per 1 IDR) as a decimal string.

Run it with `uvicorn --factory sandbox.fx:create_fx_sandbox`. Tests and the demo change the rate or make the
source fail through POST /_sandbox/rate and POST /_sandbox/failures.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Body, FastAPI, HTTPException
from fastapi.responses import JSONResponse

DEFAULT_RATE = "0.00198"  # about where IDR/TWD has been trading


@dataclass
class FxSandboxState:
    rate: str = DEFAULT_RATE
    failures: list[int] = field(default_factory=list)  # statuses to answer the next requests with
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_fx_sandbox(rate: str = DEFAULT_RATE) -> FastAPI:
    """The FX source app; `rate` is the IDR/TWD rate it serves until changed."""
    state = FxSandboxState(rate=rate)
    app = FastAPI(title="FX sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    app.state.fx = state

    @app.get("/rates/IDR-TWD")
    def idr_twd() -> JSONResponse:
        with state.lock:
            failure = state.failures.pop(0) if state.failures else None
            current = state.rate
        if failure is not None:
            return JSONResponse({"error": "rate source unavailable"}, status_code=failure)
        # the rate is a string: a JSON number would pass through binary floating point in most clients
        return JSONResponse(
            {"base": "IDR", "quote": "TWD", "rate": current, "as_of": datetime.now(UTC).isoformat()}
        )

    @app.post("/_sandbox/rate")
    def set_rate(spec: dict[str, Any] = Body(...)) -> dict[str, str]:
        """{"rate": "0.00201"}: serve this rate from now on (any text, to test what clients refuse)."""
        value = str(spec.get("rate", ""))
        try:
            Decimal(value)
        except InvalidOperation:
            if not spec.get("allow_garbage"):
                raise HTTPException(
                    422, f"'{value}' is not a decimal; pass allow_garbage to serve it"
                ) from None
        with state.lock:
            state.rate = value
        return {"rate": value}

    @app.post("/_sandbox/failures")
    def failures(spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """{"status": 503, "count": 1}: the next `count` requests answer `status`."""
        with state.lock:
            state.failures.extend([int(spec.get("status", 503))] * int(spec.get("count", 1)))
            return {"pending_failures": list(state.failures)}

    return app
