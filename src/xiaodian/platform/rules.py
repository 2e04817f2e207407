"""Pure decisions of the platform's side (issue 17, F1): no database, no clock.

* which O8 decision puts which sanction on a shop (停业整改 → ``suspended``, 清退 → ``closed``);
* whether a sanction may be lifted (停业整改 yes, 清退 never);
* what a sanctioned shop may still do (a suspended or closed shop takes no new orders; its
  listings are hidden and its campaigns paused);
* the operator console's CSRF value, derived from the session token (the token is the secret;
  a page of another origin can read neither).
"""

from __future__ import annotations

import hashlib
from typing import Any

from xiaodian.errors import Conflict, field_error

# O8 decisions on a review flag, as the operator console words them.
SHOP_DECISIONS: dict[str, str] = {"no_action": "不处理", "suspend": "停业整改", "clear_out": "清退"}
SANCTION_FOR: dict[str, str | None] = {
    "no_action": None,
    "suspend": "suspended",
    "clear_out": "closed",
}
SANCTION_LABELS: dict[str, str] = {"suspended": "停业整改中", "closed": "已清退"}
# 平台介入 in an after-sale the merchant rejected.
INTERVENTIONS: dict[str, str] = {"overturn": "支持买家（退款）", "uphold": "维持商家拒绝"}
REASON_MAX = 300


def sanction_for(decision: str) -> str | None:
    """The sanction an O8 decision puts in force (None: the shop trades as before)."""
    return SANCTION_FOR[decision]


def takes_orders(state: str | None) -> bool:
    """O8: a shop under 停业整改 or 清退 takes no new orders."""
    return state is None


def lift_refusal(state: str | None) -> Conflict | None:
    """Why a sanction cannot be lifted (None: it can). Only 停业整改 is lifted; 清退 is final."""
    if state == "suspended":
        return None
    if state == "closed":
        return Conflict(
            "sanction_final",
            "店铺已清退，清退不能解除",
            "The shop was cleared out; that cannot be lifted",
            rule="O8",
        )
    return Conflict(
        "not_suspended",
        "店铺未处于停业整改，无需解除",
        "The shop is not suspended",
        rule="O8",
    )


def reason_problems(reason: str, *, required: bool) -> list[dict[str, Any]]:
    """Why an operator's reason is not acceptable (empty: it is)."""
    text = (reason or "").strip()
    if required and not text:
        return [field_error("reason", "请填写处理原因", "A reason is required")]
    if len(text) > REASON_MAX:
        return [
            field_error("reason", f"原因最多{REASON_MAX}字", f"Reason: at most {REASON_MAX} chars")
        ]
    return []


def csrf_for(token: str) -> str:
    """The hidden form value of an operator session (sent back with every POST)."""
    return hashlib.sha256(b"xiaodian-operator-csrf:" + token.encode()).hexdigest()


def login_csrf_for(nonce: str) -> str:
    """The operator login form's hidden value, derived from the browser's pre-login cookie
    (F1: the login form carries a CSRF token like the shop console's)."""
    return hashlib.sha256(b"xiaodian-operator-login-csrf:" + nonce.encode()).hexdigest()
