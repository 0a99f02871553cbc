"""CORS for /api/v1 only, allowing the configured Mini App origins (read when the first request arrives, since
the settings are installed after the app is built)."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from esa_api.customer.deps import config_for

_PREFIX = "/api/v1/"


class MiniAppCors:
    """Starlette's CORSMiddleware, scoped to /api/v1 and configured lazily from the app's config."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._cors: CORSMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_PREFIX):
            await self.app(scope, receive, send)
            return
        if self._cors is None:
            cfg = config_for(scope["app"])
            self._cors = CORSMiddleware(
                self.app,
                allow_origins=list(cfg.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
                allow_credentials=False,  # bearer tokens, never cookies
                max_age=600,
            )
        await self._cors(scope, receive, send)
