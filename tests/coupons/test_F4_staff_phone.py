"""F4 (issue 17; seed 004 如何手机核销) over real HTTP: the console adds a verifier by 抖音号
(nickname shown first; unknown and duplicate refused), issues a one-time link that binds the
phone (single use, dies after ``coupons.staff_link_ttl_minutes``); the phone page (only its
staff cookie) takes a typed code or a photo of the buyer's QR, shows the coupon, verifies on
确定; the cookie reaches neither the console nor another shop's codes; revoking ends it."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from tests.conftest import ShopFixture
from tests.coupons.f4_world import World
from tests.coupons.helpers import picture, png
from tests.web.conftest import console_login, csrf_from, page_token
from xiaodian.accounts import service as accounts
from xiaodian.accounts.models import Staff
from xiaodian.config import CouponRules, Settings, SmsSettings
from xiaodian.coupons import service
from xiaodian.coupons.models import ClaimStatus, StaffLink, StaffToken, Verification
from xiaodian.coupons.rules import local_time
from xiaodian.runtime import Runtime

TTL_MINUTES = 7
PAGE = "/console/coupons/staff"
COOKIE = "xiaodian_staff"


@pytest.fixture
def settings(db_url: str) -> Settings:
    """The suite's settings, with a link life of 7 minutes (the setting is what counts)."""
    return Settings(
        database_url=db_url,
        clock_mode="system",
        secret_key="test-secret-key",
        sms=SmsSettings(demo_phone=True),
        coupons=CouponRules(staff_link_ttl_minutes=TTL_MINUTES),
    )


