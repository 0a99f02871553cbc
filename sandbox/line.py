"""A LINE simulator: LINE Login for the Mini App (a demo sign-in page and the ID-token verify endpoint) and
the Messaging API push endpoint the alerts worker uses.

Run it with `uvicorn sandbox.line:app` (or `--factory sandbox.line:create_line_sandbox`).

- `GET /_sandbox/login?client_id=&redirect_uri=&state=`: pick a demo user; the browser goes back to
  `redirect_uri#id_token=...&state=...` (a fragment, as LIFF keeps tokens out of server logs).
- `POST /oauth2/v2.1/verify` (form: id_token, client_id[, nonce, user_id]): LINE's answers and error texts.
- `POST /v2/bot/message/push`: checks the bearer token and the body; `X-Line-Retry-Key` must be a UUID, and
  a key already accepted answers 409 with `x-line-accepted-request-id`, recording the message once. With a
  monthly quota set and used up, 429 "You have reached your monthly limit."
- `GET /v2/bot/message/quota` and `/v2/bot/message/quota/consumption`: the plan's limit and the month's usage.
- `/_sandbox/messages`, `/_sandbox/id_tokens`, `/_sandbox/push_failures`, `/_sandbox/reset`: for tests and
  the demo.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode

from fastapi import Body, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

ISSUER = "https://access.line.me"
AUTH_FAILED = "Authentication failed. Confirm that the access token in the authorization header is valid."
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

DEMO_USERS: tuple[tuple[str, str], ...] = (
    ("U4af4980629a0e8d1f1b4c1f0c2a1d001", "Mei-Ling Chen"),
    ("U4af4980629a0e8d1f1b4c1f0c2a1d002", "Budi Santoso"),
    ("U4af4980629a0e8d1f1b4c1f0c2a1d003", "Siti Rahmawati"),
)


@dataclass
class LineSandboxConfig:
    """The channel the simulator pretends to be; tests shrink lifetimes."""

    channel_id: str = "2000000001"  # LINE Login channel: the `aud` of its ID tokens
    channel_secret: str = "sandbox-line-login-channel-secret"  # signs ID tokens (HS256, as LINE Login does)
    channel_access_token: str = "sandbox-line-channel-token"  # Messaging API bearer token
    id_token_ttl_s: int = 3600
    retry_key_ttl_s: int = 24 * 3600  # LINE remembers an accepted retry key for 24 hours
    monthly_quota: int | None = None  # the plan's monthly message limit; None: unlimited ("type": "none")


@dataclass
class _Push:
    request_id: str
    to: str
    messages: list[dict[str, Any]]
    retry_key: str | None
    notification_disabled: bool
    received_at: float
    sent: list[dict[str, str]]


@dataclass
class LineSimulator:
    config: LineSandboxConfig
    pushes: list[_Push] = field(default_factory=list)
    accepted_keys: dict[str, tuple[float, _Push]] = field(default_factory=dict)
    failures: list[int] = field(default_factory=list)  # statuses to answer the next pushes with
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_id_token(
        self,
        user_id: str,
        name: str,
        *,
        client_id: str | None = None,
        nonce: str | None = None,
        expires_in: int | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": user_id,
            "aud": client_id or self.config.channel_id,
            "exp": now + (self.config.id_token_ttl_s if expires_in is None else expires_in),
            "iat": now,
            "amr": ["linesso"],
            "name": name,
            "picture": f"https://profile.line-scdn.net/sandbox/{user_id}",
        }
        if nonce:
            claims["nonce"] = nonce
        return _jwt_encode(claims, self.config.channel_secret)

    def reset(self) -> None:
        with self.lock:
            self.pushes.clear()
            self.accepted_keys.clear()
            self.failures.clear()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwt_encode(claims: dict[str, Any], secret: str) -> str:
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(sig)}"


def _jwt_decode(token: str, secret: str) -> dict[str, Any] | None:
    """The claims if the HS256 signature holds, else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            return None
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def _verify_error(description: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "error_description": description}, status_code=400)


