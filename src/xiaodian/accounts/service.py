"""Accounts and permissions (X2). One shop never sees another shop's data: every lookup here
takes the caller's ``shop_id`` and answers "not found" for another shop's object."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, delete, select
from sqlalchemy.orm import Session

from xiaodian.accounts import passwords, rules
from xiaodian.accounts.models import (
    PERMISSIONS,
    ApiApp,
    ApiNonce,
    Buyer,
    Grant,
    Shop,
    Staff,
    StaffStore,
    Store,
    SystemState,
    User,
)
from xiaodian.accounts.scopes import (
    ScopeMissing,
    choose_scopes,
    format_scopes,
    parse_scopes,
    scope_for,
)
from xiaodian.accounts.sessions import bad_credentials, revoke_sessions
from xiaodian.config import ConsoleRules
from xiaodian.context import Ctx
from xiaodian.db import (
    UTCDateTime,
    get_owned,
    insert_ignore,
    insert_select_if_absent_statement,
    rowcount,
)
from xiaodian.errors import AuthFailed, Conflict, NotFound, PermissionDenied, ValidationFailed
from xiaodian.errors import field_error as _field

_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
_PHONE = re.compile(r"^1\d{10}$")


@dataclass(frozen=True)
class Principal:
    """Who is acting: a merchant user (main or sub) or an API app, always inside one shop."""

    shop_id: int
    user_id: int | None = None
    app_id: int | None = None
    is_main: bool = False
    permissions: frozenset[str] = frozenset()
    # S2: an app's scopes (chosen at creation); unused for merchant users.
    scopes: frozenset[str] = frozenset()

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}" if self.user_id else f"app:{self.app_id}"

    def can(self, permission: str) -> bool:
        """The main account holds every permission; a sub-account its grants; an app the
        permissions its scopes cover (S2)."""
        if self.is_main:
            return True
        if self.app_id is not None:
            return scope_for(permission) in self.scopes
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if self.app_id is not None and not self.is_main:
            scope = scope_for(permission)
            if scope not in self.scopes:
                raise ScopeMissing(scope)
            return
        if not self.can(permission):
            label = PERMISSIONS.get(permission, permission)
            raise PermissionDenied(
                "permission_denied",
                f"没有权限：{label}。请联系主账号授权。",
                f"Permission '{permission}' is required; ask the main account to grant it.",
            )


# ----- shops and users ---------------------------------------------------------------------


def create_shop(
    ctx: Ctx,
    *,
    name: str,
    username: str,
    password: str,
    registered_name: str = "",
    phone: str = "",
    douyin_account: str | None = None,
) -> tuple[Shop, User]:
    """A shop and its main account (主账号)."""
    errors = _user_errors(ctx, username, password, phone)
    if not name.strip() or len(name) > 60:
        errors.append(_field("name", "店铺名称必填，最多60字", "Shop name is required, ≤ 60 chars"))
    if errors:
        raise ValidationFailed("invalid_shop", "店铺信息有误", "Invalid shop", errors=errors)
    _require_free_username(ctx.session, username)
    shop = Shop(
        name=name.strip(),
        registered_name=registered_name or name.strip(),
        phone=phone,
        douyin_account=douyin_account,
        created_at=ctx.now,
    )
    ctx.session.add(shop)
    ctx.session.flush()
    user = User(
        shop_id=shop.id,
        username=username,
        password_hash=passwords.hash_password(password, ctx.settings.console),
        is_main=True,
        display_name="主账号",
        phone=phone,
        created_at=ctx.now,
    )
    ctx.session.add(user)
    ctx.session.flush()
    return shop, user


def get_shop(session: Session, shop_id: int) -> Shop:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise NotFound("店铺", "Shop", shop_id)
    return shop


def create_sub_account(
    ctx: Ctx,
    principal: Principal,
    *,
    username: str,
    password: str,
    display_name: str,
    phone: str = "",
    permissions: list[str] | None = None,
) -> User:
    _require_main(principal)
    errors = _user_errors(ctx, username, password, phone)
    if errors:
        raise ValidationFailed(
            "invalid_user", "子账号信息有误", "Invalid sub-account", errors=errors
        )
    _require_free_username(ctx.session, username)
    user = User(
        shop_id=principal.shop_id,
        username=username,
        password_hash=passwords.hash_password(password, ctx.settings.console),
        is_main=False,
        display_name=display_name.strip()[:60] or username,
        phone=phone,
        created_at=ctx.now,
    )
    ctx.session.add(user)
    ctx.session.flush()
    for permission in permissions or []:
        grant(ctx, principal, user.id, permission)
    return user


def list_users(session: Session, shop_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.shop_id == shop_id).order_by(User.id)))


def get_user(session: Session, shop_id: int, user_id: int) -> User:
    user: User = get_owned(session, User, shop_id, user_id, ("账号", "Account"))
    return user


def grant(ctx: Ctx, principal: Principal, user_id: int, permission: str) -> None:
    """Only the main account grants; granting twice is harmless."""
    _require_main(principal)
    if permission not in PERMISSIONS:
        raise ValidationFailed(
            "unknown_permission",
            f"未知权限 {permission}",
            f"Unknown permission {permission}",
            field="permission",
        )
    user = get_user(ctx.session, principal.shop_id, user_id)
    if user.is_main:
        return
    exists = ctx.session.scalars(
        select(Grant).where(Grant.user_id == user.id, Grant.permission == permission)
    ).first()
    if exists is None:
        ctx.session.add(
            Grant(
                shop_id=principal.shop_id,
                user_id=user.id,
                permission=permission,
                granted_by=principal.user_id or 0,
                created_at=ctx.now,
            )
        )
        ctx.session.flush()


def revoke_grant(ctx: Ctx, principal: Principal, user_id: int, permission: str) -> None:
    """S5: taking a permission away also ends the account's sessions (granting does not)."""
    _require_main(principal)
    user = get_user(ctx.session, principal.shop_id, user_id)
    result = ctx.session.execute(
        delete(Grant).where(Grant.user_id == user.id, Grant.permission == permission)
    )
    if rowcount(result):
        revoke_sessions(ctx.session, user.id)


