"""C5 staff app tokens, C6 verification (exactly once, validity, scopes, revoked staff, scan)
and C7 (prepare token, idempotent verify, cancel window)."""

from __future__ import annotations

import io
import threading
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from tests.coupons.helpers import active_coupon, picture, png, wide_runtime
from xiaodian.accounts import service as accounts
from xiaodian.coupons import service
from xiaodian.coupons.models import ClaimStatus
from xiaodian.errors import AuthFailed, Conflict, ValidationFailed
from xiaodian.runtime import Runtime


class World:
    def __init__(self, rt: Runtime, shop_id: int, *, campaign_stores: str = "all", **coupon: Any):
        self.rt, self.shop_id = rt, shop_id
        with rt.unit() as ctx:
            self.west = accounts.create_store(ctx, shop_id, name="西湖店").id
            self.east = accounts.create_store(ctx, shop_id, name="滨江店").id
        self.coupon_id = active_coupon(rt, shop_id, **coupon)
        now = rt.clock.now()
        with rt.unit() as ctx:
            self.campaign_id = service.create_campaign(
                ctx,
                shop_id,
                service.CampaignDraft(
                    name="开业领券",
                    starts_at=now,
                    ends_at=now + timedelta(days=30),
                    store_ids=None if campaign_stores == "all" else [self.west],
                    coupon_ids=[self.coupon_id],
                    per_user_limit=10,
                    total_limit=1000,
                ),
            ).id
            buyer, _ = accounts.create_buyer(ctx, douyin_id="buyer", nickname="买家")
            self.buyer = buyer.id
            self.staff_all = accounts.add_staff(ctx, shop_id, douyin_id="dy_all", store_ids=None).id
            self.staff_east = accounts.add_staff(
                ctx, shop_id, douyin_id="dy_east", store_ids=[self.east]
            ).id

    def claim(self) -> Any:
        with self.rt.unit() as ctx:
            return service.claim(
                ctx,
                self.shop_id,
                self.buyer,
                campaign_id=self.campaign_id,
                coupon_id=self.coupon_id,
            )

    def verify(
        self, code: str, store: int | None = None, staff: int | None = None, **kw: Any
    ) -> Any:
        with self.rt.unit("staff") as ctx:
            return service.verify(
                ctx,
                self.shop_id,
                code=code,
                store_id=store or self.west,
                staff_id=staff,
                channel=kw.pop("channel", "code"),
                **kw,
            )

    def refusal(self, code: str, **kw: Any) -> str:
        with pytest.raises(service.CouponRefused) as info:
            self.verify(code, **kw)
        assert info.value.message_zh and info.value.message_en
        return info.value.code


def test_C6_code_verifies_exactly_once(rt: Runtime, shop: Any) -> None:
    w = World(rt, shop.shop_id)
    code = w.claim().code
    result = w.verify(service.format_code(code).lower(), staff=w.staff_all)
    assert result.claim.status == ClaimStatus.VERIFIED
    assert result.claim.verification_id == result.verification.id
    assert result.claim.verified_at == result.verification.verified_at
    assert w.refusal(code, staff=w.staff_all) == "already_verified"
    assert w.refusal("ABCDEFGHJKMN") == "unknown_code"
    assert w.refusal("not a code!") == "unknown_code"


def test_C6_unknown_code_of_another_shop(rt: Runtime, shop: Any, make_shop: Any) -> None:
    w = World(rt, shop.shop_id)
    code = w.claim().code
    other = make_shop("别家")
    with pytest.raises(service.UnknownCode), rt.unit() as ctx:
        service.verify(ctx, other.shop_id, code=code, store_id=w.west, channel="code")


def test_C6_verify_at_last_second_of_validity_ok_one_second_after_expired(
    rt: Runtime, shop: Any
) -> None:
    w = World(rt, shop.shop_id, valid_days=1)
    first, second = w.claim(), w.claim()
    rt.clock.set(first.valid_until)  # type: ignore[attr-defined]
    w.verify(first.code)
    rt.clock.set(second.valid_until + timedelta(seconds=1))  # type: ignore[attr-defined]
    assert w.refusal(second.code) == "expired"


def test_C6_fixed_validity_not_yet_valid(rt: Runtime, shop: Any) -> None:
    now = rt.clock.now()
    w = World(
        rt,
        shop.shop_id,
        validity_kind="fixed",
        valid_days=None,
        valid_from=now + timedelta(days=2),
        valid_until=now + timedelta(days=5),
    )
    code = w.claim().code
    assert w.refusal(code) == "not_yet_valid"
    rt.clock.set(now + timedelta(days=2))  # type: ignore[attr-defined]
    w.verify(code)


def test_C6_store_out_of_campaign_scope(rt: Runtime, shop: Any) -> None:
    w = World(rt, shop.shop_id, campaign_stores="west")
    code = w.claim().code
    assert w.refusal(code, store=w.east, staff=w.staff_all) == "store_out_of_campaign_scope"
    w.verify(code, store=w.west, staff=w.staff_all)


def test_C6_store_out_of_staff_scope(rt: Runtime, shop: Any) -> None:
    w = World(rt, shop.shop_id)
    code = w.claim().code
    assert w.refusal(code, store=w.west, staff=w.staff_east) == "store_out_of_staff_scope"
    w.verify(code, store=w.east, staff=w.staff_east)


