"""Signing in: a LIFF / LINE Login ID token is exchanged for a short-lived ESA bearer token."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from esa_api.customer.auth import limit_address
from esa_api.customer.config import CustomerApiConfig
from esa_api.customer.deps import get_config, get_verifier
from esa_api.customer.problems import Problem
from esa_api.customer.responses import problems
from esa_api.customer.schemas import AppConfigOut, CustomerOut, LineAuthIn, TokenOut
from esa_api.deps import get_runtime
from esa_domain.adapters.line.login import LiffVerifier
from esa_domain.core.errors import DomainError
from esa_domain.infra.runtime import Runtime
from esa_domain.ordering.customers import find_or_create_customer, issue_token

router = APIRouter(prefix="/api/v1", tags=["customer: sign-in"], dependencies=[Depends(limit_address)])


def _sign_in(rt: Runtime, verifier: LiffVerifier, id_token: str) -> CustomerOut:
    identity = verifier.verify(id_token)
    with rt.uow() as uow:
        customer = find_or_create_customer(uow.session, identity.user_id, identity.display_name)
        uow.commit()
    return CustomerOut(id=customer.id, display_name=customer.display_name, language=customer.language)  # type: ignore[arg-type]


@router.post("/auth/line", response_model=TokenOut, responses=problems(401, 503))
async def sign_in_with_line(
    body: LineAuthIn,
    rt: Runtime = Depends(get_runtime),
    cfg: CustomerApiConfig = Depends(get_config),
    verifier: LiffVerifier = Depends(get_verifier),
) -> TokenOut:
    """Exchange a LIFF ID token (liff.getIDToken()) for a bearer token; creates the customer on first use."""
    try:
        customer = await run_in_threadpool(_sign_in, rt, verifier, body.id_token)
    except DomainError as exc:
        raise Problem.of(exc, field="id_token" if exc.http_status == 401 else None) from None
    token, _ = issue_token(customer.id, cfg.token_secret, ttl=cfg.token_ttl)
    return TokenOut(access_token=token, expires_in=int(cfg.token_ttl.total_seconds()), customer=customer)


@router.get("/app-config", response_model=AppConfigOut, responses=problems())
async def app_config(cfg: CustomerApiConfig = Depends(get_config)) -> AppConfigOut:
    """What the Mini App needs before sign-in: its LIFF id, or the sandbox sign-in page in the demo."""
    return AppConfigOut(
        liff_id=cfg.liff_id or None,
        line_login_url=cfg.line_login_page_url or None,
        line_channel_id=cfg.line_channel_id or None,
    )