# ----- S5 passwords and account status -------------------------------------------------------


def check_password_rule(ctx: Ctx, password: str) -> None:
    """S4: refuse a password that breaks the minimum rule (422 with the field's reason)."""
    problems = rules.password_problems(password, ctx.settings.console.password_min_length)
    if problems:
        raise ValidationFailed(
            "weak_password", problems[0]["message_zh"], problems[0]["message_en"], errors=problems
        )


def change_own_password(
    ctx: Ctx, principal: Principal, *, current_password: str, new_password: str
) -> User:
    """S5: any account changes its own password after proving the current one; every session
    of the account ends (the caller logs the current browser in again)."""
    if principal.user_id is None:
        raise PermissionDenied("user_only", "仅商家账号可以修改密码", "Only a merchant account")
    user = get_user(ctx.session, principal.shop_id, principal.user_id)
    right = len(current_password) <= rules.PASSWORD_MAX_LENGTH and passwords.verify_password(
        user.password_hash, current_password, ctx.settings.console
    )
    if not right:
        raise ValidationFailed(
            "wrong_current_password",
            "当前密码不正确",
            "The current password is wrong",
            field="current_password",
        )
    _set_password(ctx, user, new_password)
    return user


def reset_password(ctx: Ctx, principal: Principal, user_id: int, new_password: str) -> User:
    """S5: the main account sets a sub-account's password; its sessions end."""
    user = _sub_account(ctx, principal, user_id)
    _set_password(ctx, user, new_password)
    return user


def set_active(ctx: Ctx, principal: Principal, user_id: int, active: bool) -> User:
    """S5: the main account disables (sessions end at once) or re-enables a sub-account."""
    user = _sub_account(ctx, principal, user_id)
    user.active = active
    if not active:
        revoke_sessions(ctx.session, user.id)
    ctx.session.flush()
    return user


def _sub_account(ctx: Ctx, principal: Principal, user_id: int) -> User:
    _require_main(principal)
    user = get_user(ctx.session, principal.shop_id, user_id)
    if user.is_main:
        raise PermissionDenied(
            "main_account_protected",
            "主账号不能被停用或重置，请在“修改密码”中修改主账号密码",
            "The main account cannot be disabled or reset; change its password instead",
        )
    return user


def _set_password(ctx: Ctx, user: User, new_password: str) -> None:
    check_password_rule(ctx, new_password)
    user.password_hash = passwords.hash_password(new_password, ctx.settings.console)
    revoke_sessions(ctx.session, user.id)
    ctx.session.flush()


