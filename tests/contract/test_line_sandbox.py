"""The LINE sandbox against LINE's documented behaviour, and our LiffVerifier against it, over HTTP."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from esa_domain.adapters.line.login import LiffVerifier, LineTokenRejected, LineUnavailable
from sandbox.line import DEMO_USERS, LineSandboxConfig, create_line_sandbox

TOKEN = "channel-token-for-tests"
CHANNEL = "2000000001"


@pytest.fixture
def line(run_asgi) -> str:
    return run_asgi(create_line_sandbox(LineSandboxConfig(channel_id=CHANNEL, channel_access_token=TOKEN)))


def _mint(line: str, **spec) -> str:
    return httpx.post(f"{line}/_sandbox/id_tokens", json={"user_id": "U-1", "name": "Mei", **spec}).json()[
        "id_token"
    ]


def _push(line: str, *, token: str = TOKEN, retry_key: str | None = None, body: dict | None = None):
    headers = {"Authorization": f"Bearer {token}"}
    if retry_key:
        headers["X-Line-Retry-Key"] = retry_key
    body = body or {"to": "Cops", "messages": [{"type": "text", "text": "order 7 is stuck"}]}
    return httpx.post(f"{line}/v2/bot/message/push", json=body, headers=headers)


def test_verifier_returns_the_identity_of_a_valid_id_token(line):
    identity = LiffVerifier(line, CHANNEL).verify(_mint(line))
    assert (identity.user_id, identity.display_name) == ("U-1", "Mei")


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"expires_in": -1}, "IdToken expired."),
        ({"client_id": "1234567890"}, "Invalid IdToken Audience."),
    ],
)
def test_verifier_refuses_tokens_line_refuses_and_says_why(line, spec, reason):
    with pytest.raises(LineTokenRejected, match=re.escape(reason)):
        LiffVerifier(line, CHANNEL).verify(_mint(line, **spec))


def test_verify_endpoint_answers_like_line_for_a_forged_token(line):
    forged = _mint(line)[:-3] + "xyz"
    r = httpx.post(f"{line}/oauth2/v2.1/verify", data={"id_token": forged, "client_id": CHANNEL})
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_request", "error_description": "Invalid IdToken."}


def test_verifier_reports_line_down_as_unavailable_not_as_a_bad_token():
    with pytest.raises(LineUnavailable):
        LiffVerifier("http://127.0.0.1:9", CHANNEL, timeout_s=1).verify("x.y.z")


def test_login_page_sends_the_browser_back_with_a_verifiable_id_token(line):
    back = "http://127.0.0.1:1/app/"
    page = httpx.get(f"{line}/_sandbox/login", params={"redirect_uri": back, "client_id": CHANNEL})
    assert page.status_code == 200 and DEMO_USERS[1][1] in page.text
    r = httpx.post(
        f"{line}/_sandbox/login",
        data={"redirect_uri": back, "client_id": CHANNEL, "state": "s1", "user_id": DEMO_USERS[1][0]},
    )
    assert r.status_code == 303
    location = urlsplit(r.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == back
    fragment = parse_qs(location.fragment)
    assert fragment["state"] == ["s1"]
    identity = LiffVerifier(line, CHANNEL).verify(fragment["id_token"][0])
    assert (identity.user_id, identity.display_name) == DEMO_USERS[1]


def test_push_needs_the_channel_access_token(line):
    r = _push(line, token="wrong")
    assert r.status_code == 401 and "Authentication failed" in r.json()["message"]
    assert httpx.get(f"{line}/_sandbox/messages").json() == []


def test_same_retry_key_twice_is_409_and_the_message_is_recorded_once(line):
    key = str(uuid.uuid4())
    first, second = _push(line, retry_key=key), _push(line, retry_key=key)
    assert first.status_code == 200 and len(first.json()["sentMessages"]) == 1
    assert second.status_code == 409
    assert second.json()["message"] == "The retry key is already accepted"
    assert second.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    messages = httpx.get(f"{line}/_sandbox/messages").json()
    assert [(m["to"], m["retry_key"]) for m in messages] == [("Cops", key)]


def test_a_failed_push_does_not_consume_its_retry_key(line):
    httpx.post(f"{line}/_sandbox/push_failures", json={"count": 1, "status": 500})
    key = str(uuid.uuid4())
    assert _push(line, retry_key=key).status_code == 500
    assert _push(line, retry_key=key).status_code == 200
    assert len(httpx.get(f"{line}/_sandbox/messages").json()) == 1


def test_push_refuses_a_retry_key_that_is_not_a_uuid_and_a_malformed_body(line):
    assert _push(line, retry_key="not-a-uuid").status_code == 400
    bad = _push(line, body={"to": "Cops", "messages": []})
    assert bad.status_code == 400 and bad.json()["details"][0]["property"] == "messages"
    assert httpx.get(f"{line}/_sandbox/messages").json() == []
