"""The catalog, quotes and promo checks: nothing here writes."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from esa_api.customer import ordering, reads
from esa_api.customer.auth import CurrentCustomer, current_customer, limit_address
from esa_api.customer.config import CustomerApiConfig
from esa_api.customer.deps import get_config
from esa_api.customer.responses import problems
from esa_api.customer.schemas import CatalogOut, PromoCheckIn, PromoCheckOut, QuoteIn, QuoteOut
from esa_api.deps import get_runtime
from esa_domain.infra.runtime import Runtime

# the signed-in routes count the address limit in current_customer; the catalog counts it on its own
router = APIRouter(prefix="/api/v1", tags=["customer: shop"])


@router.get(
    "/catalog", response_model=CatalogOut, responses=problems(), dependencies=[Depends(limit_address)]
)
async def get_catalog(rt: Runtime = Depends(get_runtime)) -> CatalogOut:
    """Everything on sale, by category, with TWD prices and what each product needs as its target."""
    return await run_in_threadpool(reads.catalog, rt.engine)


@router.post("/quote", response_model=QuoteOut, responses=problems(401, 409, 503))
async def post_quote(
    body: QuoteIn,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    cfg: CustomerApiConfig = Depends(get_config),
) -> QuoteOut:
    """Validate the targets and price the basket (with a promo code if given); nothing is written."""
    return await run_in_threadpool(ordering.price, rt.engine, me.id, body.items, body.promo_code, cfg.policy)


@router.post("/promos/validate", response_model=PromoCheckOut, responses=problems(401, 409, 503))
async def validate_promo(
    body: PromoCheckIn,
    me: CurrentCustomer = Depends(current_customer),
    rt: Runtime = Depends(get_runtime),
    cfg: CustomerApiConfig = Depends(get_config),
) -> PromoCheckOut:
    """Would this promo code apply to this basket for you, and how much would it take off?"""
    q = await run_in_threadpool(ordering.price, rt.engine, me.id, body.items, body.promo_code, cfg.policy)
    return PromoCheckOut(
        promo_code=q.promo_code or body.promo_code.upper(),
        subtotal_twd=q.subtotal_twd,
        discount_twd=q.discount_twd,
        amount_twd=q.amount_twd,
    )
