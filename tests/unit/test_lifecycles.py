"""The lifecycle tables and the statement builders that read them: legality is decided when a statement is
built, so an illegal move cannot even be written down."""

from __future__ import annotations

import pytest

from esa_domain.core.states import (
    ATTEMPT,
    ATTEMPT_LIVE,
    ITEM,
    LIFECYCLES,
    PAYMENT,
    AttemptState,
    ItemStatus,
    PaymentStatus,
)
from esa_domain.core.transitions import IllegalTransition, born, legal_sources, move

P, It = PaymentStatus, ItemStatus


@pytest.mark.parametrize("lc", LIFECYCLES, ids=lambda lc: lc.name)
def test_every_lifecycle_has_one_initial_state_and_final_states_that_go_nowhere(lc):
    assert len(lc.initial) == 1
    assert lc.final
    for status in lc.final:
        assert lc.transitions[status] == frozenset()
    # every state is reachable from the initial one
    seen, todo = set(lc.initial), list(lc.initial)
    while todo:
        for nxt in lc.transitions[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(lc.statuses)


def test_attempts_live_until_a_definite_answer():
    assert ATTEMPT_LIVE == (AttemptState.SENDING, AttemptState.PENDING, AttemptState.UNKNOWN)
    assert ATTEMPT.final == {AttemptState.SUCCESS, AttemptState.FAILED}


def test_legal_sources_default_to_every_state_allowed_to_reach_the_target():
    assert legal_sources(PAYMENT, [P.PAID]) == ["EXPIRED", "PENDING"]
    assert legal_sources(ITEM, [It.PROCESSING], [It.SUPPLIER_PENDING]) == ["SUPPLIER_PENDING"]
    # several targets: only the states allowed to reach each of them
    assert legal_sources(PAYMENT, [P.SUCCESS, P.PARTIAL, P.FAILED]) == ["PAID"]


@pytest.mark.parametrize(
    ("lc", "to", "from_"),
    [
        (ITEM, It.SUCCESS, [It.PENDING]),  # never delivered without a worker owning it
        (PAYMENT, P.PAID, [P.SUCCESS]),
        (PAYMENT, P.REFUNDED, [P.FAILED]),  # a refund is claimed (REFUND_PENDING) before it is made
        (ITEM, It.PROCESSING, []),
    ],
)
def test_an_illegal_move_cannot_be_built(lc, to, from_):
    with pytest.raises(IllegalTransition):
        move(lc, to=to, from_=from_, where="t.id = :id", cause=":c", actor=":a")


def test_nothing_may_move_back_to_a_birth_state():
    with pytest.raises(IllegalTransition):
        legal_sources(PAYMENT, [P.PENDING])


def test_a_move_writes_its_history_row_in_the_same_statement():
    sql = move(ITEM, to=It.PROCESSING, from_=[It.PENDING], where="t.id = :item", cause=":c", actor=":a")
    assert "FOR NO KEY UPDATE OF t" in sql
    assert "t.status IN ('PENDING')" in sql
    assert "INSERT INTO payment_history" in sql
    assert sql.index("UPDATE payment_items") < sql.index("INSERT INTO payment_history")


def test_a_move_without_its_own_lock_needs_one_source():
    with pytest.raises(ValueError, match="one source"):
        move(PAYMENT, to=P.PAID, lock=False, where="t.id = :p", cause=":c", actor=":a")


def test_several_targets_need_an_expression_choosing_between_them():
    with pytest.raises(ValueError, match="to_sql"):
        move(PAYMENT, to="SUCCESS|FAILED", where="t.id = :p", cause=":c", actor=":a")


def test_birth_history_is_the_initial_state():
    assert "'PENDING'" in born(PAYMENT, rows="p", name="ph", cause="'x'", actor="'y'")
    assert "'PENDING'" in born(ITEM, rows="i", name="ih", cause="'x'", actor="'y'")
