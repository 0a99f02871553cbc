"""The web process caps the threads that run requests' blocking work at ESA_WEB_THREADS."""

from __future__ import annotations

import anyio.to_thread
from fastapi.testclient import TestClient

from esa_api import create_app
from esa_domain.infra.settings import get_settings


def test_the_thread_pool_is_capped_at_the_setting_when_the_app_starts(monkeypatch):
    monkeypatch.setenv("ESA_WEB_THREADS", "3")
    get_settings.cache_clear()
    try:
        with TestClient(create_app()) as client:
            tokens = client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
            assert tokens == 3
    finally:
        get_settings.cache_clear()
