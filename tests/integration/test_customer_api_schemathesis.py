"""Property-based run of schemathesis against the live customer API's OpenAPI document: whatever a client
sends, no server error, and every answer matches the documented status codes, media types and schemas."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import factories
from tests.integration.test_customer_api import PHONE, build_api

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_no_input_makes_the_customer_api_fail_or_break_its_schema(db, redis_url, redis_client, run_asgi):
    factories.catalog(db)
    factories.promo(db, code="HEMAT10")
    api = build_api(db, redis_url, run_asgi, customer_per_window=100_000, address_per_window=100_000)
    auth = api.sign_in()
    assert api.order(auth, {"items": [PHONE]}).status_code == 201  # an order to read back
    schema = schemathesis.openapi.from_url(f"{api.base}/api/openapi.json")
    started = time.monotonic()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1"):
            continue
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case) -> None:
                case.call_and_validate(base_url=api.base, headers=auth, checks=CHECKS, timeout=10)

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to negate: the operation takes no input
            except Exception as exc:  # name the operation: hypothesis only shows the case
                pytest.fail(f"{operation.label} ({mode.value}): {exc}")
    # with GET /api/v1/me, PUT /api/v1/me/language, the bills and checks (esa_api/customer/routes_bills.py), and
    # numbers, saved numbers, buy again and receipts (esa_api/customer/routes_saved.py: 7), and the e-invoice
    # carrier's check and the saved carrier (esa_api/customer/routes_invoice.py: 2)
    assert operations == 24
    assert time.monotonic() - started < 60
