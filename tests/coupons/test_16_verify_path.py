"""Issue 16: the verify path's writes in one statement on PostgreSQL (and the replay lookup
only when a verification does not go through) keep C6/C7's answers — on both engines."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from tests.coupons.test_c6_c7_verification import World
from xiaodian.accounts import service as accounts
from xiaodian.coupons import rules, service
from xiaodian.coupons.models import Claim, ClaimStatus, Verification
from xiaodian.errors import Conflict, NotFound
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


class _Statements:
    """The statements SQLAlchemy sends on ``engine`` while the block runs (real engine)."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.seen = engine, []

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith(("BEGIN", "SHOW")):  # SQLite's BEGIN IMMEDIATE; the test's
            self.seen.append(" ".join(statement.split()))

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self.seen

    def __exit__(self, *_exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_16_prepare_reads_claim_terms_coupon_and_stores_in_one_statement(
    rt: Runtime, shop: Any
) -> None:
    """Issue 16: prepare's claim, campaign scope, coupon, the shop's stores (and, on
    PostgreSQL, the commit without a WAL wait) come from one statement; the answer is C7's."""
    w = World(rt, shop.shop_id, campaign_stores="west")
    code = w.claim().code
    with rt.unit() as ctx, _Statements(rt.engine) as seen:
        prepared = service.prepare(ctx, shop.shop_id, service.format_code(code).lower())
        if ctx.session.get_bind().dialect.name == "postgresql":
            assert ctx.session.scalar(text("SHOW synchronous_commit")) == "off"
    # one read of the claim with its terms; the campaign's stores (not "all stores") is the
    # only other statement, and only because this campaign names its stores
    assert len(seen) == 2, seen
    assert "coupon_campaign_stores" in seen[1]
    assert prepared.claim.code == code and prepared.refusal is None
    assert prepared.usable_store_ids == [w.west]
    assert prepared.store_names == {w.west: "西湖店", w.east: "滨江店"}
    assert prepared.coupon.id == w.coupon_id and prepared.coupon.title


def test_16_verify_reads_the_claim_and_the_store_name_in_one_statement(
    rt: Runtime, shop: Any
) -> None:
    """Issue 16: verify's reads (claim, campaign, coupon, the store's name) are one
    statement; on PostgreSQL a first verification is that read, the one write statement,
    the event and the 来客 subscriber's lookup."""
    w = World(rt, shop.shop_id)
    code = w.claim().code
    with rt.unit("staff") as ctx, _Statements(rt.engine) as seen:
        service.verify(
            ctx, shop.shop_id, code=code, store_id=w.west, channel="api_v2", client_request_id="r1"
        )
        postgres = ctx.session.get_bind().dialect.name == "postgresql"
    reads = [s for s in seen if "FROM coupon_claims" in s and not s.startswith(("WITH", "UPDATE"))]
    assert len(reads) == 1, seen
    assert "stores" in reads[0] and not any(s.startswith("SELECT stores.name") for s in seen)
    if postgres:
        assert len(seen) == 4, seen


def test_16_a_second_verification_names_where_and_when_the_first_was(
    rt: Runtime, shop: Any
) -> None:
    """The store of the first verification comes with the claim's one read (C6 message)."""
    w = World(rt, shop.shop_id)
    code = w.claim().code
    first = w.verify(code, store=w.east)
    with pytest.raises(service.CouponRefused) as info:
        w.verify(code, store=w.west)
    assert info.value.code == "already_verified"
    when = rules.local_time(first.verification.verified_at, rt.settings.timezone)
    assert f"该券已于 {when} 在「滨江店」核销" in info.value.message_zh


def test_16_verify_at_another_shops_store_is_not_found(
    rt: Runtime, shop: Any, make_shop: Any
) -> None:
    """X2: the store's name is read with the claim; another shop's store is "not found"."""
    w = World(rt, shop.shop_id)
    other = make_shop("别家小店")
    with rt.unit() as ctx:
        theirs = accounts.create_store(ctx, other.shop_id, name="别家门店").id
    code = w.claim().code
    with pytest.raises(NotFound):
        w.verify(code, store=theirs)
    with pytest.raises(NotFound):
        w.verify(code, store=10**12)
    with rt.unit() as ctx:
        assert ctx.session.query(Claim).filter_by(code=code).one().status == ClaimStatus.UNUSED