def permissions_of(session: Session, user: User) -> frozenset[str]:
    if user.is_main:
        return frozenset(PERMISSIONS)
    rows = session.scalars(select(Grant.permission).where(Grant.user_id == user.id))
    return frozenset(rows)


def principal_for_user(session: Session, user: User) -> Principal:
    return Principal(
        shop_id=user.shop_id,
        user_id=user.id,
        is_main=user.is_main,
        permissions=permissions_of(session, user),
    )


def authenticate(
    session: Session, username: str, password: str, console: ConsoleRules | None = None
) -> User:
    """Check a username and password (no throttling: the console's login goes through
    ``sessions.log_in``, which adds the S4 lockout around this same check)."""
    user = session.scalars(select(User).where(User.username == username)).first()
    # Hash anyway when the user is unknown, so timing does not reveal which names exist.
    candidate = user.password_hash if user else passwords.dummy_hash()
    if not passwords.verify_password(candidate, password, console):
        user = None
    if user is None or not user.active:
        raise bad_credentials()
    return user


# ----- stores and verifier staff -----------------------------------------------------------


def create_store(ctx: Ctx, shop_id: int, *, name: str, address: str = "") -> Store:
    if not name.strip() or len(name) > 60:
        raise ValidationFailed(
            "invalid_store",
            "门店名称必填，最多60字",
            "Store name is required, ≤ 60 chars",
            field="name",
        )
    store = Store(
        shop_id=shop_id, name=name.strip(), address=address.strip()[:200], created_at=ctx.now
    )
    ctx.session.add(store)
    ctx.session.flush()
    return store


def list_stores(session: Session, shop_id: int) -> list[Store]:
    return list(session.scalars(select(Store).where(Store.shop_id == shop_id).order_by(Store.id)))


def store_names(session: Session, shop_id: int) -> dict[int, str]:
    """The shop's stores, id → name, in id order."""
    rows = session.execute(_store_names_query(), {"shop_id": shop_id})
    return {row.id: row.name for row in rows}


@functools.cache
def _store_names_query() -> Any:
    """Built once: run on every C7 prepare."""
    return (
        select(Store.id, Store.name).where(Store.shop_id == bindparam("shop_id")).order_by(Store.id)
    )


def store_name(session: Session, shop_id: int, store_id: int) -> str:
    """The name of one of the shop's stores (NotFound for another shop's, X2)."""
    params = {"shop_id": shop_id, "store_id": store_id}
    name: str | None = session.scalars(_store_name_query(), params).first()
    if name is None:
        raise NotFound("门店", "Store", store_id)
    return name


@functools.cache
def _store_name_query() -> Any:
    """Built once: run on every verification (C6)."""
    return select(Store.name).where(
        Store.id == bindparam("store_id"), Store.shop_id == bindparam("shop_id")
    )


def get_store(session: Session, shop_id: int, store_id: int) -> Store:
    store: Store = get_owned(session, Store, shop_id, store_id, ("门店", "Store"))
    return store


def add_staff(
    ctx: Ctx,
    shop_id: int,
    *,
    douyin_id: str,
    name: str = "",
    store_ids: list[int] | None,
) -> Staff:
    """C5: add a verifier by Douyin ID; ``store_ids=None`` means all stores."""
    douyin_id = douyin_id.strip()
    if not douyin_id or len(douyin_id) > 64:
        raise ValidationFailed(
            "invalid_douyin_id", "请填写抖音号", "A Douyin ID is required", field="douyin_id"
        )
    active = ctx.session.scalars(
        select(Staff).where(
            Staff.shop_id == shop_id, Staff.douyin_id == douyin_id, Staff.revoked_at.is_(None)
        )
    ).first()
    if active is not None:
        raise Conflict(
            "staff_exists", f"抖音号 {douyin_id} 已是核销人员", f"{douyin_id} is already staff"
        )
    if store_ids is not None and not store_ids:
        raise ValidationFailed(
            "invalid_scope",
            "请至少选择一个门店，或选择全部门店",
            "Choose at least one store, or all stores",
            field="store_ids",
        )
    stores = [get_store(ctx.session, shop_id, sid) for sid in (store_ids or [])]
    staff = Staff(
        shop_id=shop_id,
        douyin_id=douyin_id,
        name=name.strip()[:60],
        all_stores=store_ids is None,
        created_at=ctx.now,
    )
    ctx.session.add(staff)
    ctx.session.flush()
    for store in stores:
        ctx.session.add(StaffStore(staff_id=staff.id, store_id=store.id, shop_id=shop_id))
    ctx.session.flush()
    return staff


