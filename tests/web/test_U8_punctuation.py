"""U8 (issue 13): Chinese UI copy uses full-width punctuation ，：；！？（）.

``tools/cn_punctuation.py`` checks and fixes templates and the Chinese strings of ``src/``;
these tests keep the tree clean and pin what the fixer must never touch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from xiaodian.web.cn_punctuation import check, fix_python, fix_template

ROOT = Path(__file__).resolve().parents[2]


def test_U8_chinese_punctuation() -> None:
    findings = check([ROOT / "src"])
    listing = "\n".join(f"{f.path.relative_to(ROOT)}:{f.line}: {f.before}" for f in findings)
    assert not findings, (
        "half-width punctuation next to Chinese (run python tools/cn_punctuation.py --fix):\n"
        + listing
    )


def test_U8_fixer_converts_copy_and_drops_the_spaces_around_it() -> None:
    source = 'flash(request, f"已回收: {yuan_label(fen)}, 已退回余额(商家账户)!")\n'
    assert fix_python(source) == (
        'flash(request, f"已回收：{yuan_label(fen)}，已退回余额（商家账户）！")\n'
    )
    html = (
        '<label title="金额(元)">每个红包金额 (元)<input name="amount"></label>\n'
        "<p>状态: {{ s }}</p>"
    )
    assert fix_template(html) == (
        '<label title="金额（元）">每个红包金额（元）<input name="amount"></label>\n'
        "<p>状态：{{ s }}</p>"
    )


def test_U8_fixer_leaves_code_urls_formats_data_and_english_alone() -> None:
    untouched = [
        'x = f"{a!r:>10}"\n',
        'URL = "/api/v1/订单?a=1"\n',
        'T = "总计%(金额)s元"\n',
        'RX = r"(元|分):"\n',
        'ROW = "订单号,快递公司,快递单号\\n"\n',
        'B = "订单号,下单时间".encode()\n',
        'MSG = "Invalid amount (金额), at most two decimals"\n',
        'def f():\n    """Docstring: 发放 (R1), English."""\n',
        'F = Field(description="卡券标题, ≤ 15 characters")\n',
        'KEEP = "龙井, 特级"  # cn-punct: keep\n',
        'S = "  什么时候发货?  "\n'.replace("?", "？"),
        'T = "举证链接须为 http(s) 地址"\n',
    ]
    for source in untouched:
        assert fix_python(source) == source, source
    template = (
        '{% set role = "主账号(main)" if x %}<a href="/console/a?b=1(元)">x</a>'
        "<code>金额(元)</code>{{ '%d.%02d' % (t // 100, t % 100) }}"
    )
    assert fix_template(template) == template


def test_U8_fixer_is_idempotent_and_keeps_parentheses_paired() -> None:
    source = 'M = "剩余金额 ¥9.99 低于原金额的 10%(¥10.00),不能延长"\n'
    once = fix_python(source)
    assert once == 'M = "剩余金额 ¥9.99 低于原金额的 10%（¥10.00），不能延长"\n'
    assert fix_python(once) == once
    assert fix_python('S = "什么时候发货?  "\n') == 'S = "什么时候发货？  "\n'  # data kept


def test_U8_tool_runs_from_the_repository_root(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<p>订单已发货,请注意查收!</p>\n", encoding="utf-8")
    tool = [sys.executable, str(ROOT / "tools" / "cn_punctuation.py")]
    listed = subprocess.run([*tool, str(page)], capture_output=True, text=True, check=False)
    assert listed.returncode == 1 and "订单已发货，请注意查收！" in listed.stdout
    subprocess.run([*tool, "--fix", str(page)], check=True, capture_output=True)
    assert page.read_text(encoding="utf-8") == "<p>订单已发货，请注意查收！</p>\n"
    again = subprocess.run([*tool, str(page)], capture_output=True, text=True, check=False)
    assert again.returncode == 0
