"""Request-scoped access to the runtime (built lazily from settings unless a test installed its own)."""

from __future__ import annotations

from fastapi import Request

from esa_api.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    state = request.app.state
    if getattr(state, "runtime", None) is None:
        state.runtime = Runtime.from_settings()
    return state.runtime