def revoke_staff(ctx: Ctx, shop_id: int, staff_id: int) -> Staff:
    staff = get_staff(ctx.session, shop_id, staff_id)
    if staff.revoked_at is None:
        staff.revoked_at = ctx.now
    return staff


def get_staff(session: Session, shop_id: int, staff_id: int) -> Staff:
    staff: Staff = get_owned(session, Staff, shop_id, staff_id, ("核销人员", "Staff"))
    return staff


def list_staff(session: Session, shop_id: int) -> list[Staff]:
    return list(session.scalars(select(Staff).where(Staff.shop_id == shop_id).order_by(Staff.id)))


def staff_store_ids(session: Session, staff: Staff) -> list[int] | None:
    """The stores a staff member may verify at; ``None`` means all stores of the shop."""
    if staff.all_stores:
        return None
    rows = session.scalars(select(StaffStore.store_id).where(StaffStore.staff_id == staff.id))
    return sorted(rows)


# ----- API apps ----------------------------------------------------------------------------


def create_app(
    ctx: Ctx,
    shop_id: int,
    name: str,
    scopes: Iterable[str] | None = None,
    *,
    by: Principal | None = None,
) -> ApiApp:
    """A new open-API app with its scopes (S2). ``by`` is the merchant creating it (console):
    the main account, or a sub-account granted ``apps.manage`` that may only give scopes it
    holds itself. ``by=None`` is the operator (CLI, demo): any scope. ``scopes=None`` gives
    the default minimal set (shop, orders, aftersales)."""
    if by is not None:
        by.require("apps.manage")
    name = name.strip()
    if not name or len(name) > 60:
        raise ValidationFailed(
            "invalid_app",
            "应用名称必填，最多60字",
            "App name is required, ≤ 60 chars",
            field="name",
        )
    chosen = choose_scopes(
        scopes,
        is_main=by is None or by.is_main,
        permissions=by.permissions if by is not None else frozenset(),
    )
    app = ApiApp(
        shop_id=shop_id,
        name=name,
        app_key="ak_" + secrets.token_hex(12),
        secret=secrets.token_urlsafe(32),
        scopes=format_scopes(chosen),
        created_at=ctx.now,
    )
    ctx.session.add(app)
    ctx.session.flush()
    return app


def app_scopes(app: ApiApp) -> frozenset[str]:
    return parse_scopes(app.scopes)


def list_apps(session: Session, shop_id: int) -> list[ApiApp]:
    return list(
        session.scalars(select(ApiApp).where(ApiApp.shop_id == shop_id).order_by(ApiApp.id))
    )


def revoke_app(ctx: Ctx, shop_id: int, app_id: int) -> ApiApp:
    app: ApiApp = get_owned(ctx.session, ApiApp, shop_id, app_id, ("应用", "App"))
    if app.revoked_at is None:
        app.revoked_at = ctx.now
    return app


@dataclass(frozen=True)
class AppCredentials:
    """What checking a signed request needs of an app: never changes once the app exists
    (revocation is checked apart, on every request, by ``accept_nonce``)."""

    app_id: int
    shop_id: int
    secret: str
    scopes: frozenset[str] = frozenset()


