"""Settings: every tunable of the system, in one object.

Numbers stated by the platform (SPEC.md) are the defaults here; values the SPEC marks
*(default, configurable)* live here too and nowhere else. Read from the environment with the
prefix ``XIAODIAN_``; groups nest with ``__`` (``XIAODIAN_ORDERS__SHIP_WITHIN_HOURS=72``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RedPacketRules(BaseModel):
    """SPEC §1 (R2, R6, R7)."""

    validity_days: int = Field(3, description="R2: validity from issuance, days")
    extension_min_remaining_percent: int = Field(
        10, description="R6: remaining after extension must be ≥ this % of the original"
    )
    max_extensions: int | None = Field(
        None,
        ge=1,
        description="R6: extensions allowed per packet; unset = no limit (the seed sets none, "
        "the remaining ≥ 10 % rule bounds it)",
    )
    remind_lead_hours: int = Field(
        24, description="R7 (default): reminder lead time, hours — the shop's preset at issuance"
    )
    expiring_soon_hours: int = Field(24, description="R8: '即将过期' when ending within, hours")
    max_validity_days: int = Field(30, description="R2: longest validity chosen at issuance")
    max_amount_fen: int = Field(100_000_00, description="R1: largest single packet, fen")
    max_batch_rows: int = Field(1000, description="R1: buyers per batch issuance at most")
    usage_chart_days: int = Field(30, description="R8: days shown in the usage-rate chart")


class LuckyBagRules(BaseModel):
    """SPEC §2 (L2, L3)."""

    redeem_window_days: int = Field(7, description="L2 (default): redemption window, days")
    risk_max_wins_per_address: int = Field(3, description="L3 (default): wins per address")
    risk_max_wins_per_device: int = Field(3, description="L3 (default): wins per device")
    risk_window_days: int = Field(30, description="L3 (default): look-back for win counts")
    draw_seed: str = Field(
        "xiaodian", description="L1: seed mixed with each lucky bag id so draws replay"
    )


class OrderRules(BaseModel):
    """SPEC §3 (O4–O9)."""

    ship_within_hours: int = Field(48, description="O4 (default): ship-by after payment")
    auto_close_days: int = Field(150, description="O5: close unshipped, unrefunded orders")
    auto_close_retry_seconds: int = Field(
        600, description="O5 (default): retry an auto-close whose refund call raised after N s"
    )
    rejudge_after_hours: int = Field(24, description="O7: re-judgment interval")
    max_judgments: int = Field(3, description="O7: judgments per order at most")
    penalty_fen: int = Field(1000, description="O8: deduction per judgment (10 yuan)")
    max_deductions_per_order: int = Field(2, description="O8: deductions per order at most")
    shop_daily_cap_fen: int = Field(50000, description="O8: per shop per day (500 yuan)")
    ban_when_judgments_over: int = Field(2, description="O8: ban products when count > this")
    rating_window_days: int = Field(30, description="O9 (default): rolling window, days")
    rating_score_full: int = Field(100, description="O9 (default): score with no judgment")
    rating_points_per_judgment: int = Field(
        1, description="O9 (default): score points per judgment record in the window"
    )
    rating_rate_weight_points: int = Field(
        100, description="O9 (default): score points taken at a 100% late-shipment rate"
    )
    export_code_ttl_seconds: int = Field(300, description="O2: SMS code validity")
    export_code_max_attempts: int = Field(5, description="O2: wrong tries before lock")
    export_batch_rows: int = Field(5000, description="O2: rows fetched per batch")
    export_streams: int = Field(
        2,
        ge=1,
        description="O2 (issue 16): PostgreSQL connections formatting a CSV export's batches "
        "at once (the writer appends them in order)",
    )
    export_dir: str = Field("./var/exports", description="O2: where export files are written")
    export_code_resend_seconds: int = Field(
        60, description="O2 (default): a new SMS code per phone at most every N s"
    )
    export_lease_seconds: int = Field(
        600, description="O2: a running export silent this long is taken over by a worker"
    )
    xlsx_writer: Literal["fast", "xlsxwriter"] = Field(
        "fast",
        description="O2 (issue 16): XLSX writer — fast = the export's own streamed writer"
        " (orders/export/xlsx.py), xlsxwriter = XlsxWriter constant_memory (also used when the"
        " fast writer cannot be imported)",
    )
    xlsx_deflate_level: int = Field(
        1,
        ge=0,
        le=9,
        description="O2 (issue 16): zlib level of the fast XLSX writer's sheets (1 = fastest;"
        " 6 = zipfile's default, smaller file, slower)",
    )


class AfterSalesRules(BaseModel):
    """SPEC §4 (A1–A6)."""

    merchant_sla_hours: int = Field(48, description="A3: merchant must act within, hours")
    interception_fee_fen: int = Field(
        300, description="A2.3 (default): fee the carrier charges per successful interception"
    )
    interception_response_hours: int = Field(
        2, description="A2.3 (default): local carrier answers an interception request after"
    )
    small_amount_default_fen: int = Field(
        1000, description="A2.2 (default): threshold proposed when the strategy is created"
    )
    evidence_dir: str = Field(
        "./var/aftersales", description="A1/A4: where evidence uploads are stored"
    )
    evidence_max_bytes: int = Field(
        5 * 1024 * 1024, description="A1/A4: an evidence file must be at most this size"
    )
    evidence_max_pixels: int = Field(
        40_000_000,
        description="A1/A4/S8: an evidence photo may have at most width × height pixels (read "
        "from the header, before decoding)",
    )
    evidence_max_files: int = Field(9, description="A1/A4: evidence files per request/party")
    refund_retry_seconds: int = Field(
        600, description="A6 (default): an agreed refund that failed is retried after, seconds"
    )
    refund_max_attempts: int = Field(
        5, description="A6 (default): automatic refund attempts before the merchant is asked"
    )
    completion_window_days: int = Field(
        30,
        ge=1,
        description="A3.2 (default): 仅退款自主完结时长 is measured over the last N days",
    )


class CouponRules(BaseModel):
    """SPEC §5 (C1, C2, C7)."""

    review_minutes: int = Field(30, description="C2: review takes about, minutes")
    require_human_review: bool = Field(
        False,
        description="C2/F1: every coupon waits for a platform operator (default: one that "
        "passes the machine checks is approved at the end of the review window)",
    )
    verify_cancel_window_minutes: int = Field(60, description="C7 (default): cancel window")
    verify_token_ttl_seconds: int = Field(300, description="C7: prepare → verify token life")
    image_max_bytes: int = Field(1024 * 1024, description="C1: images must be < 1 MB")
    image_max_pixels: int = Field(
        4096 * 4096,
        description="C6/S8: a scanned photo may have at most width × height pixels (read "
        "from the header, before decoding)",
    )
    product_image_max_pixels: int = Field(
        1372 * 352,
        description="C1/S8: a product image may have at most width × height pixels (686×176 "
        "at twice the scale), read from the header before decoding",
    )
    product_aspect_tolerance_permille: int = Field(
        10,
        description="C1/F8: a product image whose aspect differs from 686:176 by at most ‰ is "
        "warned as 'will be scaled'; beyond it, as 'shown cropped' (both accepted)",
    )
    code_length: int = Field(12, description="C4: claim code length (no-ambiguity alphabet)")
    scan_image_max_bytes: int = Field(
        8 * 1024 * 1024, description="C6: a scanned photo/screenshot must be smaller than"
    )
    staff_link_ttl_minutes: int = Field(
        30,
        ge=1,
        le=7 * 24 * 60,
        description="F4: a one-time link that binds a verifier's phone dies unused after, minutes",
    )
    staff_phone_cookie_days: int = Field(
        180,
        ge=1,
        le=3650,
        description="F4: life of a bound phone's staff cookie, days (revoking the staff "
        "member ends it at once)",
    )
    ocr_enabled: bool = Field(
        True,
        description="F2: read the text inside coupon images (Tesseract); off or unavailable, "
        "every coupon waits for a human reviewer",
    )
    ocr_timeout_seconds: float = Field(
        20.0, gt=0, le=120, description="F2: longest OCR of one image"
    )


class LaikeRules(BaseModel):
    """Issue 12 D5: the 抖音来客 (goodlife/v1) compatibility gateway under /douyin."""

    client_token_ttl_seconds: int = Field(
        7200, ge=60, description="D5: life of a client_token (product clock), seconds"
    )


class ApiRules(BaseModel):
    """Open API transport (issue 2 §9)."""

    signature_window_seconds: int = Field(300, description="timestamps outside ±N s refused")
    page_size_default: int = Field(20, description="default page size")
    page_size_max: int = Field(200, description="largest page size")
    admission_wait_seconds: float = Field(
        10.0,
        gt=0,
        description="W5: a request waits at most N s for one of the database.pool_size places "
        "in the app, then is answered 503 with Retry-After",
    )
    async_read_commits: bool = Field(
        False,
        description="W5: PostgreSQL only: a GET/HEAD's transaction (its one write: the signed "
        "request's nonce) commits without waiting for the WAL flush (synchronous_commit off "
        "for that transaction only); off by default: on an idle disk the extra statement costs "
        "more than the flush (docs/benchmarks.md, W5 on a quiet machine)",
    )
    retry_after_seconds: int = Field(
        5, ge=1, description="W4: Retry-After of a 503 answered while the database is unreachable"
    )


class DoudianRules(BaseModel):
    """The 抖店 open-platform dialect under /doudian (issue 12, D1–D3)."""

    timestamp_skew_seconds: int = Field(
        600, description="D1: a request's timestamp may differ from server time by ±N s"
    )
    access_token_ttl_seconds: int = Field(
        7 * 24 * 3600, description="D2: access_token lifetime on the product clock (7 days)"
    )
    refresh_token_ttl_seconds: int = Field(
        14 * 24 * 3600, description="D2: refresh_token lifetime on the product clock (14 days)"
    )
    auth_code_ttl_seconds: int = Field(
        600, description="D2: a one-time authorization code is valid for N s"
    )
    page_size_max: int = Field(100, description="D3: order.searchList / afterSale.List size ≤ N")
    operate_max_items: int = Field(20, description="D3: afterSale.operate items per call ≤ N")


class RequestLimits(BaseModel):
    """S6 request bodies, S8 image decoding (issue 11)."""

    json_max_bytes: int = Field(
        1024 * 1024,
        ge=1,
        description="S6: largest body of a JSON, form or other non-upload request, bytes",
    )
    image_json_max_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1,
        description="S6: largest JSON body that carries base64 images (POST /api/v1/coupons)",
    )
    upload_max_bytes: int = Field(
        48 * 1024 * 1024,
        ge=1,
        description="S6: largest multipart/form-data body (uploads: up to 9 evidence files)",
    )
    image_decodes_in_flight: int = Field(
        2, ge=1, description="S8: images decoded at once per process; the others wait"
    )


class WebhookRules(BaseModel):
    """X1 webhook delivery, S1 egress rules, W3 per-delivery claims."""

    max_attempts: int = Field(8, description="attempts before a delivery is marked failed")
    backoff_base_seconds: int = Field(10, description="first retry after; doubles each time")
    backoff_max_seconds: int = Field(3600, description="longest wait between attempts")
    timeout_seconds: float = Field(
        5.0,
        gt=0,
        description="hard deadline of one delivery attempt: DNS, connect, TLS, send and the"
        " answer's status line (S1)",
    )
    batch_size: int = Field(50, description="due deliveries a worker pass looks at")
    claim_margin_seconds: float = Field(
        15.0,
        ge=0,
        description="a worker's claim on a delivery lasts its hard deadline plus this margin"
        " (covers commit latency and clock skew between workers) (W3)",
    )
    allow_loopback: bool = Field(
        False,
        description="let webhooks go to 127.0.0.0/8 and ::1 — local development only; private,"
        " link-local and metadata addresses stay refused (S1)",
    )


class ConsoleRules(BaseModel):
    """Console login and sessions (issue 11 S4, S5)."""

    login_max_failures_per_user: int = Field(
        5, ge=1, description="S4: failed logins per username in the window before a lockout"
    )
    login_max_failures_per_ip: int = Field(
        20, ge=1, description="S4: failed logins per client address in the window before a lockout"
    )
    login_failure_window_seconds: int = Field(
        3600, ge=1, description="S4: failed logins older than this are forgotten"
    )
    login_lockout_seconds: int = Field(
        60, ge=1, description="S4: first lockout; doubles with each further failure after it"
    )
    login_lockout_max_seconds: int = Field(
        3600, ge=1, description="S4: longest lockout, however many failures"
    )
    max_concurrent_hashes: int = Field(
        2, ge=1, description="S4: argon2 password hashes running at once per process (64 MiB each)"
    )
    hash_wait_seconds: float = Field(
        5.0, ge=0, description="S4: wait this long for a hashing slot, then answer 503"
    )
    password_min_length: int = Field(8, ge=1, description="S4: shortest password accepted")
    session_max_age_seconds: int = Field(
        12 * 3600, ge=60, description="S5: a console login lasts at most this long"
    )
    cookie_secure: bool | None = Field(
        None,
        description="S5: the cookie's Secure flag; unset = on when public_url starts with https://",
    )
    large_amount_confirm_fen: int = Field(
        10_000_00, ge=1, description="U8: a console amount above this (fen) asks to confirm it"
    )


class DashboardRules(BaseModel):
    """The console home 首页 that runs the day, and the order list's pages (issue 13 U3, U4)."""

    ship_soon_hours: int = Field(
        12, ge=1, le=24 * 30, description="U3: 即将超时 = unshipped, ship-by within N hours"
    )
    chart_days: int = Field(
        14, ge=2, le=90, description="U3: days in the sales and late-shipment charts"
    )
    order_page_sizes: list[Annotated[int, Field(ge=1, le=500)]] = Field(
        [20, 50, 100], min_length=1, description="U4: 订单管理 page sizes (first = default)"
    )


