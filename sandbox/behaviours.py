"""How a simulator chooses its behaviour: by the last four digits of the destination (target) number.

Every supplier simulator honours the same table, so a test or a demo asks for a behaviour the same way
whatever supplier serves it. Any other ending means plain success.
"""

from __future__ import annotations

from enum import StrEnum


class Behaviour(StrEnum):
    SUCCESS = "success"
    CUSTOMER_FAILURE = "customer_failure"  # definite: bad number
    PRODUCT_FAILURE = "product_failure"  # definite: out of stock
    PENDING_THEN_SUCCESS = "pending_then_success"  # callback after a short delay
    PENDING_THEN_FAILURE = "pending_then_failure"  # callback after a short delay, balance refunded
    TIMEOUT_BUT_SUCCEEDS = "timeout_but_succeeds"  # the double-purchase trap: answer never arrives in time
    SERVER_ERROR_CREATED = "server_error_created"  # HTTP 5xx, yet the transaction exists (and succeeds)
    NO_CALLBACK = "no_callback"  # pending; succeeds but never calls back: polling only
    DUPLICATE_CALLBACK = "duplicate_callback"  # pending, success callback sent twice
    OUT_OF_ORDER_CALLBACKS = (
        "out_of_order_callbacks"  # success callback, then a stale "processing"/failure one
    )
    SLOW = "slow"  # answers correctly, but slowly (within a sane client timeout)
    CONFIG_FAILURE = "config_failure"  # definite: e.g. insufficient balance / not allowed


SUFFIXES: dict[str, Behaviour] = {
    "9901": Behaviour.CUSTOMER_FAILURE,
    "9902": Behaviour.PRODUCT_FAILURE,
    "9903": Behaviour.PENDING_THEN_SUCCESS,
    "9904": Behaviour.PENDING_THEN_FAILURE,
    "9905": Behaviour.TIMEOUT_BUT_SUCCEEDS,
    "9906": Behaviour.SERVER_ERROR_CREATED,
    "9907": Behaviour.NO_CALLBACK,
    "9908": Behaviour.DUPLICATE_CALLBACK,
    "9909": Behaviour.OUT_OF_ORDER_CALLBACKS,
    "9910": Behaviour.SLOW,
    "9911": Behaviour.CONFIG_FAILURE,
}


def behaviour_for(target: str) -> Behaviour:
    """The behaviour a destination number asks for."""
    return SUFFIXES.get(target.strip()[-4:], Behaviour.SUCCESS)


def target_for(behaviour: Behaviour, prefix: str = "08123456") -> str:
    """A destination number that asks for `behaviour` (tests and demo data use this)."""
    for suffix, b in SUFFIXES.items():
        if b is behaviour:
            return prefix + suffix
    return prefix + "0000"