def test_C6_store_out_of_coupon_restriction(rt: Runtime, shop: Any) -> None:
    with rt.unit() as ctx:
        only = accounts.create_store(ctx, shop.shop_id, name="限定店").id
    w = World(rt, shop.shop_id, store_ids=[only])
    code = w.claim().code
    assert w.refusal(code, store=w.west) == "store_out_of_coupon_scope"
    w.verify(code, store=only)


def test_C6_revoked_staff_refused_and_token_dead(rt: Runtime, shop: Any) -> None:
    w = World(rt, shop.shop_id)
    code = w.claim().code
    with rt.unit() as ctx:
        token = service.issue_staff_token(ctx, shop.shop_id, w.staff_all)
    with rt.unit() as ctx:
        assert service.staff_by_token(ctx.session, token).id == w.staff_all
        accounts.revoke_staff(ctx, shop.shop_id, w.staff_all)
    assert w.refusal(code, staff=w.staff_all) == "staff_revoked"
    with pytest.raises(service.StaffRevoked), rt.unit() as ctx:
        service.staff_by_token(ctx.session, token)
    with pytest.raises(AuthFailed), rt.unit() as ctx:
        service.staff_by_token(ctx.session, "st_nope")


def test_C6_scan_uploaded_qr_screenshot(rt: Runtime, shop: Any) -> None:
    w = World(rt, shop.shop_id)
    code = w.claim().code
    screen = picture(600, 900, (250, 250, 250))
    qr = Image.open(io.BytesIO(service.qr_png(code, scale=6))).convert("RGB")
    screen.paste(qr, (100, 250))
    buffer = io.BytesIO()
    screen.save(buffer, format="JPEG", quality=85)
    with rt.unit() as ctx:
        result = service.verify_scan(
            ctx, shop.shop_id, image_bytes=buffer.getvalue(), store_id=w.west, staff_id=w.staff_all
        )
    assert result.claim.code == code and result.verification.channel == "scan"
    for garbage in (b"garbage", png(100, 100)):
        with pytest.raises(ValidationFailed), rt.unit() as ctx:
            service.verify_scan(
                ctx, shop.shop_id, image_bytes=garbage, store_id=w.west, staff_id=None
            )


def test_C6_parallel_verifies_of_one_code_exactly_one_success(
    rt: Runtime, shop: Any, pg_only: None
) -> None:
    w = World(rt, shop.shop_id)
    code = w.claim().code
    wide = wide_runtime(rt, 55)
    barrier = threading.Barrier(55)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            with wide.unit("staff") as ctx:
                service.verify(ctx, shop.shop_id, code=code, store_id=w.west, channel="code")
            result = "ok"
        except service.CouponRefused as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run) for _ in range(55)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wide.engine.dispose()
    assert outcomes.count("ok") == 1
    assert set(outcomes) == {"ok", "already_verified"}


def test_C7_idempotent_verify_same_request_same_result(rt: Runtime, shop: Any) -> None:
    w = World(rt, shop.shop_id)
    a, b = w.claim().code, w.claim().code
    first = w.verify(a, client_request_id="req-1", channel="api_v2")
    again = w.verify(a, client_request_id="req-1", channel="api_v2")
    assert again.replayed and again.verification.id == first.verification.id
    with pytest.raises(Conflict) as info:
        w.verify(b, client_request_id="req-1", channel="api_v2")
    assert info.value.code == "idempotency_key_reused"


def test_C7_verify_token_roundtrip_and_expiry(rt: Runtime, shop: Any, make_shop: Any) -> None:
    w = World(rt, shop.shop_id)
    claim = w.claim()
    with rt.unit() as ctx:
        token, _expires = service.make_verify_token(ctx, shop.shop_id, claim.id)
        assert service.read_verify_token(ctx, shop.shop_id, token) == claim.id
    other = make_shop("别家")
    with pytest.raises(AuthFailed), rt.unit() as ctx:
        service.read_verify_token(ctx, other.shop_id, token)
    with pytest.raises(AuthFailed), rt.unit() as ctx:
        service.read_verify_token(
            ctx, shop.shop_id, token[:-1] + ("0" if token[-1] != "0" else "1")
        )
    rt.clock.advance(301)  # type: ignore[attr-defined]
    with pytest.raises(service.CouponRefused) as info, rt.unit() as ctx:
        service.read_verify_token(ctx, shop.shop_id, token)
    assert info.value.code == "verify_token_expired"


def test_C7_cancel_at_exactly_60_minutes_ok_60_01_refused(rt: Runtime, shop: Any) -> None:
    w = World(rt, shop.shop_id)
    a, b = w.claim(), w.claim()
    va = w.verify(a.code).verification.id
    vb = w.verify(b.code).verification.id
    rt.clock.advance(3600)  # type: ignore[attr-defined]
    with rt.unit() as ctx:
        cancelled = service.cancel_verification(ctx, shop.shop_id, va)
        assert cancelled.status == "cancelled"
    rt.clock.advance(1)  # type: ignore[attr-defined]
    with pytest.raises(service.CouponRefused) as info, rt.unit() as ctx:
        service.cancel_verification(ctx, shop.shop_id, vb)
    assert info.value.code == "cancel_window_passed"
    with pytest.raises(service.CouponRefused) as info, rt.unit() as ctx:
        service.cancel_verification(ctx, shop.shop_id, va)
    assert info.value.code == "already_cancelled"
    # The cancelled code is restored and verifies again.
    again = w.verify(a.code)
    assert again.claim.status == ClaimStatus.VERIFIED and again.verification.id != va
