"""C3 campaigns (online at creation / at start, offline at end or by hand) and C4 claims
(limits exact, also under real concurrency on PostgreSQL; unique code and QR)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from tests.coupons.helpers import active_coupon, draft, wide_runtime
from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.coupons import service
from xiaodian.coupons.models import INT_FIELD_MAX, CampaignStatus, Claim
from xiaodian.coupons.sweeps import SWEEPS
from xiaodian.errors import ValidationFailed
from xiaodian.runtime import Runtime


def _stores(rt: Runtime, shop_id: int) -> list[int]:
    with rt.unit() as ctx:
        return [accounts.create_store(ctx, shop_id, name=n).id for n in ("西湖店", "滨江店")]


def _campaign(rt: Runtime, shop_id: int, coupon_ids: list[int], **kw: Any) -> Any:
    now = rt.clock.now()
    values: dict[str, Any] = {
        "name": "店铺主页领券",
        "starts_at": now,
        "ends_at": now + timedelta(days=7),
        "store_ids": None,
        "coupon_ids": coupon_ids,
        "per_user_limit": 1,
        "total_limit": 100,
    }
    values.update(kw)
    with rt.unit("user:1") as ctx:
        return service.create_campaign(ctx, shop_id, service.CampaignDraft(**values))


def _buyer(rt: Runtime, name: str) -> int:
    with rt.unit() as ctx:
        buyer, _token = accounts.create_buyer(ctx, douyin_id=name, nickname=name)
        return buyer.id


def _claim(rt: Runtime, shop_id: int, buyer_id: int, campaign_id: int, coupon_id: int) -> Claim:
    with rt.unit(f"buyer:{buyer_id}") as ctx:
        return service.claim(ctx, shop_id, buyer_id, campaign_id=campaign_id, coupon_id=coupon_id)


def test_C3_campaign_online_at_creation_offline_at_end(rt: Runtime, shop: Any) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    campaign = _campaign(rt, shop.shop_id, [coupon_id])
    assert campaign.status == CampaignStatus.ONLINE
    with rt.unit() as ctx:
        assert service.next_campaign_due(ctx.session, rt.clock.now()) == campaign.ends_at
        assert len(service.homepage(ctx.session, shop.shop_id, rt.clock.now())) == 1
    report = scheduler.advance(rt, 8 * 86400, sweeps=SWEEPS)
    assert report.counts["coupons.campaign_schedule"]["offline"] == 1
    with rt.unit() as ctx:
        after = service.get_campaign(ctx.session, shop.shop_id, campaign.id)
        assert after.status == CampaignStatus.OFFLINE and after.offline_at == campaign.ends_at
        assert service.apply_campaign_schedule(ctx) == {"offline": 0, "online": 0}
        assert service.homepage(ctx.session, shop.shop_id, rt.clock.now()) == []


def test_C3_scheduled_campaign_goes_online_at_start(rt: Runtime, shop: Any) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    now = rt.clock.now()
    campaign = _campaign(rt, shop.shop_id, [coupon_id], starts_at=now + timedelta(hours=2))
    assert campaign.status == CampaignStatus.SCHEDULED
    scheduler.advance(rt, 3 * 3600, sweeps=SWEEPS)
    with rt.unit() as ctx:
        after = service.get_campaign(ctx.session, shop.shop_id, campaign.id)
        assert after.status == CampaignStatus.ONLINE
        assert after.online_at == now + timedelta(hours=2)


def test_C3_manual_offline_stops_claims(rt: Runtime, shop: Any) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    campaign = _campaign(rt, shop.shop_id, [coupon_id])
    with rt.unit() as ctx:
        service.take_offline(ctx, shop.shop_id, campaign.id)
    buyer = _buyer(rt, "b1")
    with pytest.raises(service.CouponRefused) as info:
        _claim(rt, shop.shop_id, buyer, campaign.id, coupon_id)
    assert info.value.code == "campaign_not_online"


def test_C3_only_active_coupons_and_own_stores(rt: Runtime, shop: Any, make_shop: Any) -> None:
    with rt.unit() as ctx:
        reviewing = service.create_coupon(ctx, shop.shop_id, draft()).id
    other = make_shop("别家")
    with rt.unit() as ctx:
        foreign_store = accounts.create_store(ctx, other.shop_id, name="别家店").id
    with pytest.raises(ValidationFailed) as info:
        _campaign(
            rt,
            shop.shop_id,
            [reviewing],
            store_ids=[foreign_store],
            per_user_limit=5,
            total_limit=2,
        )
    fields = {e["field"] for e in info.value.errors}
    assert fields == {"coupon_ids", "store_ids", "per_user_limit"}


def test_C3_editing_rules_while_online(rt: Runtime, shop: Any) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    campaign = _campaign(rt, shop.shop_id, [coupon_id], per_user_limit=2, total_limit=10)
    with rt.unit() as ctx:
        changed = service.update_campaign(
            ctx, shop.shop_id, campaign.id, name="新名字", total_limit=20, per_user_limit=3
        )
        assert (changed.name, changed.total_limit, changed.per_user_limit) == ("新名字", 20, 3)
    with pytest.raises(ValidationFailed) as info, rt.unit() as ctx:
        service.update_campaign(
            ctx,
            shop.shop_id,
            campaign.id,
            per_user_limit=1,
            starts_at=rt.clock.now() + timedelta(hours=1),
        )
    assert {e["field"] for e in info.value.errors} == {"per_user_limit", "starts_at"}


def test_C4_claim_gets_unique_code_qr_and_validity(rt: Runtime, shop: Any) -> None:
    coupon_id = active_coupon(rt, shop.shop_id, valid_days=3)
    campaign = _campaign(rt, shop.shop_id, [coupon_id], per_user_limit=5)
    buyer = _buyer(rt, "b1")
    first = _claim(rt, shop.shop_id, buyer, campaign.id, coupon_id)
    second = _claim(rt, shop.shop_id, buyer, campaign.id, coupon_id)
    assert first.code != second.code and len(first.code) == 12
    assert set(first.code) <= set(service.CODE_ALPHABET)
    now = rt.clock.now()
    assert first.valid_from == now
    assert first.valid_until == now + timedelta(days=3) - timedelta(seconds=1)
    import io

    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(service.qr_png(first.code))))
    assert [service.normalize_code(r.text) for r in decoded] == [first.code]


def test_C4_per_user_and_total_limits(rt: Runtime, shop: Any) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    campaign = _campaign(rt, shop.shop_id, [coupon_id], per_user_limit=2, total_limit=3)
    alice, bob = _buyer(rt, "alice"), _buyer(rt, "bob")
    _claim(rt, shop.shop_id, alice, campaign.id, coupon_id)
    _claim(rt, shop.shop_id, alice, campaign.id, coupon_id)
    with pytest.raises(service.CouponRefused) as info:
        _claim(rt, shop.shop_id, alice, campaign.id, coupon_id)
    assert info.value.code == "per_user_limit_reached"
    _claim(rt, shop.shop_id, bob, campaign.id, coupon_id)
    with pytest.raises(service.CouponRefused) as info:
        _claim(rt, shop.shop_id, bob, campaign.id, coupon_id)
    assert info.value.code == "total_limit_reached"
    with rt.unit() as ctx:  # the refused claim left no trace in bob's counter
        assert ctx.session.scalar(select(func.count()).select_from(Claim)) == 3


def _race(rt: Runtime, jobs: list[tuple[int, int, int, int]]) -> list[str]:
    """Every job in its own thread and its own unit of work (a real connection each)."""
    if rt.engine.dialect.name == "postgresql":
        rt = wide_runtime(rt, connections=len(jobs))
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(job: tuple[int, int, int, int]) -> None:
        shop_id, buyer, campaign_id, coupon_id = job
        barrier.wait()
        try:
            _claim(rt, shop_id, buyer, campaign_id, coupon_id)
            result = "ok"
        except service.CouponRefused as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if rt.engine.dialect.name == "postgresql":
        rt.engine.dispose()
    return outcomes


def test_C4_total_limit_exact_under_55_parallel_claims(
    rt: Runtime, shop: Any, pg_only: None
) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    campaign = _campaign(rt, shop.shop_id, [coupon_id], per_user_limit=1, total_limit=17)
    buyers = [_buyer(rt, f"buyer{i}") for i in range(55)]
    outcomes = _race(rt, [(shop.shop_id, b, campaign.id, coupon_id) for b in buyers])
    assert outcomes.count("ok") == 17
    assert set(outcomes) == {"ok", "total_limit_reached"}
    with rt.unit() as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Claim)) == 17


def test_C4_per_user_limit_exact_under_55_parallel_claims(
    rt: Runtime, shop: Any, pg_only: None
) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    campaign = _campaign(rt, shop.shop_id, [coupon_id], per_user_limit=3, total_limit=1000)
    buyer = _buyer(rt, "greedy")
    outcomes = _race(rt, [(shop.shop_id, buyer, campaign.id, coupon_id)] * 55)
    assert outcomes.count("ok") == 3
    assert set(outcomes) == {"ok", "per_user_limit_reached"}


def test_C4_limits_exact_with_threads_on_sqlite_too(rt: Runtime, shop: Any) -> None:
    coupon_id = active_coupon(rt, shop.shop_id)
    campaign = _campaign(rt, shop.shop_id, [coupon_id], per_user_limit=2, total_limit=5)
    buyers = [_buyer(rt, f"b{i}") for i in range(4)]
    outcomes = _race(
        rt, [(shop.shop_id, b, campaign.id, coupon_id) for b in buyers for _ in range(4)]
    )
    assert outcomes.count("ok") == 5


# ----- C3 total issuance limit: one cap for all coupons of the campaign ----------------------


def _campaign_total(rt: Runtime, shop_id: int, campaign_id: int) -> tuple[int, list[int]]:
    with rt.unit() as ctx:
        campaign = service.get_campaign(ctx.session, shop_id, campaign_id)
        per_coupon = [cc.claimed for cc, _c in service.campaign_coupons(ctx.session, campaign)]
        return campaign.claimed, per_coupon


def test_C3_total_limit_caps_all_coupons_of_the_campaign_together(rt: Runtime, shop: Any) -> None:
    """C3 "total issuance limit" is the campaign's: two coupons share total_limit=3 (the
    per-user limit still counts per coupon)."""
    first = active_coupon(rt, shop.shop_id)
    second = active_coupon(rt, shop.shop_id, title="满500减30")
    campaign = _campaign(rt, shop.shop_id, [first, second], per_user_limit=2, total_limit=3)
    alice, bob, carol = _buyer(rt, "alice"), _buyer(rt, "bob"), _buyer(rt, "carol")
    _claim(rt, shop.shop_id, alice, campaign.id, first)
    _claim(rt, shop.shop_id, alice, campaign.id, second)  # per coupon: alice may take both
    _claim(rt, shop.shop_id, bob, campaign.id, second)
    for buyer, coupon_id in ((bob, first), (carol, first), (carol, second)):
        with pytest.raises(service.CouponRefused) as info:
            _claim(rt, shop.shop_id, buyer, campaign.id, coupon_id)
        assert info.value.code == "total_limit_reached"
    assert _campaign_total(rt, shop.shop_id, campaign.id) == (3, [1, 2])
    with rt.unit() as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Claim)) == 3
        items = service.homepage(ctx.session, shop.shop_id, rt.clock.now())
        assert [i.remaining for i in items] == [0, 0]


def test_C3_total_limit_edit_respects_the_campaign_total(rt: Runtime, shop: Any) -> None:
    first = active_coupon(rt, shop.shop_id)
    second = active_coupon(rt, shop.shop_id, title="满500减30")
    campaign = _campaign(rt, shop.shop_id, [first, second], per_user_limit=1, total_limit=5)
    for i, coupon_id in enumerate((first, second, second)):
        _claim(rt, shop.shop_id, _buyer(rt, f"b{i}"), campaign.id, coupon_id)
    with pytest.raises(ValidationFailed) as info, rt.unit() as ctx:  # 3 issued in total
        service.update_campaign(ctx, shop.shop_id, campaign.id, total_limit=2)
    assert "3" in info.value.errors[0]["message_zh"]
    with rt.unit() as ctx:
        assert service.update_campaign(ctx, shop.shop_id, campaign.id, total_limit=3).claimed == 3
    with pytest.raises(service.CouponRefused):
        _claim(rt, shop.shop_id, _buyer(rt, "late"), campaign.id, first)


def test_C3_C4_campaign_total_exact_under_60_parallel_claims_on_two_coupons(
    rt: Runtime, shop: Any, pg_only: None
) -> None:
    """60 real PostgreSQL connections claim at once, half each coupon, against total 23."""
    first = active_coupon(rt, shop.shop_id)
    second = active_coupon(rt, shop.shop_id, title="满500减30")
    campaign = _campaign(rt, shop.shop_id, [first, second], per_user_limit=1, total_limit=23)
    buyers = [_buyer(rt, f"buyer{i}") for i in range(60)]
    jobs = [(shop.shop_id, b, campaign.id, (first, second)[i % 2]) for i, b in enumerate(buyers)]
    outcomes = _race(rt, jobs)
    assert outcomes.count("ok") == 23
    assert set(outcomes) == {"ok", "total_limit_reached"}
    total, per_coupon = _campaign_total(rt, shop.shop_id, campaign.id)
    assert total == 23 and sum(per_coupon) == 23
    with rt.unit() as ctx:
        assert ctx.session.scalar(select(func.count()).select_from(Claim)) == 23


def test_C3_C4_claims_waiting_on_a_manual_offline_are_refused_once_it_commits(
    rt: Runtime, shop: Any, pg_only: None
) -> None:
    """55 claims start while a 下线 is in flight (uncommitted, holding the campaign row): they
    passed the "is it online?" read, then wait on the campaign counter. Once the 下线 commits,
    every one of them is refused — the counter UPDATE re-checks the status, so no coupon is
    issued by a campaign that is already offline."""
    import time

    from sqlalchemy import text

    coupon_id = active_coupon(rt, shop.shop_id)
    campaign = _campaign(rt, shop.shop_id, [coupon_id], per_user_limit=1, total_limit=1000)
    buyers = [_buyer(rt, f"buyer{i}") for i in range(55)]
    offline = rt.unit("user:1")
    ctx = offline.__enter__()
    service.take_offline(ctx, shop.shop_id, campaign.id)  # row locked until commit
    outcomes: list[str] = []
    racer = threading.Thread(
        target=lambda: outcomes.extend(
            _race(rt, [(shop.shop_id, b, campaign.id, coupon_id) for b in buyers])
        )
    )
    racer.start()
    waiting_sql = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 60
    with rt.engine.connect() as probe:
        while probe.execute(waiting_sql).scalar_one() < len(buyers):
            assert time.monotonic() < deadline, "the claims never queued behind the 下线"
            time.sleep(0.05)
            probe.rollback()
    offline.__exit__(None, None, None)  # commit the 下线
    racer.join()
    assert outcomes == ["campaign_not_online"] * len(buyers)
    assert _campaign_total(rt, shop.shop_id, campaign.id) == (0, [0])


# ----- bounds: INTEGER columns never see a number they cannot hold --------------------------


def test_C3_limits_accepted_at_the_bound_refused_one_over(rt: Runtime, shop: Any) -> None:
    top = INT_FIELD_MAX
    coupon_id = active_coupon(rt, shop.shop_id)
    campaign = _campaign(rt, shop.shop_id, [coupon_id], per_user_limit=top, total_limit=top)
    with rt.unit() as ctx:
        stored = service.get_campaign(ctx.session, shop.shop_id, campaign.id)
        assert (stored.per_user_limit, stored.total_limit) == (top, top)
    with pytest.raises(ValidationFailed) as info:
        _campaign(rt, shop.shop_id, [coupon_id], per_user_limit=top + 1, total_limit=top + 1)
    assert {e["field"] for e in info.value.errors} == {"per_user_limit", "total_limit"}
    with pytest.raises(ValidationFailed) as info, rt.unit() as ctx:
        service.update_campaign(ctx, shop.shop_id, campaign.id, total_limit=2**40)
    assert [e["field"] for e in info.value.errors] == ["total_limit"]