def _count(rt: Runtime, model: Any, *where: Any) -> int:
    with rt.unit() as ctx:
        return int(ctx.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _issue_link(client: TestClient, staff_id: int) -> str:
    """The console's 生成手机核销链接: the page shows the URL (and its QR) once."""
    token = page_token(client, PAGE)
    answer = client.post(f"{PAGE}/{staff_id}/link", data={"csrf_token": token})
    assert answer.status_code == 200, answer.text
    assert 'data-testid="link-qr"' in answer.text and "data:image/png;base64," in answer.text
    assert f"{TTL_MINUTES} 分钟内有效" in answer.text and "只能使用一次" in answer.text
    match = re.search(r'data-testid="link-url"[^>]*value="([^"]+)"', answer.text) or re.search(
        r'value="([^"]+)"[^>]*data-testid="link-url"', answer.text
    )
    assert match, answer.text
    url = match.group(1)
    assert "/staff/m/bind/sl_" in url
    return url[url.index("/staff/m/bind/") :]


def _phone(client: TestClient) -> TestClient:
    """Another device: the same app, its own cookie jar."""
    return TestClient(client.app, raise_server_exceptions=False)


def _bind(client: TestClient, shop: ShopFixture, staff_id: int) -> TestClient:
    console_login(client, shop.username, shop.password)
    phone = _phone(client)
    bound = phone.get(_issue_link(client, staff_id), follow_redirects=False)
    assert bound.status_code == 303, bound.text
    return phone


def _prepare(phone: TestClient, **fields: Any) -> Any:
    home = phone.get("/staff/m")
    assert home.status_code == 200, home.text
    files = fields.pop("files", None)
    return phone.post(
        "/staff/m/prepare", data={"csrf_token": csrf_from(home.text), **fields}, files=files
    )


def _confirm(phone: TestClient, confirm_page: str, **override: str) -> Any:
    fields = dict(
        re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', confirm_page)
    )
    assert {"csrf_token", "verify_token", "channel", "store_id"} <= set(fields), confirm_page
    fields.update(override)
    return phone.post("/staff/m/verify", data=fields)


def _qr_photo(code: str) -> bytes:
    """A phone photo of the buyer's screen: the real QR (segno) pasted on a grey screen, JPEG."""
    screen = picture(600, 900, (245, 245, 245))
    qr = Image.open(io.BytesIO(service.qr_png(code, scale=6))).convert("RGB")
    screen.paste(qr, (100, 250))
    buffer = io.BytesIO()
    screen.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


# ----- console: add by 抖音号 ---------------------------------------------------------------


def test_F4_console_adds_staff_by_douyin_id_showing_the_nickname_first(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    World(rt, shop)
    console_login(client, shop.username, shop.password)
    found = client.get(PAGE, params={"douyin_id": " dy_xiaowang "})
    assert found.status_code == 200
    assert 'data-testid="found-nickname">小王店员<' in found.text
    assert _count(rt, Staff) == 0  # searching adds nobody
    added = client.post(
        PAGE,
        data={"csrf_token": csrf_from(found.text), "douyin_id": "dy_xiaowang", "scope": "all"},
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    listing = client.get(PAGE).text
    assert "已添加核销人员 小王店员（抖音号 dy_xiaowang）" in listing
    assert 'data-douyin-id="dy_xiaowang"' in listing and "全部门店" in listing
    with rt.unit() as ctx:
        (staff,) = accounts.list_staff(ctx.session, shop.shop_id)
        assert (staff.douyin_id, staff.name, staff.all_stores) == ("dy_xiaowang", "小王店员", True)


def test_F4_console_add_by_douyin_id_not_found_and_duplicate(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    w = World(rt, shop)
    console_login(client, shop.username, shop.password)
    missing = client.get(PAGE, params={"douyin_id": "dy_nobody"})
    assert missing.status_code == 404
    assert 'data-code="douyin_user_not_found"' in missing.text
    assert "未找到抖音号为 dy_nobody 的用户，请核对后重试" in missing.text
    token = page_token(client, PAGE)
    posted = client.post(PAGE, data={"csrf_token": token, "douyin_id": "dy_nobody"})
    assert posted.status_code == 404 and "未找到抖音号为 dy_nobody 的用户" in posted.text
    assert _count(rt, Staff) == 0

    chosen = {"csrf_token": token, "douyin_id": "dy_xiaoli", "scope": "chosen"}
    first = client.post(PAGE, data={**chosen, "store_ids": str(w.east)}, follow_redirects=False)
    assert first.status_code == 303
    again = client.get(PAGE, params={"douyin_id": "dy_xiaoli"})
    assert (
        'data-testid="already-staff"' in again.text and 'data-testid="staff-add"' not in again.text
    )
    duplicate = client.post(PAGE, data={**chosen, "store_ids": str(w.west)})
    assert duplicate.status_code == 409
    assert 'data-code="staff_exists"' in duplicate.text
    assert "抖音号 dy_xiaoli 已是核销人员" in duplicate.text
    assert _count(rt, Staff) == 1
    no_store = client.post(PAGE, data={**chosen, "douyin_id": "dy_xiaowang"})
    assert no_store.status_code == 422 and "请至少选择一个门店" in no_store.text
    without_csrf = client.post(PAGE, data={"douyin_id": "dy_xiaowang", "scope": "all"})
    assert without_csrf.status_code == 403 and _count(rt, Staff) == 1


# ----- the binding link -----------------------------------------------------------------------


def test_F4_link_binds_one_phone_once_and_sets_a_scoped_httponly_cookie(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    w = World(rt, shop)
    staff_id = w.add_staff("dy_xiaowang")
    console_login(client, shop.username, shop.password)
    path = _issue_link(client, staff_id)
    with rt.unit() as ctx:  # only the hash is kept
        link = ctx.session.scalars(select(StaffLink)).one()
        assert path.rsplit("/", 1)[1] not in link.token_hash and link.used_at is None
        assert link.expires_at == rt.clock.now() + timedelta(minutes=TTL_MINUTES)

    phone = _phone(client)
    before = _count(rt, StaffToken)
    opened = phone.get(path, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/staff/m?bound=1"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    lowered = cookie.lower()
    assert "httponly" in lowered and "samesite=lax" in lowered and "path=/staff/m" in lowered
    assert "max-age=" in lowered
    value = phone.cookies.get(COOKIE)
    assert value and _count(rt, StaffToken) == before + 1
    with rt.unit() as ctx:
        assert service.staff_by_token(ctx.session, value).id == staff_id  # stored hashed
        assert not ctx.session.scalars(
            select(StaffToken).where(StaffToken.token_hash == value)
        ).first()
    home = phone.get("/staff/m?bound=1")
    assert home.status_code == 200 and "本机已绑定，可以开始核销" in home.text
    assert 'name="viewport"' in home.text and "<script>" not in home.text

    # Single use: a second phone (or the same one again) gets a clear refusal.
    second = _phone(client).get(path, follow_redirects=False)
    assert second.status_code == 410 and 'data-code="staff_link_used"' in second.text
    assert "该链接已使用过" in second.text and COOKIE not in second.headers.get("set-cookie", "")
    assert _count(rt, StaffToken) == before + 1
    unknown = _phone(client).get("/staff/m/bind/sl_forged", follow_redirects=False)
    assert unknown.status_code == 410 and "链接无效" in unknown.text


def test_F4_link_dies_after_the_setting_controlled_ttl(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    w = World(rt, shop)
    staff_id = w.add_staff("dy_xiaowang")
    console_login(client, shop.username, shop.password)
    clock: Any = rt.clock
    start = clock.now()
    on_time = _issue_link(client, staff_id)
    late = _issue_link(client, staff_id)
    clock.set(start + timedelta(minutes=TTL_MINUTES))  # the last instant it works
    assert _phone(client).get(on_time, follow_redirects=False).status_code == 303
    clock.set(start + timedelta(minutes=TTL_MINUTES, seconds=1))
    expired = _phone(client).get(late, follow_redirects=False)
    assert expired.status_code == 410 and 'data-code="staff_link_expired"' in expired.text
    assert "链接已过期，请让商家在后台重新生成手机核销链接" in expired.text
    with rt.unit() as ctx:
        assert ctx.session.scalars(
            select(StaffLink).where(StaffLink.used_at.is_(None))
        ).all()  # the late link stays unused: nothing was bound


# ----- scoping -------------------------------------------------------------------------------


def test_F4_staff_cookie_reaches_neither_console_nor_another_shops_codes(
    rt: Runtime, client: TestClient, shop: ShopFixture, make_shop: Any
) -> None:
    w = World(rt, shop)
    staff_id = w.add_staff("dy_xiaowang")
    phone = _bind(client, shop, staff_id)
    token = phone.cookies.get(COOKIE)
    assert token

    # No console: the cookie is no console session (sent even explicitly).
    bare = TestClient(client.app, raise_server_exceptions=False)
    for path in ("/console/", "/console/coupons/verify", PAGE):
        answer = bare.get(path, headers={"cookie": f"{COOKIE}={token}"}, follow_redirects=False)
        assert answer.status_code == 303 and "/console/login" in answer.headers["location"]
    assert phone.get("/console/coupons/staff", follow_redirects=False).status_code == 303

    # Another shop's code is unknown here, as in the staff app API with the same token.
    other = make_shop("好物小店分店")
    code = World(rt, other, users=False).claim()
    refused = _prepare(phone, code=code)
    assert refused.status_code == 404 and 'data-code="unknown_code"' in refused.text
    assert "券码不存在，请核对后重新输入" in refused.text
    api = client.post(
        "/staff/v1/coupons/prepare",
        json={"code": code},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 404 and api.json()["code"] == "unknown_code"

    # Without the cookie, the page only says how to bind; a POST without the phone's CSRF
    # value (or with the console's) is refused and nothing is looked up.
    unbound = bare.get("/staff/m")
    assert unbound.status_code == 401 and 'data-code="staff_phone_unbound"' in unbound.text
    assert "本机尚未绑定核销人员" in unbound.text
    own = w.claim()
    console_csrf = page_token(client, "/console/coupons/verify")
    for fields in ({"code": own}, {"code": own, "csrf_token": console_csrf}):
        forged = phone.post("/staff/m/prepare", data=fields)
        assert forged.status_code == 403 and 'data-code="csrf_failed"' in forged.text
    assert bare.post("/staff/m/prepare", data={"code": own}).status_code == 401


# ----- the verification flow -----------------------------------------------------------------


def test_F4_typed_code_shows_the_coupon_then_verifies_on_confirm(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    w = World(rt, shop)
    staff_id = w.add_staff("dy_xiaowang", store_ids=[w.west])
    phone = _bind(client, shop, staff_id)
    code = w.claim()
    typed = " ".join(code[i : i + 4] for i in range(0, len(code), 4)).lower()
    shown = _prepare(phone, code=typed)
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert 'data-testid="coupon-title">进店全场95折<' in html
    assert "面值 300元" in html and "95折" in html
    with rt.unit() as ctx:
        claim = service.find_claim(ctx.session, shop.shop_id, code)
        tz = rt.settings.timezone
        validity = f"{local_time(claim.valid_from, tz)} 至 {local_time(claim.valid_until, tz)}"
    assert f'data-testid="validity">{validity}<' in html
    assert 'data-testid="store">西湖店<' in html and "滨江店" not in html
    assert ">确定<" in html
    assert w.claim_status(code) == ClaimStatus.UNUSED  # looking up verifies nothing

    done = _confirm(phone, html)
    assert done.status_code == 200, done.text
    assert "核销成功" in done.text and service.format_code(code) in done.text
    assert w.claim_status(code) == ClaimStatus.VERIFIED
    with rt.unit() as ctx:
        (v,) = ctx.session.scalars(select(Verification)).all()
        assert (v.staff_id, v.store_id, v.channel, v.actor) == (
            staff_id,
            w.west,
            "code",
            f"staff:{staff_id}",
        )

    again = _confirm(phone, html)  # the same 确定 twice: the second is refused, in Chinese
    assert again.status_code == 409 and 'data-code="already_verified"' in again.text
    assert "不能重复核销" in again.text
    assert _count(rt, Verification) == 1
    looked_up = _prepare(phone, code=code)
    assert looked_up.status_code == 409 and "不能重复核销" in looked_up.text
    assert 'data-testid="confirm"' not in looked_up.text


def test_F4_confirm_step_checks_token_and_store(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    w = World(rt, shop)
    staff_id = w.add_staff("dy_xiaowang", store_ids=[w.west])
    phone = _bind(client, shop, staff_id)
    code = w.claim()
    html = _prepare(phone, code=code).text
    forged = _confirm(phone, html, verify_token="v1.forged")
    assert forged.status_code == 401 and "核销凭证无效，请重新查询券码" in forged.text
    elsewhere = _confirm(phone, html, store_id=str(w.east))
    assert elsewhere.status_code == 409 and 'data-code="store_out_of_staff_scope"' in elsewhere.text
    assert "核销人员无权在门店「滨江店」核销" in elsewhere.text
    nonsense = _confirm(phone, html, store_id="abc")
    assert 400 <= nonsense.status_code < 500
    assert w.claim_status(code) == ClaimStatus.UNUSED
    empty = _prepare(phone, code="")
    assert 400 <= empty.status_code < 500 and 'data-testid="refusal"' in empty.text


def test_F4_photo_of_the_buyers_qr_is_decoded_on_the_server(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    w = World(rt, shop)
    staff_id = w.add_staff("dy_xiaowang")
    phone = _bind(client, shop, staff_id)
    code = w.claim()
    home = phone.get("/staff/m").text
    assert 'accept="image/*" capture="environment"' in home
    shown = _prepare(phone, files={"image": ("photo.jpg", _qr_photo(code), "image/jpeg")})
    assert shown.status_code == 200, shown.text
    assert f'data-code="{code}"' in shown.text and "扫描二维码" in shown.text
    assert '<select id="store_id" name="store_id"' in shown.text  # all stores: choose one
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', shown.text))
    fields["store_id"] = str(w.east)
    done = phone.post("/staff/m/verify", data=fields)
    assert done.status_code == 200 and "核销成功" in done.text
    with rt.unit() as ctx:
        (v,) = ctx.session.scalars(select(Verification)).all()
        assert (v.channel, v.store_id, v.staff_id) == ("scan", w.east, staff_id)

    no_qr = _prepare(phone, files={"image": ("p.png", png(120, 80), "image/png")})
    assert no_qr.status_code == 422 and "图片中未识别到券码二维码" in no_qr.text
    garbage = _prepare(phone, files={"image": ("p.jpg", b"not an image", "image/jpeg")})
    assert garbage.status_code == 422 and 'data-testid="refusal"' in garbage.text
    limit = rt.settings.coupons.scan_image_max_bytes
    too_big = _prepare(
        phone, files={"image": ("big.png", png(200, 200, pad_to=limit + 10), "image/png")}
    )
    assert too_big.status_code == 422 and 'data-testid="refusal"' in too_big.text


def test_F4_revoking_the_staff_member_ends_the_phone_session(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    w = World(rt, shop)
    staff_id = w.add_staff("dy_xiaowang", store_ids=[w.west])
    phone = _bind(client, shop, staff_id)
    code = w.claim()
    prepared = _prepare(phone, code=code).text
    spare = _issue_link(client, staff_id)

    revoke = client.post(
        f"{PAGE}/{staff_id}/revoke",
        data={"csrf_token": page_token(client, PAGE)},
        follow_redirects=False,
    )
    assert revoke.status_code == 303
    assert "其手机已无法核销" in client.get(PAGE).text

    home = phone.get("/staff/m")
    assert home.status_code == 403 and 'data-code="staff_revoked"' in home.text
    assert "核销人员 dy_xiaowang 的核销权限已被取消" in home.text
    late = _confirm(phone, prepared)  # the 确定 of a page prepared before: refused
    assert late.status_code == 403 and w.claim_status(code) == ClaimStatus.UNUSED
    # A link issued before revoking binds nothing; a new one is not issued.
    assert _phone(client).get(spare, follow_redirects=False).status_code == 403
    refused = client.post(f"{PAGE}/{staff_id}/link", data={"csrf_token": page_token(client, PAGE)})
    assert refused.status_code == 403 and "核销权限已被取消" in refused.text


def test_F4_unbinding_on_the_phone_drops_only_its_own_session(
    rt: Runtime, client: TestClient, shop: ShopFixture
) -> None:
    w = World(rt, shop)
    staff_id = w.add_staff("dy_xiaowang", store_ids=[w.west])
    phone = _bind(client, shop, staff_id)
    other_phone = _phone(client)
    assert other_phone.get(_issue_link(client, staff_id), follow_redirects=False).is_redirect
    old_token = phone.cookies.get(COOKIE)
    assert old_token
    home = phone.get("/staff/m").text
    assert 'data-confirm="解除绑定后本机将不能核销，确定解除？"' in home
    assert phone.post("/staff/m/unbind", data={}).status_code == 403  # CSRF
    done = phone.post("/staff/m/unbind", data={"csrf_token": csrf_from(home)})
    assert done.status_code == 200 and "已解除绑定" in done.text
    assert f'{COOKIE}=""' in done.headers["set-cookie"] or "max-age=0" in (
        done.headers["set-cookie"].lower()
    )
    # Even sent again by hand, the old token is no longer known.
    gone = TestClient(client.app, raise_server_exceptions=False)
    answer = gone.get("/staff/m", headers={"cookie": f"{COOKIE}={old_token}"})
    assert answer.status_code == 401 and 'data-code="bad_staff_token"' in answer.text
    assert phone.get("/staff/m").status_code == 401
    assert other_phone.get("/staff/m").status_code == 200  # the other phone keeps its own
