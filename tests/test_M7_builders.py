"""Issue 15 M7: one set of shared builders; the context helpers are layers over it; the
benchmarks import nothing from ``tests/``."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from xiaodian.builders import Builders, coupon_draft
from xiaodian.ledger.models import Account
from xiaodian.orders.models import Order
from xiaodian.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
HELPERS = {
    "tests/orders/conftest.py": "Shopper",
    "tests/aftersales/conftest.py": "World",
    "tests/redpackets/conftest.py": "World",
}
# What the shared builders make: a helper class that calls these itself re-implements them.
BUILT_HERE = {"create_buyer", "create_product", "place_order", "topup"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_M7_benchmarks_do_not_import_from_tests() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in _imports(path) if n.split(".")[0] == "tests")
        for path in (ROOT / "bench").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_M7_context_helpers_build_through_the_shared_builders() -> None:
    for relative, class_name in HELPERS.items():
        tree = ast.parse((ROOT / relative).read_text(encoding="utf-8"))
        cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
        source = ast.unparse(cls)
        assert "Builders" in source, f"{relative}: {class_name} does not use Builders"
        called = {
            getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            for node in ast.walk(cls)
            if isinstance(node, ast.Call)
        }
        # ``super().topup`` / ``self.make.topup`` go through the builders; a bare service call
        # of the same name would not.
        direct = {
            name
            for node in ast.walk(cls)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in {"accounts", "orders", "service", "ledger"}
            and (name := node.func.attr) in BUILT_HERE
        }
        assert direct == set(), f"{relative}: {class_name} re-implements {sorted(direct)}"
        assert called, relative


def test_M7_builders_make_a_paid_shipped_order_and_money_through_the_services(
    rt: Runtime, shop: Any
) -> None:
    make = Builders(rt, prefix="m7")
    product = make.product(shop.shop_id, title="M7 商品", price_fen=1_234)
    order_id = make.order(shop.shop_id, [(product, 2)], ship=True, name="李雷")
    with rt.unit() as ctx:
        order = ctx.session.get(Order, order_id)
        assert order is not None
        assert order.status == "shipped" and order.carrier == "SF"
        assert order.paid_fen == 2_468
    make.topup(shop.shop_id, Account.DEPOSIT, 5_000, key="m7-dep")
    make.topup(shop.shop_id, Account.DEPOSIT, 5_000, key="m7-dep")  # idempotent on the key
    assert make.balance(shop.shop_id, Account.DEPOSIT) == 5_000
    buyer_id, token = make.buyer("韩梅梅")
    assert buyer_id > 0 and token.startswith("bt_")
    draft = coupon_draft(title="M7 券")
    assert draft.title == "M7 券" and draft.product_image[:8] == b"\x89PNG\r\n\x1a\n"


def test_M7_test_folders_mirror_the_source_packages() -> None:
    """Every test folder is named after what it tests: ``tests/orders/export`` ↔
    ``src/xiaodian/orders/export/``, ``tests/scheduler`` ↔ ``src/xiaodian/scheduler.py``.
    Browser tests sit with their context (``*_browser.py``), not in a folder of their own."""
    source = ROOT / "src" / "xiaodian"
    folders = sorted(
        p.parent.relative_to(ROOT / "tests")
        for p in (ROOT / "tests").rglob("__init__.py")
        if p.parent != ROOT / "tests"
    )
    assert len(folders) >= 15
    strays = [
        str(folder)
        for folder in folders
        if not (source / folder).is_dir() and not (source / folder).with_suffix(".py").is_file()
    ]
    assert strays == []