class WorkerRules(BaseModel):
    """W2: the standalone and the in-process worker outlive database outages."""

    min_backoff_seconds: float = Field(
        1.0, gt=0, description="W2: first wait after a failed tick (database down); doubles"
    )
    max_backoff_seconds: float = Field(
        30.0, gt=0, description="W2: longest wait between retries of a failing tick"
    )


class DatabaseRules(BaseModel):
    """W2/W5: the connection pool and how PostgreSQL bounds and watches each session."""

    pool_size: int = Field(
        10,
        ge=1,
        description="W5: the one concurrency setting per process: connections the pool keeps "
        "(no overflow) and HTTP requests admitted into the app at once; the others queue "
        "(api.admission_wait_seconds)",
    )
    pool_timeout_seconds: float = Field(
        10.0, gt=0, description="W4: wait for a free pooled connection before answering 503"
    )
    connect_timeout_seconds: int = Field(
        5, ge=1, description="W4: PostgreSQL only: give up connecting after N s (then 503)"
    )
    statement_timeout_seconds: float = Field(
        120.0,
        ge=0,
        description="W2: PostgreSQL only: cancel any statement running longer (0 = never); "
        "migrations are exempt",
    )
    client_connection_check_interval_seconds: float = Field(
        2.0,
        ge=0,
        description="W2: PostgreSQL ≥ 14 only: the server checks every N s during a query "
        "that its client is still there, and ends the session (and its locks) if not",
    )
    keepalives_idle_seconds: int = Field(
        10, ge=1, description="W2: PostgreSQL only: TCP keep-alive after N s idle"
    )
    keepalives_interval_seconds: int = Field(
        5, ge=1, description="W2: PostgreSQL only: keep-alive probe interval"
    )
    keepalives_count: int = Field(
        3, ge=1, description="W2: PostgreSQL only: lost probes before the connection is dead"
    )


