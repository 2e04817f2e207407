"""U5 No raw internals (issue 13): every code the console shows has a Chinese label; rule ids
are badges whose tooltips name the rule and resolve on 规则说明 (/console/rules); the demo
shop's console pages, walked over real HTTP, never show an internal code."""

from __future__ import annotations

import itertools
import re
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.orders.conftest import Shopper
from tests.web.conftest import console_login
from tests.web.internal_codes import internal_codes, visible_text
from xiaodian.accounts.models import Shop
from xiaodian.aftersales.models import RequestHistory
from xiaodian.demo import DEMO_PASSWORD, DEMO_USER, ensure_demo
from xiaodian.ledger.models import LedgerTxn
from xiaodian.notify.models import Event, Notice
from xiaodian.orders import service as orders
from xiaodian.orders.models import Order, OrderStatusChange
from xiaodian.redpackets.models import RedPacketLog
from xiaodian.runtime import Runtime
from xiaodian.web import labels
from xiaodian.web.rules_doc import parse, parse_both, with_chinese
from xiaodian.web.rules_text import RULES

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "xiaodian"
RULES_MD = ROOT / "docs" / "rules.md"
_CJK = re.compile(r"[\u3400-\u9fff]")
# A label may equal its code only where the code is the brand itself.
SAME_AS_CODE = {("carrier", "EMS")}


def test_U5_every_enum_value_of_every_context_has_a_chinese_label() -> None:
    missing = []
    for group, values in labels.ENUM_VALUES.items():
        table = labels.GROUPS[group]
        for value in sorted(values):
            text = table.get(value)
            if (group, value) in SAME_AS_CODE:
                continue
            if not text or not _CJK.search(text):
                missing.append(f"{group}:{value}")
    assert not missing, f"values without a Chinese label: {missing}"
    # The walk covers the enums the issue names.
    for group in ("payment_route", "carrier", "after_sale", "export_status", "coupon_status"):
        assert labels.ENUM_VALUES[group]
    assert labels.label("prize", "payment_route") == "福袋奖品"
    assert labels.label("alipay", "payment_route") == "支付宝"
    assert labels.label("SF", "carrier") == "顺丰速运"


def _emitted_event_types() -> set[str]:
    """Event types the code emits: literal ``"x.y"`` arguments of notify.emit / NewEvent, and
    the f-string families expanded from the values their placeholders take."""
    types: set[str] = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in re.finditer(r"(?:emit|NewEvent)\(([^()]*(?:\([^()]*\)[^()]*)*)\)", text):
            types |= set(re.findall(r'(?<!f)"([a-z_]+(?:\.[a-z_]+)+)"', call.group(1)))
    # aftersale.<action>: the action is the first string argument of the history writers.
    actions: list[str] = []
    for path in (SRC / "aftersales").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in re.finditer(
            r"\b(?:record|_transition|_close_without_refund|note_only)\(", text
        ):
            # Positional arguments only (not the values=/note= keywords that follow).
            args = re.split(r"\b\w+=", text[call.end() : call.end() + 300])[0]
            literal = re.search(r'"([a-z_]+)"', args)
            if literal:
                actions.append(literal.group(1))
    assert {"created", "withdrawn", "refund_failed"} <= set(actions)
    types |= {f"aftersale.{a}" for a in actions}
    types |= {f"package.{e}" for e in labels.CARRIER_EVENT_LABELS}
    types |= {f"service.{k}_sent" for k in ("live_link", "live_preview")}
    return types


def test_U5_every_event_type_the_code_emits_has_a_label() -> None:
    types = _emitted_event_types()
    assert {"order.paid", "aftersale.created", "redpacket.issued", "coupon.verified"} <= types
    missing = sorted(t for t in types if t not in labels.EVENT_TYPE_LABELS)
    assert not missing, f"event types without a label: {missing}"


def test_U5_actors_and_transitions_read_as_names() -> None:
    names = {"user:1": "店主", "buyer:16": "买家 小明"}
    assert labels.actor_label("user:1", names) == "店主"
    assert labels.actor_label("buyer:16", names) == "买家 小明"
    assert labels.actor_label("buyer:99") == "买家"
    for sweep in ("system", "seed", "cli", "demo", None):
        assert labels.actor_label(sweep) == "系统"
    assert labels.actor_label("operator") == labels.actor_label("operator:ops") == "平台"
    assert labels.transition("售后状态：none → in_progress") == "售后状态：无 → 售后中"
    assert labels.transition("售后状态：in_progress → refunded") == "售后状态：售后中 → 已退款"
    assert labels.transition("全额退款后关闭（alipay）") == "全额退款后关闭（支付宝）"
    assert labels.actor_label("carrier") == "快递公司"


