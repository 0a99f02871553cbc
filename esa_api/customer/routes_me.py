"""The signed-in customer: who they are and the language they chose (remembered on their row, so the app, the
pages around ECPay and their LINE messages all speak it)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from esa_api.customer.auth import CurrentCustomer, current_customer
from esa_api.customer.problems import Problem
from esa_api.customer.responses import problems
from esa_api.customer.schemas import CustomerOut, LanguageIn
from esa_api.deps import get_runtime
from esa_domain.infra.runtime import Runtime

router = APIRouter(prefix="/api/v1/me", tags=["customer: sign-in"])


def _me(rt: Runtime, customer_id: int, language: str | None) -> CustomerOut | None:
    with rt.uow() as uow:
        conn = uow.session.connection()
        if language is not None:
            conn.execute(
                text("UPDATE customers SET language = :lang WHERE id = :id"),
                {"lang": language, "id": customer_id},
            )
        row = conn.execute(
            text("SELECT id, display_name, language FROM customers WHERE id = :id"), {"id": customer_id}
        ).first()
        uow.commit()
    return CustomerOut(id=row.id, display_name=row.display_name, language=row.language) if row else None


def _found(customer: CustomerOut | None) -> CustomerOut:
    if customer is None:
        raise Problem(401, "unauthenticated", "this sign-in names no customer: sign in with LINE again")
    return customer


@router.get("", response_model=CustomerOut, responses=problems(401))
async def who_am_i(
    me: CurrentCustomer = Depends(current_customer), rt: Runtime = Depends(get_runtime)
) -> CustomerOut:
    """The signed-in customer and the language they chose."""
    return _found(await run_in_threadpool(_me, rt, me.id, None))


@router.put("/language", response_model=CustomerOut, responses=problems(401, 422))
async def choose_language(
    body: LanguageIn, me: CurrentCustomer = Depends(current_customer), rt: Runtime = Depends(get_runtime)
) -> CustomerOut:
    """Remember the customer's language (id, en or zh-Hant) for the app, its pages and their LINE messages."""
    return _found(await run_in_threadpool(_me, rt, me.id, body.language))
