"""Request-scoped access to the runtime (built lazily from settings unless a test installed its own)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from esa_domain.infra.runtime import Runtime


def _default_runtime() -> Runtime:
    from esa_domain.infra.settings import get_settings
    from workers.publisher import DramatiqPublisher, make_broker

    return Runtime.from_settings(DramatiqPublisher(make_broker(get_settings().redis_url)))


def runtime_for(app: Any) -> Runtime:
    """The app's runtime: installed by a test on `app.state.runtime`, else built from the settings once."""
    state = app.state
    if getattr(state, "runtime", None) is None:
        state.runtime = _default_runtime()
    return state.runtime


async def get_runtime(request: Request) -> Runtime:
    # async, though it never awaits: FastAPI would run a plain `def` dependency in the thread pool
    return runtime_for(request.app)