def test_U5_rules_module_agrees_with_docs_rules_md() -> None:
    """One source: the generated module is docs/rules.md, rule for rule."""
    from_doc = parse_both(RULES_MD)
    assert from_doc == RULES, (
        "src/xiaodian/web/rules_text.py is stale: python -m xiaodian.web.rules_doc "
        "docs/rules.md > src/xiaodian/web/rules_text.py && ruff format"
    )
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', RULES_MD.read_text(encoding="utf-8")))
    assert anchors == {r.anchor for r in RULES.values()}
    for rule in RULES.values():
        assert rule.name_zh and _CJK.search(rule.name_zh), rule.id
        assert rule.paragraphs and all(rule.paragraphs), rule.id


def test_U5_every_rule_has_its_chinese_text_in_docs_rules_zh_cn_md() -> None:
    """规则说明 is in Chinese: every id of docs/rules.md has a Chinese section name and text in
    docs/rules.zh-CN.md (same anchors), mostly Chinese characters, not the English copied."""
    zh_md = RULES_MD.with_name("rules.zh-CN.md").read_text(encoding="utf-8")
    zh_anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', zh_md))
    assert zh_anchors == {r.anchor for r in RULES.values()}
    for rule in RULES.values():
        assert rule.section_zh and _CJK.search(rule.section_zh), rule.id
        assert rule.paragraphs_zh, rule.id
        text = re.sub(r"`[^`]*`", "", " ".join(rule.paragraphs_zh))
        latin = len(re.findall(r"[A-Za-z]", text))
        cjk = len(_CJK.findall(text))
        assert cjk > latin, (rule.id, text[:80])
        assert rule.paragraphs_zh != rule.paragraphs, rule.id
    english = parse(RULES_MD.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="rule ids"):
        with_chinese(english, {k: v for k, v in english.items() if k != "O8"})


def test_U5_rule_badge_names_the_rule_in_chinese_and_links_to_the_legend() -> None:
    badge = str(labels.rule_badge("A2.3"))
    assert 'href="/console/rules#a2-3"' in badge
    assert 'title="规则 A2.3：快递拦截自动退"' in badge
    assert 'aria-label="规则 A2.3：快递拦截自动退"' in badge
    assert ">A2.3</a>" in badge
    assert str(labels.rule_badge(None)) == ""


def test_U5_legend_page_lists_every_rule_with_its_text(client: TestClient, shop: Any) -> None:
    assert client.get("/console/rules", follow_redirects=False).status_code in (302, 303, 401)
    console_login(client, shop.username, shop.password)
    page = client.get("/console/rules")
    assert page.status_code == 200
    html = page.text
    assert "<title>规则说明" in html
    for rule in RULES.values():
        assert f'id="{rule.anchor}" data-rule="{rule.id}"' in html, rule.id
        assert rule.name_zh in html
    # Texts come from the Chinese document: a phrase of O5 and of A2.2, not the English.
    assert "自下单起 150 天仍未发货也未退款的订单自动关闭" in html
    assert "退款金额不超过商家设置的门槛时自动同意" in html
    assert "150 days" not in html and "threshold" not in html
    assert "<h2>订单</h2>" in html and "<h2>售后</h2>" in html


def _crawl(client: TestClient, start: list[str], limit: int = 120) -> dict[str, str]:
    """GET every console page reachable from ``start`` by links (no forms, no downloads)."""
    seen: dict[str, str] = {}
    queue = deque(start)
    while queue and len(seen) < limit:
        path = queue.popleft()
        if path in seen:
            continue
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        seen[path] = response.text
        for href in re.findall(r'href="([^"#]+)', response.text):
            target = urlsplit(urljoin(path, href.replace("&amp;", "&")))
            link = target.path + (f"?{target.query}" if target.query else "")
            if (
                target.path.startswith("/console")
                and not target.path.startswith(("/console/static", "/console/aftersales/evidence"))
                and "before_id" not in target.query
                and link not in seen
            ):
                queue.append(link)
    return seen