class SmsSettings(BaseModel):
    """Issue 17 F3: who sends the O2 download code to the shop's phone."""

    provider: Literal["demo_phone", "aliyun"] = Field(
        "demo_phone",
        description="F3: 'aliyun' (阿里云短信服务) or 'demo_phone' (演示手机: the console shows "
        "the message; only with a simulated clock or sms.demo_phone)",
    )
    demo_phone: bool = Field(
        False,
        description="F3: allow the 演示手机 with the system clock (a demo; anyone with the "
        "export permission then reads the code) — xiaodian demo turns it on",
    )
    aliyun_access_key_id: str = Field("", description="F3: Aliyun AccessKey ID")
    aliyun_access_key_secret: SecretStr = Field(
        SecretStr(""), description="F3: Aliyun AccessKey secret"
    )
    aliyun_sign_name: str = Field("", description="F3: the approved SMS signature 签名")
    aliyun_template_code: str = Field(
        "", description="F3: an approved verification-code template with ${code}, e.g. SMS_123"
    )
    aliyun_endpoint: str = Field("dysmsapi.aliyuncs.com", description="F3: SMS API endpoint")
    aliyun_protocol: Literal["https", "http"] = Field("https", description="F3: API protocol")
    timeout_seconds: float = Field(5.0, gt=0, le=60, description="F3: provider timeout")

    @model_validator(mode="after")
    def _aliyun_complete(self) -> SmsSettings:
        if self.provider == "aliyun":
            missing = [
                name
                for name in ("aliyun_access_key_id", "aliyun_sign_name", "aliyun_template_code")
                if not getattr(self, name)
            ]
            if not self.aliyun_access_key_secret.get_secret_value():
                missing.append("aliyun_access_key_secret")
            if missing:
                names = ", ".join(f"XIAODIAN_SMS__{name.upper()}" for name in missing)
                raise ValueError(f"sms.provider aliyun needs {names}")
        return self


