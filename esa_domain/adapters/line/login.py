"""The LIFF ID-token verifier: asks LINE (`POST /oauth2/v2.1/verify`) who signed in to the Mini App.

LINE checks the token's signature, expiry and audience; we check the answer again (issuer, audience, subject)
so a misconfigured base URL or a proxy cannot hand us someone else's identity. The ID token itself is a
credential: it is never logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from esa_domain.core.errors import DomainError

log = logging.getLogger(__name__)

LINE_ISSUER = "https://access.line.me"


class LineTokenRejected(DomainError):
    code = "line_token_invalid"
    http_status = 401


class LineUnavailable(DomainError):
    code = "line_unavailable"
    http_status = 503


@dataclass(frozen=True)
class LineIdentity:
    user_id: str  # the `sub`: stable per user and channel provider
    display_name: str
    picture_url: str | None = None


class LiffVerifier:
    """Verifies LIFF / LINE Login ID tokens against LINE's verify endpoint."""

    def __init__(
        self,
        base_url: str,
        channel_id: str,
        *,
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`base_url`: LINE's API (https://api.line.me, or the sandbox); `channel_id`: our LINE Login channel,
        the only audience we accept; `transport`: for tests that drive an ASGI app directly."""
        self.url = base_url.rstrip("/") + "/oauth2/v2.1/verify"
        self.channel_id = channel_id
        self.timeout_s = timeout_s
        self.transport = transport

    def verify(self, id_token: str) -> LineIdentity:
        """The identity in `id_token`; LineTokenRejected if LINE refuses it, LineUnavailable if it is down."""
        if not self.channel_id:
            raise LineUnavailable("LINE login is not configured on this server (no channel id); try later")
        try:
            with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
                reply = client.post(self.url, data={"id_token": id_token, "client_id": self.channel_id})
        except httpx.HTTPError as exc:
            log.warning("LINE verify endpoint unreachable: %s", type(exc).__name__)
            raise LineUnavailable("LINE could not be reached to confirm your sign-in; try again") from None
        if reply.status_code == 400:
            reason = _error_description(reply)
            raise LineTokenRejected(f"LINE did not accept the sign-in ({reason}); sign in again")
        if reply.status_code != 200:
            log.warning("LINE verify answered HTTP %s", reply.status_code)
            raise LineUnavailable("LINE could not confirm your sign-in right now; try again")
        return self._identity(reply)

    def _identity(self, reply: httpx.Response) -> LineIdentity:
        try:
            claims = reply.json()
        except ValueError:
            raise LineUnavailable("LINE answered the sign-in check unreadably; try again") from None
        sub = claims.get("sub") if isinstance(claims, dict) else None
        if not isinstance(sub, str) or not sub or len(sub) > 64:
            raise LineTokenRejected("LINE's answer names no user; sign in again")
        if claims.get("iss") != LINE_ISSUER or str(claims.get("aud")) != self.channel_id:
            raise LineTokenRejected("the sign-in was issued for another LINE channel; sign in again")
        name = claims.get("name")
        picture = claims.get("picture")
        return LineIdentity(
            sub, name if isinstance(name, str) else "", picture if isinstance(picture, str) else None
        )


def _error_description(reply: httpx.Response) -> str:
    try:
        body = reply.json()
    except ValueError:
        return "invalid token"
    text = body.get("error_description") if isinstance(body, dict) else None
    return str(text)[:120] if text else "invalid token"
