"""Which origins may open the dashboard's websocket and set its session cookie."""

from __future__ import annotations

from esa_admin.socket_origin import allowed_origins, origin_of


def test_a_public_dashboard_accepts_only_its_own_origin():
    assert allowed_origins("https://ops.esa.example/") == {"https://ops.esa.example"}
    assert origin_of("https://OPS.esa.example:443") in allowed_origins("https://ops.esa.example")
    assert origin_of("https://ops.esa.example.evil.example") not in allowed_origins("https://ops.esa.example")
    assert origin_of("http://ops.esa.example") not in allowed_origins("https://ops.esa.example")


def test_a_loopback_dashboard_accepts_its_other_loopback_spellings_on_the_same_port_only():
    # the demo prints 127.0.0.1; a newcomer may type localhost: the same machine
    allowed = allowed_origins("http://127.0.0.1:3000")
    assert {"http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000"} == allowed
    assert origin_of("http://localhost:3001") not in allowed
    assert origin_of("https://localhost:3000") not in allowed
    assert origin_of("http://127.0.0.2:3000") not in allowed
