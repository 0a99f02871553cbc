"""The demo's combined simulator app serves every simulator where demo_env() points the adapters."""

from __future__ import annotations

import httpx

from esa_domain.adapters.suppliers.registry import build_adapters, supplier_settings
from esa_domain.infra.settings import Settings
from sandbox.app import create_sandbox_app, demo_env


def test_every_simulator_answers_where_the_demo_settings_point(run_asgi):
    base = run_asgi(create_sandbox_app("http://127.0.0.1:1", pulsaif_callback_secret="s" * 24))
    env = demo_env(base, pulsaif_callback_secret="s" * 24)
    assert httpx.get(env["FX_SOURCE_URL"]).json()["rate"] == "0.00198"
    assert httpx.get(f"{env['LINE_API_BASE_URL']}/_sandbox/messages").status_code == 200
    assert httpx.get(f"{env['ECPAY_BASE_URL']}/_sandbox/trades").json() == []
    settings = Settings(**{k.lower(): v for k, v in env.items()}, suppliers=supplier_settings(env))
    adapters = build_adapters(settings)
    assert sorted(adapters) == ["billfazz", "iak", "lapakgaming", "pulsaif", "redision"]
    for code, adapter in adapters.items():
        assert adapter.fetch_catalog().entries, f"{code}'s catalog is empty behind the demo mount"