def app_credentials(session: Session, app_key: str) -> AppCredentials | None:
    """The credentials of a live (unrevoked) app, read as plain columns (no ORM object)."""
    row = session.execute(
        select(ApiApp.id, ApiApp.shop_id, ApiApp.secret, ApiApp.scopes).where(
            ApiApp.app_key == app_key, ApiApp.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    return AppCredentials(row.id, row.shop_id, row.secret, parse_scopes(row.scopes))


def revoked_app_credentials(session: Session, app_key: str) -> AppCredentials | None:
    """The credentials of a revoked app (S9: a request whose signature matches a revoked
    app's secret is told ``app_revoked``; an unknown key or a wrong signature learns nothing)."""
    row = session.execute(
        select(ApiApp.id, ApiApp.shop_id, ApiApp.secret).where(
            ApiApp.app_key == app_key, ApiApp.revoked_at.is_not(None)
        )
    ).first()
    return AppCredentials(row.id, row.shop_id, row.secret) if row is not None else None


def accept_nonce(session: Session, app_key: str, nonce: str, expires_at: datetime) -> bool:
    """Record a signed request's nonce if it is new *and* the app is not revoked, in one
    statement (X2: a revocation takes effect on the next request). False: replayed, or the
    app was revoked — ``app_credentials`` tells which."""
    statement = _accept_nonce_statement(session.get_bind().dialect.name)
    params = {"app_key": app_key, "nonce": nonce, "expires_at": expires_at}
    return session.execute(statement, params).first() is not None


@functools.cache
def _accept_nonce_statement(dialect: str) -> Any:
    """Built once per dialect: constructing it costs more CPU than running it (every signed
    request runs it)."""
    key = bindparam("app_key", type_=String())
    live = select(ApiApp.id).where(ApiApp.app_key == key, ApiApp.revoked_at.is_(None)).exists()
    source = select(
        key, bindparam("nonce", type_=String()), bindparam("expires_at", type_=UTCDateTime())
    ).where(live)
    return insert_select_if_absent_statement(
        dialect, ApiNonce.__table__, ["app_key", "nonce", "expires_at"], source
    )


# ----- buyers ------------------------------------------------------------------------------


def create_buyer(
    ctx: Ctx, *, douyin_id: str, nickname: str, phone: str = "", verified: bool = False
) -> tuple[Buyer, str]:
    """A platform buyer and its bearer token (shown once; stored hashed)."""
    if ctx.session.scalars(select(Buyer).where(Buyer.douyin_id == douyin_id)).first():
        raise Conflict("buyer_exists", f"抖音号 {douyin_id} 已存在", f"{douyin_id} exists")
    token = "bt_" + secrets.token_urlsafe(24)
    buyer = Buyer(
        douyin_id=douyin_id,
        nickname=nickname[:60],
        phone=phone,
        verified=verified,
        token_hash=_token_hash(token),
        created_at=ctx.now,
    )
    ctx.session.add(buyer)
    ctx.session.flush()
    return buyer, token


def buyer_by_token(session: Session, token: str) -> Buyer:
    buyer = session.scalars(select(Buyer).where(Buyer.token_hash == _token_hash(token))).first()
    if buyer is None:
        raise AuthFailed("bad_buyer_token", "买家凭证无效", "Invalid buyer token")
    return buyer


def get_buyer(session: Session, buyer_id: int) -> Buyer:
    buyer = session.get(Buyer, buyer_id)
    if buyer is None:
        raise NotFound("买家", "Buyer", buyer_id)
    return buyer


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ----- installation state ------------------------------------------------------------------


def installation_secret(session: Session) -> str:
    """The cookie-signing secret: XIAODIAN_SECRET_KEY if set, else generated once and kept."""
    query = select(SystemState.value).where(SystemState.key == "secret_key")
    value = session.scalar(query)
    if value is None:
        # Several processes may start at once on a fresh database: the first insert wins,
        # the others read what it wrote.
        insert_ignore(
            session,
            SystemState.__table__,
            [{"key": "secret_key", "value": secrets.token_urlsafe(48)}],
        )
        value = session.scalar(query)
    if value is None:  # pragma: no cover - the insert above guarantees a row
        raise RuntimeError("installation secret missing")
    return value


# ----- helpers -----------------------------------------------------------------------------


def _require_main(principal: Principal) -> None:
    if not principal.is_main:
        raise PermissionDenied(
            "main_account_only", "仅主账号可以执行此操作", "Only the main account can do this"
        )


def _require_free_username(session: Session, username: str) -> None:
    if session.scalars(select(User.id).where(User.username == username)).first() is not None:
        raise Conflict(
            "username_taken", f"用户名 {username} 已被使用", f"Username {username} is taken"
        )


def _user_errors(ctx: Ctx, username: str, password: str, phone: str) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    if not _USERNAME.match(username or ""):
        errors.append(
            _field(
                "username",
                "用户名为3-64位字母、数字或 _.@-",
                "Username: 3–64 letters, digits or _.@-",
            )
        )
    errors.extend(rules.password_problems(password, ctx.settings.console.password_min_length))
    if phone and not _PHONE.match(phone):
        errors.append(
            _field(
                "phone", "手机号应为11位数字，以1开头", "Phone must be 11 digits starting with 1"
            )
        )
    return errors