def test_U5_demo_console_pages_show_no_internal_code(rt: Runtime, client: TestClient) -> None:
    ensure_demo(rt)
    with rt.unit() as ctx:
        shop_id = ctx.session.scalars(select(Shop.id)).one()
        order = ctx.session.scalars(
            select(Order).where(Order.shop_id == shop_id, Order.after_sale != "none")
        ).first()
        assert order is not None
        prize = ctx.session.scalars(
            select(Order).where(Order.shop_id == shop_id, Order.payment_route == "prize")
        ).first()
        shipped = ctx.session.scalars(
            select(Order).where(Order.shop_id == shop_id, Order.carrier.is_not(None))
        ).first()
    console_login(client, DEMO_USER, DEMO_PASSWORD)
    start = ["/console/", f"/console/orders/{order.id}"]
    start += [f"/console/orders/{o.id}" for o in (prize, shipped) if o is not None]
    pages = _crawl(client, start)
    assert len(pages) >= 25, sorted(pages)
    problems: dict[str, list[str]] = {}
    cited: set[str] = set()
    for path, html in pages.items():
        cited |= set(
            re.findall(
                r'class="tag rule-badge" href="/console/rules#[^"]+"[^>]*'
                r'data-rule="([^"]+)"',
                html,
            )
        )
        if path.startswith("/console/rules"):
            continue  # the legend quotes docs/rules.md (settings names, English text)
        found = internal_codes(visible_text(html))
        if found:
            problems[path] = sorted(set(found))
    assert not problems, problems
    # The pages cite rules as badges, and every cited rule resolves on the legend page.
    assert {"A1", "O3", "X3"} <= cited or len(cited) >= 5, cited
    legend = client.get("/console/rules").text
    unresolved = [r for r in cited if f'id="{labels.rule_anchor(r)}"' not in legend]
    assert not unresolved, unresolved
    # The order detail names the actor and the payment method.
    detail = visible_text(pages[f"/console/orders/{order.id}"])
    assert "系统" in detail or "买家" in detail
    if prize is not None:
        assert "福袋奖品" in visible_text(pages[f"/console/orders/{prize.id}"])


def test_U5_demo_data_codes_all_have_labels(rt: Runtime) -> None:
    """Walk the codes the demo actually stored (events, ledger, notices, red packet logs,
    payment routes, carriers, after-sale history): each has its label."""
    ensure_demo(rt)
    with rt.unit() as ctx:
        s = ctx.session
        checks = {
            "event_type": set(s.scalars(select(Event.type).distinct())),
            "ledger_kind": set(s.scalars(select(LedgerTxn.kind).distinct())),
            "notice_category": set(s.scalars(select(Notice.category).distinct())),
            "redpacket_log": set(s.scalars(select(RedPacketLog.kind).distinct())),
            "payment_route": set(s.scalars(select(Order.payment_route).distinct())),
            "carrier": {c for c in s.scalars(select(Order.carrier).distinct()) if c},
            "aftersale_status": {
                c for c in s.scalars(select(RequestHistory.to_status).distinct()) if c
            },
            "order_status": set(s.scalars(select(OrderStatusChange.to_status).distinct())),
        }
        rules = set(s.scalars(select(Event.rule).distinct())) | set(
            s.scalars(select(LedgerTxn.rule).distinct())
        )
    assert checks["event_type"] and checks["ledger_kind"] and checks["carrier"]
    missing = {g: sorted(v - set(labels.GROUPS[g])) for g, v in checks.items()}
    assert not any(missing.values()), missing
    unknown = sorted(r for r in rules if r and r not in RULES)
    assert not unknown, f"rule ids the demo cites that 规则说明 does not list: {unknown}"


def test_U5_order_history_note_names_after_sale_states(
    rt: Runtime, client: TestClient, shop: Any
) -> None:
    """The note of an after-sale change is written with labels (无售后 → 售后中), the buyer
    who placed the order is named by nickname and the payment method is 支付宝."""
    shopper = Shopper(rt, itertools.count(1))
    product_id = shopper.product(shop.shop_id)
    order_id = shopper.order(shop.shop_id, product_id, route="alipay", name="小明")
    with rt.unit(f"user:{shop.user_id}") as ctx:
        orders.set_after_sale(ctx, shop.shop_id, order_id, "in_progress", "A1")
    console_login(client, shop.username, shop.password)
    text = visible_text(client.get(f"/console/orders/{order_id}").text)
    assert re.search("售后状态[：：]无售后 → 售后中", text), text
    assert "支付宝" in text
    assert "买家 张三" in text or "买家 小明" in text
    assert not internal_codes(text), internal_codes(text)
