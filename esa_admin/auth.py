"""The session: a token in an HttpOnly cookie the server sets (esa_admin/session_cookie.py), read from the
websocket's handshake and verified against operator_sessions on every page load and every event.

What a client's states hold is cleared on the server when its session ends (logout, expiry, idle timeout,
revocation) and on every (re)connect before the session is checked: a client token alone shows no data.
"""

from __future__ import annotations

import json
from datetime import timedelta

import reflex as rx
from reflex.state import _override_base_method
from sqlmodel import Session

from esa_admin import routes
from esa_admin.deps import unit_of_work
from esa_admin.session_cookie import SESSION_PATH, TICKET_TTL, token_from_cookie_header
from esa_domain.infra.db import default_engine
from esa_domain.infra.settings import get_settings
from esa_domain.models import Operator
from esa_domain.operations import operators

# where a logged-out visitor was going (this tab only): the login goes there instead of the overview
NEXT_KEY = "esa_after_login"
# a same-site path only ("/orders/76?x=1"; never "//host" or "/\\host", which browsers read as another site)
_REMEMBER_NEXT = (
    f"(() => {{ const p = window.location.pathname + window.location.search; "
    f"if (p.startsWith('/') && !p.startsWith('//') && !p.startsWith('/\\\\') && p !== {json.dumps(routes.LOGIN)}) "
    f"window.sessionStorage.setItem({json.dumps(NEXT_KEY)}, p); }})()"
)
_GO_NEXT = (
    f"(() => {{ const p = window.sessionStorage.getItem({json.dumps(NEXT_KEY)}) || ''; "
    f"window.sessionStorage.removeItem({json.dumps(NEXT_KEY)}); "
    f"return (p.startsWith('/') && !p.startsWith('//') && !p.startsWith('/\\\\')) ? p : {json.dumps(routes.OVERVIEW)}; }})()"
)


def _idle() -> timedelta:
    return timedelta(minutes=get_settings().session_idle_minutes)


def _dashboard_states(root: type[rx.State]) -> list[type[rx.State]]:
    """`root` and every state below it (every page's state is an AuthState)."""
    found = [root]
    for sub in root.get_substates():
        found.extend(_dashboard_states(sub))
    return found


class AuthState(rx.State):
    """Base state of every dashboard page: who is logged in, re-checked against the database on each event."""

    username: str = ""
    display_name: str = ""
    role: str = ""
    flash: str = ""  # a message the layout shows (permission refused, action done)
    flash_kind: str = "info"

    def _session_token(self) -> str:
        # the cookie sent with this client's websocket handshake (Reflex never sends it back to the browser)
        return token_from_cookie_header(self.router.headers.cookie)

    def current_operator(self) -> Operator | None:
        """The operator behind this token now (None if logged out, expired, idle, revoked or deactivated);
        the session counts as used. When None, this state's data is emptied."""
        with Session(default_engine(), expire_on_commit=False) as session:
            operator = operators.resume_session(session, self._session_token(), _idle())
            session.commit()
        if operator is None:
            self.reset()  # this page's data, and who was logged in
            self.username, self.display_name, self.role = "", "", ""
        else:
            self.username, self.display_name, self.role = (
                operator.username,
                operator.display_name,
                operator.role,
            )
        return operator

    def authorize(self, role: str = "viewer") -> Operator | None:
        """The operator if their role is at least `role`; None (and a flash saying why) otherwise."""
        operator = self.current_operator()
        if operator is None:
            return None
        if not operators.has_role(operator, role):
            self.say(f"This needs the '{role}' role; you are '{operator.role}'. Ask an admin.", "error")
            return None
        return operator

    def denied(self):
        """What a handler returns when authorize() refused: the login page if the session is gone."""
        return None if self.logged_in else rx.redirect(routes.LOGIN)

    def say(self, message: str, kind: str = "info") -> None:
        self.flash, self.flash_kind = message, kind

    @rx.var
    def logged_in(self) -> bool:
        return bool(self.username)

    @rx.var
    def can_operate(self) -> bool:
        return self.role in ("operator", "admin")

    @rx.var
    def is_admin(self) -> bool:
        return self.role == "admin"

    # Reflex 0.10 has no public hook on hydrate; this one is marked as a deliberate override of its method
    @_override_base_method
    def _reset_client_storage(self) -> None:
        """Reflex calls this on every (re)connect before sending the client its first state: nothing is
        sent from before the session is checked again (the page's on_load loads its data after that)."""
        super()._reset_client_storage()
        self.reset()

    async def forget_client(self) -> None:
        """Empty every dashboard state of this client on the server (not only the ones loaded now)."""
        for cls in _dashboard_states(AuthState):
            await self.get_state(cls)
        (await self.get_state(AuthState)).reset()

    @rx.event
    async def require_login(self):
        """on_load of every protected page: a logged-out visitor is sent to the login page, states emptied."""
        if self.current_operator() is None:
            await self.forget_client()
            # the link opened (an order from a LINE alert) is kept for after the login
            return [rx.call_script(_REMEMBER_NEXT), rx.redirect(routes.LOGIN)]
        return None

    @rx.event
    def clear_flash(self) -> None:
        self.flash = ""

    @rx.event
    async def logout(self):
        token = self._session_token()
        with unit_of_work() as uow:
            operator = operators.operator_for_token(uow.session, token, _idle())
            if operator is not None:
                operators.record_action(uow.session, operator.id, "logout")
            operators.close_session(uow.session, token)
            uow.commit()
        await self.forget_client()
        # the server drops the cookie (the session behind it is revoked already)
        return [
            rx.call_script(
                f"fetch({json.dumps(SESSION_PATH)}, {{method: 'DELETE', credentials: 'same-origin'}})"
            ),
            rx.redirect(routes.LOGIN),
        ]


class LoginState(AuthState):
    error: str = ""

    @rx.event
    def login(self, form: dict):
        username = str(form.get("username", ""))
        password = str(form.get("password", ""))
        address = self.router.session.client_ip or None
        with unit_of_work() as uow:
            try:
                operators.check_login_allowed(uow.session, username, address)
            except operators.LoginLocked as locked:
                # the password is not even checked: the right one during a lock-out does not log in
                operators.record_login_failure(uow.session, username, address, locked=True)
                uow.commit()
                self.error = str(locked)
                return None
            operator = operators.authenticate(uow.session, username, password)
            if operator is None:
                operators.record_login_failure(uow.session, username, address)
                uow.commit()
                self.error = "Wrong username or password (or the account is deactivated)."
                return None
            operators.clear_login_failures(uow.session, username)
            ticket = operators.open_session(uow.session, operator, ttl=TICKET_TTL)
            operators.record_action(uow.session, operator.id, "login")
            uow.commit()
        self.error = ""
        # the page trades the one-time ticket for the HttpOnly session cookie, then loads afresh with it
        return rx.call_script(
            f"fetch({json.dumps(SESSION_PATH)}, {{method: 'POST', credentials: 'same-origin', "
            f"body: {json.dumps(ticket)}}}).then((r) => window.location.assign("
            f"r.ok ? {_GO_NEXT} : {json.dumps(routes.LOGIN)}))"
        )

    @rx.event
    async def redirect_if_logged_in(self):
        if self.current_operator() is not None:
            return rx.redirect(routes.OVERVIEW)
        await self.forget_client()
        return None