class StorefrontSettings(BaseModel):
    """Issue 17 F8: the buyer pages (/shop, /my)."""

    demo_sign_in: bool = Field(
        False,
        description="F8: the buyer sign-in page lists demo buyers to pick (a demo: anyone may "
        "act as any buyer) — also on with a simulated clock; xiaodian demo turns it on. "
        "Otherwise buyers sign in with the bearer token of POST /buyer/v1/register",
    )
    session_max_age_seconds: int = Field(
        7 * 24 * 3600, ge=300, description="F8: a buyer page sign-in lasts this long"
    )
    demo_buyers_shown: int = Field(
        30, ge=1, le=500, description="F8: how many buyers the demo sign-in lists"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="XIAODIAN_", env_nested_delimiter="__", extra="ignore"
    )

    database_url: str = Field("sqlite:///./xiaodian.db", description="SQLAlchemy URL")
    clock_mode: Literal["system", "simulated"] = Field(
        "system", description="'simulated' persists 'now' in the database and exposes /sim"
    )
    allow_simulated_clock_public: bool = Field(
        False,
        description="S3: serve a simulated clock on a non-loopback address (refused by default)",
    )
    secret_key: str | None = Field(
        None, description="signs console cookies; generated and kept in the database if unset"
    )
    timezone: str = Field("Asia/Shanghai", description="display and calendar-day timezone")
    tick_seconds: float = Field(5.0, description="worker tick interval")
    host: str = Field("127.0.0.1", description="serve: bind address")
    port: int = Field(8000, description="serve: port")
    public_url: str = Field(
        "",
        description="the address merchants open, e.g. https://shop.example.com (S5: https "
        "turns the console cookie's Secure flag on)",
    )

    redpackets: RedPacketRules = RedPacketRules()
    luckybags: LuckyBagRules = LuckyBagRules()
    orders: OrderRules = OrderRules()
    aftersales: AfterSalesRules = AfterSalesRules()
    coupons: CouponRules = CouponRules()
    laike: LaikeRules = LaikeRules()
    api: ApiRules = ApiRules()
    webhooks: WebhookRules = WebhookRules()
    doudian: DoudianRules = DoudianRules()
    console: ConsoleRules = ConsoleRules()
    dashboard: DashboardRules = DashboardRules()

    @property
    def cookie_secure(self) -> bool:
        """S5: send the console cookie only over HTTPS (explicit setting, else public_url)."""
        if self.console.cookie_secure is not None:
            return self.console.cookie_secure
        return self.public_url.strip().lower().startswith("https://")

    limits: RequestLimits = RequestLimits()
    worker: WorkerRules = WorkerRules()
    database: DatabaseRules = DatabaseRules()
    sms: SmsSettings = SmsSettings()
    storefront: StorefrontSettings = StorefrontSettings()

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        """Settings that only make sense together."""
        if self.worker.max_backoff_seconds < self.worker.min_backoff_seconds:
            raise ValueError("worker.max_backoff_seconds must be ≥ worker.min_backoff_seconds")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def describe(model: BaseModel, prefix: str = "XIAODIAN_") -> list[tuple[str, object, str]]:
    """(environment variable, current value, description) for every setting, groups flattened."""
    rows: list[tuple[str, object, str]] = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            rows.extend(describe(value, f"{prefix}{name.upper()}__"))
        else:
            rows.append((f"{prefix}{name.upper()}", value, field.description or ""))
    return rows
