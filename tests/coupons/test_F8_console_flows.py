"""F8 (issue 17): the console walks seed 004's clicks — 创建卡券 → 通用券 → 开始创建 → the form;
创建活动 → 下一步 (step 1) → 选择卡券 (approved coupons, 刷新, 创建新的卡券 and back with the
draft) → 确定. Over real HTTP (the Chromium walk: test_F8_coupon_flows_browser.py)."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from tests.coupons.helpers import active_coupon, draft
from tests.web.conftest import console_login, page_token
from xiaodian import scheduler
from xiaodian.accounts import service as accounts
from xiaodian.coupons import service
from xiaodian.coupons import sweeps as coupon_sweeps
from xiaodian.coupons.models import CampaignStatus
from xiaodian.coupons.web import safe_return
from xiaodian.runtime import Runtime


def _href(page: str, text: str) -> str:
    """The href of the link whose text is ``text``."""
    match = re.search(r'<a [^>]*href="([^"]+)"[^>]*>' + re.escape(text) + "</a>", page)
    assert match, f"no link {text}"
    return html.unescape(match.group(1))


def _coupon_form(token: str, title: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "merchant_name": "好物小店",
        "title": title,
        "condition_kind": "discount",
        "discount_percent": "95",
        "discount_cap": "300",
        "usage_text": "全场95折，最多抵扣300元",
        "validity_kind": "relative",
        "valid_days": "7",
        "service_phone": "0571-88886666",
        "claim_instructions": "到店出示券码",
        "store_scope": "all",
        **extra,
    }


def _files() -> dict[str, Any]:
    d = draft()
    return {
        "product_image": ("p.png", d.product_image or b"", "image/png"),
        "logo": ("l.png", d.logo or b"", "image/png"),
    }


def test_F8_create_coupon_goes_through_the_type_chooser(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    console_login(client, shop.username, shop.password)
    center = client.get("/console/coupons").text
    assert 'data-testid="coupon-form"' not in center  # the form is behind 开始创建 now
    chooser = client.get(_href(center, "创建卡券"))
    assert chooser.status_code == 200
    assert "通用券" in chooser.text and ">开始创建</button>" in chooser.text
    assert 'name="kind" value="general"' in chooser.text
    nothing = client.get("/console/coupons/create")
    assert nothing.status_code == 422 and "请选择卡券类型" in nothing.text
    form = client.get("/console/coupons/create", params={"kind": "general"})
    assert form.status_code == 200 and "完成卡券创建" in form.text
    assert "推荐 686×176" in form.text
    token = page_token(client, "/console/coupons/create?kind=general")
    done = client.post(
        "/console/coupons",
        data=_coupon_form(token, "开业95折"),
        files=_files(),
        follow_redirects=False,
    )
    assert done.status_code == 303
    page = client.get(done.headers["location"]).text
    assert "已提交审核" in page and "开业95折" in page and "审核中" in page
    # A refused form comes back as the form, every failing field named.
    refused = client.post("/console/coupons", data={"csrf_token": token})
    assert refused.status_code == 422 and "完成卡券创建" in refused.text
    assert 'data-field="title"' in refused.text
    # CSRF like its neighbours.
    assert client.post("/console/coupons", data=_coupon_form("forged", "x")).status_code == 403


def test_F8_campaign_steps_picker_refresh_and_inline_create(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    with rt.unit() as ctx:
        west = accounts.create_store(ctx, shop.shop_id, name="西湖店").id
        accounts.create_store(ctx, shop.shop_id, name="滨江店")
    approved = active_coupon(rt, shop.shop_id, title="老券95折")
    with rt.unit("user:1") as ctx:  # still 审核中: not offered by the picker
        reviewing = service.create_coupon(ctx, shop.shop_id, draft(title="审核中的券")).id
    console_login(client, shop.username, shop.password)
    start = _href(client.get("/console/coupons/campaigns").text, "创建活动")
    step1 = client.get(start)
    assert step1.status_code == 200 and ">下一步</button>" in step1.text

    # 下一步 with step 1 wrong: back to step 1, every failing field, the values kept.
    now = rt.clock.now().astimezone(ZoneInfo(rt.settings.timezone))
    basics = {
        "name": "周末领券",
        "starts_at": now.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        "store_scope": "chosen",
        "store_ids": [str(west)],
    }
    wrong = client.get(
        "/console/coupons/campaigns/new/step2",
        params={**basics, "name": "", "ends_at": "2020-01-01T00:00", "store_ids": []},
    )
    assert wrong.status_code == 422 and ">下一步</button>" in wrong.text
    for field in ("name", "ends_at", "store_ids"):
        assert f'data-field="{field}"' in wrong.text, field
    assert basics["starts_at"] in wrong.text

    step2 = client.get("/console/coupons/campaigns/new/step2", params=basics)
    assert step2.status_code == 200 and ">确定</button>" in step2.text
    assert "周末领券" in step2.text and "西湖店" in step2.text
    picker_url = _href(step2.text, "选择卡券")
    picker = client.get(picker_url)
    assert picker.status_code == 200
    assert f'data-coupon-id="{approved}"' in picker.text
    assert f'data-coupon-id="{reviewing}"' not in picker.text
    assert ">刷新</button>" in picker.text

    # 创建新的卡券 from the picker: the chooser, the form, and back to the picker, draft kept.
    create_url = _href(picker.text, "创建新的卡券")
    chooser = client.get(create_url)
    assert 'name="return_to"' in chooser.text
    return_to = parse_qs(urlsplit(create_url).query)["return_to"][0]
    form = client.get("/console/coupons/create", params={"kind": "general", "return_to": return_to})
    assert f'name="return_to" value="{html.escape(return_to)}"' in form.text
    token = page_token(client, "/console/coupons/create?kind=general")
    made = client.post(
        "/console/coupons",
        data=_coupon_form(token, "新券满100减10", return_to=return_to),
        files=_files(),
        follow_redirects=False,
    )
    assert made.status_code == 303 and made.headers["location"] == return_to
    back = client.get(made.headers["location"])
    assert "审核通过（有效中）后点击【刷新】" in back.text
    assert 'value="周末领券"' in back.text and f'name="store_ids" value="{west}"' in back.text
    with rt.unit() as ctx:
        new_id = max(c.id for c in service.list_coupons(ctx.session, shop.shop_id))
    assert f'data-coupon-id="{new_id}"' not in back.text  # 审核中 for about 30 minutes

    # 刷新 after the review window: the new coupon can be ticked.
    scheduler.advance(rt, 31 * 60, sweeps=coupon_sweeps.SWEEPS)
    refreshed = client.get(return_to)
    assert f'data-coupon-id="{new_id}"' in refreshed.text

    # Tick both, back to step 2, then 确定 (the one POST, with CSRF).
    step2 = client.get(
        "/console/coupons/campaigns/new/step2",
        params={**basics, "coupon_ids": [str(approved), str(new_id)]},
    )
    assert "老券95折" in step2.text and "新券满100减10" in step2.text
    token = page_token(client, "/console/coupons/campaigns")
    confirm = {
        **basics,
        "csrf_token": token,
        "coupon_ids": [str(approved), str(new_id)],
        "per_user_limit": "1",
        "total_limit": "50",
    }
    forged = client.post("/console/coupons/campaigns", data={**confirm, "csrf_token": "x"})
    assert forged.status_code == 403
    created = client.post("/console/coupons/campaigns", data=confirm, follow_redirects=False)
    assert created.status_code == 303, created.text[:800]
    with rt.unit() as ctx:
        (campaign,) = service.list_campaigns(ctx.session, shop.shop_id)
        assert campaign.status == CampaignStatus.ONLINE and campaign.total_limit == 50
        assert service.campaign_store_ids(ctx.session, campaign) == [west]
        assert {c.id for _, c in service.campaign_coupons(ctx.session, campaign)} == {
            approved,
            new_id,
        }


def test_F8_return_to_only_inside_the_campaign_flow(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    assert safe_return("/console/coupons/campaigns/new/coupons?name=a") is not None
    for bad in ("https://evil.example/", "//evil.example/x", "/console/orders", "/\\evil"):
        assert safe_return(bad) is None, bad
    console_login(client, shop.username, shop.password)
    token = page_token(client, "/console/coupons/create?kind=general")
    made = client.post(
        "/console/coupons",
        data=_coupon_form(token, "外链不跳", return_to="https://evil.example/"),
        files=_files(),
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert made.headers["location"].startswith("/console/coupons/")