def _add_login_routes(app: FastAPI, sim: LineSimulator) -> None:
    @app.post("/oauth2/v2.1/verify")
    def verify(
        id_token: str = Form(""),
        client_id: str = Form(""),
        nonce: str | None = Form(None),
        user_id: str | None = Form(None),
    ) -> JSONResponse:
        missing = [name for name, value in (("id_token", id_token), ("client_id", client_id)) if not value]
        if missing:
            return _verify_error(f"Required parameter(s) is missing: {', '.join(missing)}")
        claims = _jwt_decode(id_token, sim.config.channel_secret)
        if claims is None:
            return _verify_error("Invalid IdToken.")
        if int(claims.get("exp", 0)) <= time.time():
            return _verify_error("IdToken expired.")
        if str(claims.get("aud")) != client_id:
            return _verify_error("Invalid IdToken Audience.")
        if nonce is not None and claims.get("nonce") != nonce:
            return _verify_error("Invalid IdToken Nonce.")
        if user_id is not None and claims.get("sub") != user_id:
            return _verify_error("Invalid IdToken Subject Identifier.")
        return JSONResponse(claims)

    @app.get("/_sandbox/login", response_class=HTMLResponse)
    def login_page(redirect_uri: str, client_id: str = "", state: str = "") -> HTMLResponse:
        if not redirect_uri.startswith(("http://", "https://")):
            return HTMLResponse(_page("Sign-in error", "<p>redirect_uri must be an http(s) URL.</p>"), 400)
        hidden = "".join(
            f'<input type="hidden" name="{k}" value="{escape(v)}">'
            for k, v in (("redirect_uri", redirect_uri), ("client_id", client_id), ("state", state))
        )
        users = "".join(
            f'<button class="user" name="user_id" value="{escape(uid)}">'
            f'<span class="avatar">{escape(name[0])}</span><span>{escape(name)}</span></button>'
            for uid, name in DEMO_USERS
        )
        body = f"""<h1>Log in with LINE</h1>
<p class="meta">Choose a demo account. No password: this is the LINE sandbox.</p>
<form method="post" action="login">{hidden}{users}</form>"""
        return HTMLResponse(_page("LINE Login (sandbox)", body))

    @app.post("/_sandbox/login")
    def choose_user(
        redirect_uri: str = Form(...),
        user_id: str = Form(...),
        client_id: str = Form(""),
        state: str = Form(""),
    ) -> RedirectResponse:
        name = dict(DEMO_USERS).get(user_id, "LINE user")
        token = sim.issue_id_token(user_id, name, client_id=client_id or None)
        fragment = urlencode({"id_token": token, "state": state})
        return RedirectResponse(f"{redirect_uri.split('#', 1)[0]}#{fragment}", status_code=303)

    @app.post("/_sandbox/id_tokens")
    def mint_id_token(spec: dict[str, Any] = Body(...)) -> dict[str, str]:
        """For tests: {"user_id", "name"?, "client_id"?, "nonce"?, "expires_in"?} -> {"id_token"}."""
        token = sim.issue_id_token(
            str(spec["user_id"]),
            str(spec.get("name", "LINE user")),
            client_id=spec.get("client_id"),
            nonce=spec.get("nonce"),
            expires_in=spec.get("expires_in"),
        )
        return {"id_token": token}


def _text_ok(text: Any) -> bool:
    return isinstance(text, str) and 0 < len(text) <= 5000


def _push_body_errors(body: Any) -> list[dict[str, str]]:
    if not isinstance(body, dict):
        return [{"message": "must be a JSON object", "property": ""}]
    errors = []
    if not isinstance(body.get("to"), str) or not body.get("to"):
        errors.append({"message": "must be specified", "property": "to"})
    messages = body.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        errors.append({"message": "Size must be between 1 and 5", "property": "messages"})
        return errors
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            errors.append({"message": "must be specified", "property": f"messages[{i}].type"})
        elif msg["type"] == "text" and not _text_ok(msg.get("text")):
            errors.append({"message": "Length must be between 1 and 5000", "property": f"messages[{i}].text"})
    return errors


def _add_messaging_routes(app: FastAPI, sim: LineSimulator) -> None:
    @app.post("/v2/bot/message/push")
    async def push(request: Request) -> JSONResponse:
        request_id = str(uuid.uuid4())
        ids = {"x-line-request-id": request_id}
        auth = request.headers.get("authorization", "")
        if not hmac.compare_digest(auth, f"Bearer {sim.config.channel_access_token}"):
            return JSONResponse({"message": AUTH_FAILED}, status_code=401, headers=ids)
        retry_key = request.headers.get("x-line-retry-key")
        if retry_key is not None and not _UUID.match(retry_key):
            return JSONResponse(
                {"message": "The value for the 'X-Line-Retry-Key' header is invalid"}, 400, headers=ids
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"message": "The request body has 1 error(s)"}, 400, headers=ids)
        errors = _push_body_errors(body)
        if errors:
            message = f"The request body has {len(errors)} error(s)"
            return JSONResponse({"message": message, "details": errors}, 400, headers=ids)
        now = time.time()
        with sim.lock:
            if sim.failures:
                status = sim.failures.pop(0)
                text = (
                    "The API rate limit has been exceeded. Try again later."
                    if status == 429
                    else ("Internal server error")
                )
                return JSONResponse({"message": text}, status_code=status, headers=ids)
            if sim.config.monthly_quota is not None and len(sim.pushes) >= sim.config.monthly_quota:
                # LINE's answer once the month's messages are used up (a push counts once per recipient)
                return JSONResponse({"message": "You have reached your monthly limit."}, 429, headers=ids)
            known = sim.accepted_keys.get(retry_key) if retry_key else None
            if known is not None and now - known[0] < sim.config.retry_key_ttl_s:
                first = known[1]
                return JSONResponse(
                    {"message": "The retry key is already accepted", "sentMessages": first.sent},
                    status_code=409,
                    headers={**ids, "x-line-accepted-request-id": first.request_id},
                )
            sent = [
                {"id": str(secrets.randbelow(10**18)), "quoteToken": _b64(secrets.token_bytes(24))}
                for _ in body["messages"]
            ]
            record = _Push(
                request_id,
                body["to"],
                body["messages"],
                retry_key,
                bool(body.get("notificationDisabled", False)),
                now,
                sent,
            )
            sim.pushes.append(record)
            if retry_key:
                sim.accepted_keys[retry_key] = (now, record)
        return JSONResponse({"sentMessages": sent}, headers=ids)


