"""Issue 16: the verify path's writes in one statement on PostgreSQL (and the replay lookup
only when a verification does not go through) keep C6/C7's answers — on both engines."""

from __future__ import annotations

from typing import Any

import pytest

from tests.coupons.test_c6_c7_verification import World
from xiaodian.coupons import service
from xiaodian.coupons.models import Claim, ClaimStatus, Verification
from xiaodian.errors import Conflict
from xiaodian.runtime import Runtime


def test_16_a_verification_writes_claim_row_and_link_together(rt: Runtime, shop: Any) -> None:
    w = World(rt, shop.shop_id)
    code = w.claim().code
    result = w.verify(code, client_request_id="pos-16-1", channel="api_v2")
    assert not result.replayed
    with rt.unit() as ctx:
        claim = ctx.session.query(Claim).filter_by(code=code).one()
        row = ctx.session.get(Verification, result.verification.id)
        assert claim.status == ClaimStatus.VERIFIED and claim.verification_id == row.id
        assert claim.verified_at == row.verified_at == result.claim.verified_at
        assert (row.claim_id, row.store_id, row.channel) == (claim.id, w.west, "api_v2")
        assert (row.client_request_id, row.status, row.actor) == ("pos-16-1", "verified", "staff")
    assert result.claim.verification_id == row.id


def test_16_a_request_id_reused_after_a_cancellation_is_answered_as_a_replay(
    rt: Runtime, shop: Any
) -> None:
    """The claim is usable again after the cancellation, but its request id was used: the
    same id answers the first verification (C7), it does not verify again or fail."""
    w = World(rt, shop.shop_id)
    code, other = w.claim().code, w.claim().code
    first = w.verify(code, client_request_id="pos-16-2", channel="api_v2")
    with rt.unit() as ctx:
        service.cancel_verification(ctx, shop.shop_id, first.verification.id)
    again = w.verify(code, client_request_id="pos-16-2", channel="api_v2")
    assert again.replayed and again.verification.id == first.verification.id
    with pytest.raises(Conflict) as info:
        w.verify(other, client_request_id="pos-16-2", channel="api_v2")
    assert info.value.code == "idempotency_key_reused"
    with rt.unit() as ctx:
        rows = ctx.session.query(Verification).filter_by(client_request_id="pos-16-2").all()
        assert len(rows) == 1
        assert ctx.session.query(Claim).filter_by(code=other).one().status == ClaimStatus.UNUSED
    second = w.verify(code, client_request_id="pos-16-3", channel="api_v2")
    assert not second.replayed and second.verification.id != first.verification.id


def test_16_a_replay_of_a_verified_code_is_a_replay_a_new_id_is_refused(
    rt: Runtime, shop: Any
) -> None:
    w = World(rt, shop.shop_id)
    code = w.claim().code
    first = w.verify(code, client_request_id="pos-16-4", channel="api_v2")
    again = w.verify(code, client_request_id="pos-16-4", channel="api_v2")
    assert again.replayed and again.verification.id == first.verification.id
    assert w.refusal(code, client_request_id="pos-16-5", channel="api_v2") == "already_verified"
