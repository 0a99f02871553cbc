"""The one logging configuration: readable lines in the demo, JSON in production, bound fields on every line,
configured secrets never in the output, and a message's fields kept to that message."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import SecretStr

from esa_domain.infra import logging_setup
from esa_domain.infra.settings import Settings


class Output:
    def __init__(self, capsys) -> None:
        self.capsys = capsys

    def getvalue(self) -> str:
        return self.capsys.readouterr().err


@pytest.fixture
def output(capsys):
    """What ESA's handler writes to stderr; the root logger restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield Output(capsys)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def settings(**kw) -> Settings:
    return Settings(database_url="x", redis_url="x", **kw)


def test_production_writes_json_lines_with_the_bound_fields(output):
    logging_setup.configure_logging("worker", settings=settings(ESA_ENV="production"))
    with logging_setup.scope(request_id="rid-1234567890", item_id=7):
        logging_setup.bind(supplier="iak", payment_id=None)  # None binds nothing
        logging.getLogger("esa_domain.x").info("item %s: %s", 7, "SUCCESS")
    logging.getLogger("esa_domain.x").info("outside")
    first, second = (json.loads(line) for line in output.getvalue().splitlines())
    assert first["message"] == "item 7: SUCCESS" and first["level"] == "INFO"
    assert (first["request_id"], first["item_id"], first["supplier"], first["process"]) == (
        "rid-1234567890",
        7,
        "iak",
        "worker",
    )
    assert "payment_id" not in first
    assert second["message"] == "outside" and "item_id" not in second and "request_id" not in second


def test_the_demo_writes_readable_lines(output):
    logging_setup.configure_logging("web", settings=settings())
    with logging_setup.scope(request_id="rid-abcdefgh", payment_id=3):
        logging.getLogger("esa_api.access").info("POST /api/v1/orders -> 201 in 5 ms")
    line = output.getvalue().strip()
    assert line.endswith(
        "INFO esa_api.access [web request_id=rid-abcdefgh payment_id=3] POST /api/v1/orders -> 201 in 5 ms"
    )


def test_configured_secrets_are_masked_wherever_they_appear(output):
    key = "prod-hash-key-0123456789"
    logging_setup.configure_logging(
        "web",
        settings=settings(ESA_ENV="production", ecpay_hash_key=SecretStr(key)),
        extra_secrets=["PIN-998877"],
    )
    log = logging.getLogger("esa_domain.y")
    log.warning("signed with %s", key)
    log.warning("delivered PIN-998877")
    try:
        raise ValueError(f"bad key {key}")
    except ValueError:
        log.exception("failed")
    text = output.getvalue()
    assert key not in text and "PIN-998877" not in text
    assert text.count(logging_setup.MASK) == 3  # in the message, the PIN's line, the exception's message


def test_configuring_twice_keeps_one_handler(output):
    logging_setup.configure_logging("web", settings=settings())
    logging_setup.configure_logging("web", settings=settings())
    logging.getLogger("esa_domain.z").warning("once")
    assert output.getvalue().count("once") == 1


def test_only_the_request_and_payment_travel_with_a_message():
    with logging_setup.scope(request_id="rid-1", payment_id=5, item_id=9, supplier="iak"):
        assert logging_setup.carried() == {"request_id": "rid-1", "payment_id": 5}
    assert logging_setup.carried() == {}