def _add_quota_routes(app: FastAPI, sim: LineSimulator) -> None:
    def authorised(request: Request) -> bool:
        return hmac.compare_digest(
            request.headers.get("authorization", ""), f"Bearer {sim.config.channel_access_token}"
        )

    @app.get("/v2/bot/message/quota")
    def quota(request: Request) -> JSONResponse:
        if not authorised(request):
            return JSONResponse({"message": AUTH_FAILED}, status_code=401)
        limit = sim.config.monthly_quota
        return JSONResponse({"type": "none"} if limit is None else {"type": "limited", "value": limit})

    @app.get("/v2/bot/message/quota/consumption")
    def consumption(request: Request) -> JSONResponse:
        if not authorised(request):
            return JSONResponse({"message": AUTH_FAILED}, status_code=401)
        with sim.lock:
            return JSONResponse({"totalUsage": len(sim.pushes)})

    @app.post("/_sandbox/quota")
    def set_quota(spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """For tests and the demo: {"monthly_quota": N or null}."""
        value = spec.get("monthly_quota")
        sim.config.monthly_quota = None if value is None else int(value)
        return {"monthly_quota": sim.config.monthly_quota}


def _add_control_routes(app: FastAPI, sim: LineSimulator) -> None:
    @app.get("/_sandbox/messages")
    def messages(to: str | None = None) -> list[dict[str, Any]]:
        with sim.lock:
            pushes = [p for p in sim.pushes if to is None or p.to == to]
            return [
                {
                    "request_id": p.request_id,
                    "to": p.to,
                    "messages": p.messages,
                    "retry_key": p.retry_key,
                    "notification_disabled": p.notification_disabled,
                    "received_at": p.received_at,
                }
                for p in pushes
            ]

    @app.post("/_sandbox/push_failures")
    def push_failures(spec: dict[str, Any] = Body(...)) -> dict[str, Any]:
        """The next `count` pushes answer `status` (500 or 429) and record nothing."""
        status = int(spec.get("status", 500))
        with sim.lock:
            sim.failures.extend([status] * int(spec.get("count", 1)))
            return {"pending_failures": list(sim.failures)}

    @app.post("/_sandbox/reset")
    def reset() -> dict[str, str]:
        sim.reset()
        return {"status": "reset"}


_STYLE = """
body { font-family: system-ui, -apple-system, sans-serif; background: #f2f3f5; margin: 0; }
main { max-width: 380px; margin: 3em auto; background: #fff; border-radius: 14px; padding: 1.5em;
       box-shadow: 0 2px 12px rgba(0,0,0,.08); }
h1 { font-size: 1.2em; color: #06c755; margin: .2em 0; }
.sandbox { font-size: .72em; color: #b26a00; letter-spacing: .05em; text-transform: uppercase; }
.meta { color: #666; font-size: .9em; }
.user { display: flex; align-items: center; gap: .8em; width: 100%; padding: .8em; margin: .5em 0;
        border: 1px solid #e3e5e8; border-radius: 10px; background: #fff; font-size: 1em; cursor: pointer; }
.user:hover { border-color: #06c755; }
.avatar { width: 2.2em; height: 2.2em; border-radius: 50%; background: #06c755; color: #fff;
          display: inline-flex; align-items: center; justify-content: center; font-weight: 600; }
"""


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_STYLE}</style></head>
<body><main><div class="sandbox">LINE sandbox</div>{body}</main></body></html>
"""


def create_line_sandbox(config: LineSandboxConfig | None = None) -> FastAPI:
    """The LINE simulator app; `config` names the channel (id, secret, access token) it pretends to be."""
    sim = LineSimulator(config or LineSandboxConfig())
    app = FastAPI(title="LINE sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    app.state.simulator = sim
    _add_login_routes(app, sim)
    _add_messaging_routes(app, sim)
    _add_quota_routes(app, sim)
    _add_control_routes(app, sim)
    return app


def create_app(config: LineSandboxConfig | None = None) -> FastAPI:
    """Alias of `create_line_sandbox`, the name sandbox/app.py mounts every simulator by."""
    return create_line_sandbox(config)


app = create_line_sandbox()
