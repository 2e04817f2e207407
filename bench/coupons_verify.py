"""Benchmark P3: coupon verification (C6/C7) over HTTP through the signed API v2.

What it does, in one run, on PostgreSQL:

1. Seeds a shop, a store, a signed API app, an active coupon, two online campaigns and
   ``2 × --codes`` unused claims (``COPY`` into ``coupon_claims`` in the shape ``service.claim``
   writes, plus the per-buyer claim counters and the campaign-coupon issuance counter).
2. Starts the real application (``create_app`` on a ``Runtime`` against that database) with
   uvicorn in a subprocess (``--workers`` processes; default 2 = the machine's cores) and lets
   ``--clients`` concurrent asyncio clients (one ``httpx.AsyncClient`` pool, one connection per
   client, every request signed with ``signed_headers``) verify the first set of codes the way
   a store system does: ``POST /api/v2/verification/prepare`` (the code as typed) then
   ``POST /api/v2/verification/verify`` (verify token + store + ``client_request_id``).
   ``--dup-rate`` (default 10 %) of the codes are sent twice on purpose: half as a POS retry
   (the *same* verify body, same ``client_request_id``, fired twice concurrently), half as a
   second verification of the same code by another client with a *new* request id, queued a
   few places later so that it usually runs while the first one is in flight. The clients
   always call verify after prepare, even when prepare says ``usable: false`` (the guard is
   what is measured, not client politeness).
3. Asserts by query that no claim was verified twice (verification rows per claim ≤ 1, every
   verified claim has exactly one verification row, rows == client-observed successes).
4. The anchor, same run, same uvicorn setup, same PostgreSQL, same clients and duplicate mix,
   on the second (fresh) set of codes: a bare FastAPI app defined below whose one endpoint
   runs the equivalent single statement ``UPDATE coupon_claims SET status='verified' …
   WHERE code = :code AND shop_id = :shop AND status = 'unused' RETURNING id`` — the
   framework + driver ceiling. Requests are signed the same way (the client pays the same
   cost per request) but the anchor does not check the signature.

``--dialect goodlife`` runs the app phase as a 抖音来客 store system would (issue 12 D5):
one ``client_token`` per client, ``GET /douyin/goodlife/v1/fulfilment/certificate/prepare/``
(code + poi_id), ``POST …/verify/`` (verify_token + encrypted_codes); a retry sends the same
verify_token twice (idempotent), a duplicate prepares again and is refused at prepare. The
anchor and the ceiling are unchanged, so the ratio compares the same work.

Prints a summary table: requests, successes, refusals by code, verifications/s, latency
p50/p95/p99 per verification and per HTTP request, CPU use, and the ratio app / anchor.

    .venv/bin/python -m bench.coupons_verify [--codes 100000] [--clients 200] [--workers 2] \
        [--quick] [--dialect v2|goodlife] \
        [--db postgresql+psycopg://xiaodian:xiaodian@127.0.0.1/xiaodian_bench_p3]

The database is wiped (DROP SCHEMA public CASCADE) at the start: give it its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import json
import multiprocessing
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel
from sqlalchemy import text
from starlette.requests import Request  # at module level: the floor's annotations name it

from xiaodian.clock import ManualClock, SystemClock
from xiaodian.config import DatabaseRules, Settings
from xiaodian.db import make_engine, make_sessionmaker
from xiaodian.runtime import Runtime, upgrade, with_installation_secret
from xiaodian.signing import signed_headers

DEFAULT_DB = "postgresql+psycopg://xiaodian:xiaodian@127.0.0.1/xiaodian_bench_p3"
ROOT = Path(__file__).resolve().parents[1]
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # = coupons.service.CODE_ALPHABET
PREPARE = "/api/v2/verification/prepare"
VERIFY = "/api/v2/verification/verify"
ANCHOR = "/anchor/verify"
ANCHOR_PREPARE = "/anchor/prepare"
ANCHOR_VERIFY_CLAIM = "/anchor/verify-claim"
FLOOR_PREPARE = "/floor/prepare"
FLOOR_VERIFY = "/floor/verify"
# --dialect goodlife: the app phase speaks 抖音来客 goodlife/v1 (issue 12 D5) instead of v2.
LAIKE_TOKEN = "/douyin/oauth/client_token/"
LAIKE_PREPARE = "/douyin/goodlife/v1/fulfilment/certificate/prepare/"
LAIKE_VERIFY = "/douyin/goodlife/v1/fulfilment/certificate/verify/"
PHASES = ("app", "anchor", "ceiling", "floor")


# ===== the servers (imported by uvicorn in each worker process) ==============================


def _env_engine_kwargs() -> dict[str, Any]:
    return {
        "pool_size": int(os.environ["XIAODIAN_BENCH_POOL"]),
        "max_overflow": int(os.environ["XIAODIAN_BENCH_OVERFLOW"]),
    }


def server_app() -> Any:
    """uvicorn --factory entry: the real app or the anchor, per XIAODIAN_BENCH_MODE.

    Both admit at most as many requests at once per worker as the pool keeps connections:
    the app through its own admission (``InFlightLimit``, sized by ``database.pool_size``,
    W5), the anchor wrapped in the same middleware — with more requests in flight than pooled
    connections, threads waiting in a checkout hold the thread-pool tokens the connection
    holders need. ``XIAODIAN_BENCH_ADMIT`` 0 leaves the anchor unwrapped."""
    from xiaodian.api.app import InFlightLimit, create_app

    url = os.environ["XIAODIAN_BENCH_URL"]
    limit = int(os.environ["XIAODIAN_BENCH_ADMIT"])
    if os.environ["XIAODIAN_BENCH_MODE"] == "anchor":
        app = anchor_app(url)
        return InFlightLimit(app, limit) if limit else app
    engine = make_engine(url, **_env_engine_kwargs())
    pool = _env_engine_kwargs()
    settings = Settings(database_url=url, database=DatabaseRules(pool_size=pool["pool_size"]))
    rt = Runtime(
        settings=with_installation_secret(settings, engine),
        engine=engine,
        factory=make_sessionmaker(engine),
        clock=SystemClock(),
    )
    return create_app(rt)


class AnchorIn(BaseModel):
    code: str
    client_request_id: str


class AnchorClaimIn(BaseModel):
    claim_id: int
    client_request_id: str


def anchor_app(url: str) -> Any:
    """The framework ceiling: FastAPI + a sync endpoint (thread pool, like the app's routes) +
    the same engine/pool, running the one conditional UPDATE a verification needs.

    Also the *two-request ceiling* (phase ``ceiling``): what any prepare-then-verify protocol
    such as C7 can reach at best on this stack — a bare lookup by code, then a bare
    conditional UPDATE by the claim id the lookup returned, one statement per request."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    engine = make_engine(url, **_env_engine_kwargs())
    shop_id = int(os.environ["XIAODIAN_BENCH_SHOP"])
    statement = text(
        "UPDATE coupon_claims SET status = 'verified', verified_at = now() "
        "WHERE code = :code AND shop_id = :shop AND status = 'unused' RETURNING id"
    )
    lookup = text(
        "SELECT id, status, valid_until FROM coupon_claims WHERE code = :code AND shop_id = :shop"
    )
    by_claim = text(
        "UPDATE coupon_claims SET status = 'verified', verified_at = now() "
        "WHERE id = :claim AND shop_id = :shop AND status = 'unused' RETURNING id"
    )
    app = FastAPI()

    def conditional_update(update: Any, params: dict[str, Any]) -> Any:
        with engine.begin() as conn:
            row = conn.execute(update, params).first()
        if row is None:
            return JSONResponse({"code": "already_verified"}, status_code=409)
        return {"claim_id": row[0]}

    @app.post(ANCHOR)
    def verify(body: AnchorIn) -> Any:
        return conditional_update(statement, {"code": body.code, "shop": shop_id})

    @app.post(ANCHOR_PREPARE)
    def prepare(body: AnchorIn) -> Any:
        with engine.begin() as conn:
            row = conn.execute(lookup, {"code": body.code, "shop": shop_id}).first()
        if row is None:
            return JSONResponse({"code": "unknown_code"}, status_code=404)
        return {"claim_id": row[0], "usable": row[1] == "unused", "valid_until": row[2]}

    @app.post(ANCHOR_VERIFY_CLAIM)
    def verify_claim(body: AnchorClaimIn) -> Any:
        return conditional_update(by_claim, {"claim": body.claim_id, "shop": shop_id})

    add_floor(app, engine, shop_id)
    return app


def add_floor(app: Any, engine: Any, shop_id: int) -> None:
    """The *signed floor* (phase ``floor``): the ceiling's two requests plus only what the
    rules make every request and every verification do, written as bare as it can be — so
    it is the best any faithful implementation of C6/C7 reaches on this stack:

    * each request: its signature checked (X2: HMAC-SHA256 over the body, the app's secret
      known to the process, the timestamp window) and its nonce recorded once (the replay
      guard: ``INSERT … ON CONFLICT DO NOTHING RETURNING``), in the request's transaction;
    * prepare: the claim looked up by code (the ceiling's bare lookup);
    * verify: the conditional win, the verification row with its client request id (C7
      idempotency) and the ``coupon.verified`` event (the outbox the webhooks are sent from),
      as one statement; when nothing is won, one lookup by the request id tells a replay
      from a refusal.

    No coupon terms, store scope, token, campaign or response model: those are the app's
    own work beyond the floor."""
    import hashlib
    import hmac

    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    app_key = os.environ["XIAODIAN_BENCH_APP_KEY"]
    secret = os.environ["XIAODIAN_BENCH_SECRET"].encode()
    store_id = int(os.environ["XIAODIAN_BENCH_STORE"])
    nonce_once = text(
        "INSERT INTO api_nonces (app_key, nonce, expires_at) VALUES (:key, :nonce, "
        "now() + interval '10 minutes') ON CONFLICT DO NOTHING RETURNING nonce"
    )
    lookup = text(
        "SELECT id, status, valid_until FROM coupon_claims WHERE code = :code AND shop_id = :shop"
    )
    win = text(
        "WITH v AS (SELECT nextval(pg_get_serial_sequence('coupon_verifications', 'id')) AS id),"
        " won AS (UPDATE coupon_claims SET status = 'verified', verified_at = now(),"
        " verification_id = (SELECT id FROM v) WHERE id = :claim AND shop_id = :shop"
        " AND status = 'unused' AND NOT EXISTS (SELECT 1 FROM coupon_verifications"
        " WHERE shop_id = :shop AND client_request_id = :request_id)"
        " RETURNING id, coupon_id),"
        " rec AS (INSERT INTO coupon_verifications (id, shop_id, claim_id, store_id, channel,"
        " actor, client_request_id, status, verified_at) SELECT v.id, :shop, won.id, :store,"
        " 'api', :actor, :request_id, 'verified', now() FROM v, won RETURNING id, claim_id),"
        " event AS (INSERT INTO events (shop_id, type, payload, rule, actor, occurred_at)"
        " SELECT :shop, 'coupon.verified', json_build_object('claim_id', rec.claim_id,"
        " 'verification_id', rec.id, 'store_id', :store, 'staff_id', NULL, 'channel', 'api',"
        " 'coupon_id', won.coupon_id), 'C6', :actor, now() FROM rec, won)"
        " SELECT id FROM rec"
    )
    replay = text(
        "SELECT claim_id FROM coupon_verifications WHERE shop_id = :shop "
        "AND client_request_id = :request_id"
    )

    def signed(request: Request, body: bytes) -> str | None:
        """The nonce of a request signed by the bench's app, or None."""
        headers = request.headers
        stamp, nonce = headers.get("x-timestamp", ""), headers.get("x-nonce", "")
        if headers.get("x-app-key") != app_key or not stamp.isdigit():
            return None
        if abs(time.time() - int(stamp)) > 300:
            return None
        digest = hashlib.sha256(body).hexdigest()
        message = f"{request.method}\n{request.url.path}\n{stamp}\n{nonce}\n{digest}"
        expected = hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()
        return nonce if hmac.compare_digest(expected, headers.get("x-signature", "")) else None

    def refused(status: int, code: str) -> Any:
        return JSONResponse({"code": code}, status_code=status)

    def prepare_once(nonce: str, code: str) -> Any:
        with engine.begin() as conn:
            if conn.execute(nonce_once, {"key": app_key, "nonce": nonce}).first() is None:
                return refused(401, "nonce_reused")
            row = conn.execute(lookup, {"code": code, "shop": shop_id}).first()
        if row is None:
            return refused(404, "unknown_code")
        return {"claim_id": row[0], "usable": row[1] == "unused", "valid_until": row[2]}

    def verify_once(nonce: str, claim_id: int, request_id: str) -> Any:
        params = {
            "claim": claim_id,
            "shop": shop_id,
            "store": store_id,
            "request_id": request_id,
            "actor": f"app:{app_key}",
        }
        with engine.begin() as conn:
            if conn.execute(nonce_once, {"key": app_key, "nonce": nonce}).first() is None:
                return refused(401, "nonce_reused")
            row = conn.execute(win, params).first()
            if row is None:
                earlier = conn.execute(replay, params).first()
                if earlier is not None and earlier[0] == claim_id:
                    return {"claim_id": claim_id, "replayed": True}
                return refused(409, "already_verified")
        return {"claim_id": claim_id, "verification_id": row[0]}

    async def checked(request: Request, work: Any) -> Any:
        """A signed request's body handed to ``work(nonce, data)`` on the thread pool."""
        body = await request.body()
        nonce = signed(request, body)
        if nonce is None:
            return refused(401, "bad_signature")
        return await run_in_threadpool(work, nonce, json.loads(body))

    @app.post(FLOOR_PREPARE)
    async def floor_prepare(request: Request) -> Any:
        return await checked(request, lambda nonce, data: prepare_once(nonce, data["code"]))

    @app.post(FLOOR_VERIFY)
    async def floor_verify(request: Request) -> Any:
        return await checked(
            request,
            lambda nonce, data: verify_once(
                nonce, int(data["claim_id"]), str(data["client_request_id"])
            ),
        )


# ===== seeding ================================================================================


@dataclass
class World:
    shop_id: int
    store_id: int
    app_key: str
    secret: str
    campaigns: dict[str, int]  # per phase: "app", "anchor", "ceiling"
    codes: dict[str, list[str]]  # per phase, and "<phase>_warm"


def _new_codes(count: int, rng: random.Random, seen: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        code = "".join(rng.choices(CODE_ALPHABET, k=12))
        if code not in seen:
            seen.add(code)
            out.append(code)
    return out


def seed(url: str, codes: int, warm: int) -> World:
    from xiaodian.accounts import service as accounts
    from xiaodian.builders import coupon_draft as draft
    from xiaodian.coupons import service

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    clock = ManualClock(now - timedelta(hours=3))
    rt = Runtime(
        settings=Settings(database_url=url),
        engine=engine,
        factory=make_sessionmaker(engine),
        clock=clock,
    )
    with rt.unit("user:1") as ctx:
        shop, _user = accounts.create_shop(
            ctx, name="好物小店", username="bench_p3", password="bench-pass-1", phone="13800000000"
        )
        shop_id = shop.id
        store_id = accounts.create_store(ctx, shop_id, name="西湖店").id
        app = accounts.create_app(ctx, shop_id, "POS 门店系统", ["verification"])
        app_key, secret = app.app_key, app.secret
        # A deployment that has run before has its installation secret (C7 verify tokens are
        # signed with it); creating it here avoids the first-request race on its INSERT.
        accounts.installation_secret(ctx.session)
        buyer_ids = [
            accounts.create_buyer(ctx, douyin_id=f"bench_buyer_{i}", nickname=f"买家{i}")[0].id
            for i in range(100)
        ]
        coupon = service.create_coupon(ctx, shop_id, draft())
        assert not coupon.auto_reasons, coupon.auto_reasons
        coupon_id, due = coupon.id, coupon.review_due_at
    clock.set(due)
    with rt.unit("user:1") as ctx:
        # F1: a coupon the machine passes carries the default policy's approval and becomes
        # active when the review window ends (the review sweep); decide only if it waits.
        if coupon.decision is None:
            service.decide_review(ctx, shop_id, coupon_id, approve=True)
        else:
            service.finalize_reviews(ctx, coupon_ids=[coupon_id])
    clock.set(now)
    campaigns = []
    with rt.unit("user:1") as ctx:
        for name in ("P3 核销压测", "P3 基线", "P3 两次请求上限", "P3 签名下限"):
            campaigns.append(
                service.create_campaign(
                    ctx,
                    shop_id,
                    service.CampaignDraft(
                        name=name,
                        starts_at=now,
                        ends_at=now + timedelta(days=30),
                        store_ids=None,
                        coupon_ids=[coupon_id],
                        per_user_limit=10_000_000,
                        total_limit=10_000_000,
                    ),
                ).id
            )
    rng, seen = random.Random(20260607), set[str]()
    sets: dict[str, tuple[list[str], int]] = {}
    for phase, campaign_id in zip(PHASES, campaigns, strict=True):
        sets[phase] = (_new_codes(codes, rng, seen), campaign_id)
        sets[f"{phase}_warm"] = (_new_codes(warm, rng, seen), campaign_id)
    with rt.unit() as ctx:  # "N days from claim", claimed an hour ago
        coupon = service.get_coupon(ctx.session, shop_id, coupon_id)
        valid_from, valid_until = service.claim_validity(coupon, now - timedelta(hours=1))
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(
            "COPY coupon_claims (shop_id, code, campaign_id, coupon_id, buyer_id, status, "
            "valid_from, valid_until, claimed_at) FROM STDIN"
        ) as copy:
            n = 0
            for code_list, campaign_id in sets.values():
                for code in code_list:
                    copy.write_row(
                        (
                            shop_id,
                            code,
                            campaign_id,
                            coupon_id,
                            buyer_ids[n % len(buyer_ids)],
                            "unused",
                            valid_from,
                            valid_until,
                            valid_from,
                        )
                    )
                    n += 1
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:  # the counters service.claim keeps (C4)
        conn.execute(
            text(
                "INSERT INTO coupon_claim_counters "
                "(campaign_coupon_id, buyer_id, shop_id, claimed) "
                "SELECT cc.id, c.buyer_id, c.shop_id, count(*) FROM coupon_claims c "
                "JOIN coupon_campaign_coupons cc ON cc.campaign_id = c.campaign_id "
                "AND cc.coupon_id = c.coupon_id GROUP BY cc.id, c.buyer_id, c.shop_id"
            )
        )
        conn.execute(
            text(
                "UPDATE coupon_campaign_coupons cc SET claimed = (SELECT count(*) FROM "
                "coupon_claims c WHERE c.campaign_id = cc.campaign_id "
                "AND c.coupon_id = cc.coupon_id)"
            )
        )
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return World(
        shop_id=shop_id,
        store_id=store_id,
        app_key=app_key,
        secret=secret,
        campaigns=dict(zip(PHASES, campaigns, strict=True)),
        codes={k: v[0] for k, v in sets.items()},
    )


# ===== the workload ===========================================================================


@dataclass
class Item:
    code: str
    request_id: str
    retry: bool = False  # fire the verify twice concurrently with the same request id
    duplicate: bool = False  # a second verification of a code already sent (new request id)


def workload(codes: list[str], dup_rate: float, clients: int, rng: random.Random) -> list[Item]:
    items = [Item(code, f"pos-{code}") for code in codes]
    dups = rng.sample(range(len(items)), int(len(items) * dup_rate))
    half = len(dups) // 2
    for i in dups[:half]:
        items[i].retry = True
    later: dict[int, list[Item]] = collections.defaultdict(list)
    for i in dups[half:]:
        code = items[i].code
        # A few places later: usually in flight at the same time as the first attempt.
        later[i + rng.randint(1, clients)].append(Item(code, f"pos2-{code}", duplicate=True))
    out: list[Item] = []
    for i, item in enumerate(items):
        out.append(item)
        out.extend(later.pop(i, []))
    for rest in later.values():
        out.extend(rest)
    return out


@dataclass
class Phase:
    name: str
    attempts: int = 0  # verification attempts (items + concurrent retries)
    requests: int = 0
    successes: int = 0  # new verifications (HTTP 200, not replayed)
    replayed: int = 0
    refusals: collections.Counter[str] = field(default_factory=collections.Counter)
    prepare_unusable: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    request_latency: list[float] = field(default_factory=list)
    verification_latency: list[float] = field(default_factory=list)
    won: collections.Counter[str] = field(default_factory=collections.Counter)
    elapsed: float = 0.0
    stopped_early: bool = False
    client_cpu: float = 0.0
    server_cpu: float = 0.0


@functools.cache
def _shared_tls() -> ssl.SSLContext:
    return ssl.create_default_context()


class Client:
    """One store-system client: its own ``httpx.AsyncClient`` (keep-alive; two connections so a
    retry can overlap the first send)."""

    def __init__(self, base: str, world: World, phase: Phase) -> None:
        self.world, self.phase = world, phase
        self.access_token = ""  # goodlife/v1: one client_token per client (valid 2 h)
        self.http = httpx.AsyncClient(
            base_url=base,
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
            timeout=httpx.Timeout(60.0),
            verify=_shared_tls(),  # one CA bundle load per process, not one per client
        )

    async def post(self, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = signed_headers(self.world.app_key, self.world.secret, "POST", path, body)
        headers["Content-Type"] = "application/json"
        return await self.timed(self.http.post(path, content=body, headers=headers))

    async def timed(self, request: Any) -> tuple[int, dict[str, Any]]:
        """Send one request, counting it and its latency in the phase (both dialects)."""
        started = time.perf_counter()
        try:
            response = await request
        except httpx.HTTPError as exc:
            self.phase.errors[type(exc).__name__] += 1
            return 0, {}
        finally:
            self.phase.request_latency.append(time.perf_counter() - started)
            self.phase.requests += 1
        try:
            data = response.json()
        except ValueError:
            data = {}
        return response.status_code, data

    def outcome(self, code: str, status: int, data: dict[str, Any]) -> None:
        if status == 200 and data.get("replayed"):
            self.phase.replayed += 1
        elif status == 200:
            self.phase.successes += 1
            self.phase.won[code] += 1
        elif status:
            self.phase.refusals[f"{status} {data.get('code', '?')}"] += 1

    async def app_verification(self, item: Item) -> None:
        status, p = await self.post(PREPARE, {"code": item.code})
        if status != 200:
            if status:
                self.phase.refusals[f"prepare {status} {p.get('code', '?')}"] += 1
            return
        if not p["usable"]:
            self.phase.prepare_unusable[p["refusal"]["code"]] += 1
        body = {
            "verify_token": p["verify_token"],
            "store_id": self.world.store_id,
            "client_request_id": item.request_id,
        }
        sends = [self.post(VERIFY, body) for _ in range(2 if item.retry else 1)]
        for status, data in await asyncio.gather(*sends):
            self.outcome(item.code, status, data)

    async def laike_call(
        self, method: str, path: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """A 来客 request: the ``access-token`` header, no xiaodian signature."""
        headers = {"access-token": self.access_token, "content-type": "application/json"}
        if method == "GET":
            return await self.timed(self.http.get(path, params=payload, headers=headers))
        return await self.timed(self.http.post(path, json=payload, headers=headers))

    async def goodlife_verification(self, item: Item) -> None:
        """The same verification as ``app_verification``, as a 来客 store system does it:
        client_token (once), prepare by the typed code at the store (``poi_id``), verify
        with the verify_token and the certificate's ``encrypted_code``. A retry sends the
        same verify_token twice (idempotent); a duplicate prepares again and is refused at
        prepare (no unused certificate), so it never reaches verify."""
        if not self.access_token:
            status, data = await self.laike_call(
                "POST",
                LAIKE_TOKEN,
                {
                    "client_key": self.world.app_key,
                    "client_secret": self.world.secret,
                    "grant_type": "client_credential",
                },
            )
            self.access_token = data.get("data", {}).get("access_token", "")
        poi = str(self.world.store_id)
        status, p = await self.laike_call("GET", LAIKE_PREPARE, {"code": item.code, "poi_id": poi})
        data = p.get("data", {})
        if status != 200 or data.get("error_code", -1) != 0:
            reason = p.get("extra", {}).get("sub_description", "?")
            self.phase.refusals[f"prepare {status} {data.get('error_code')} {reason}"] += 1
            return
        body = {
            "verify_token": data["verify_token"],
            "poi_id": poi,
            "encrypted_codes": [c["encrypted_code"] for c in data["certificates"]],
        }
        sends = [self.laike_call("POST", LAIKE_VERIFY, body) for _ in range(2 if item.retry else 1)]
        for status, out in await asyncio.gather(*sends):
            results = out.get("data", {}).get("verify_results") or [{}]
            result = results[0]
            if status == 200 and result.get("result") == 0 and "重复" in result.get("msg", ""):
                self.phase.replayed += 1
            elif status == 200 and result.get("result") == 0:
                self.phase.successes += 1
                self.phase.won[item.code] += 1
            elif status:
                self.phase.refusals[f"result {result.get('result')}"] += 1

    async def anchor_verification(self, item: Item) -> None:
        body = {"code": item.code, "client_request_id": item.request_id}
        sends = [self.post(ANCHOR, body) for _ in range(2 if item.retry else 1)]
        for status, data in await asyncio.gather(*sends):
            self.outcome(item.code, status, data)

    async def ceiling_verification(self, item: Item) -> None:
        await self.two_requests(
            item,
            (ANCHOR_PREPARE, {"code": item.code, "client_request_id": item.request_id}),
            ANCHOR_VERIFY_CLAIM,
        )

    async def floor_verification(self, item: Item) -> None:
        """The ceiling's two requests, checked and recorded as the rules require (see
        ``add_floor``)."""
        await self.two_requests(item, (FLOOR_PREPARE, {"code": item.code}), FLOOR_VERIFY)

    async def two_requests(
        self, item: Item, prepare: tuple[str, dict[str, Any]], verify_path: str
    ) -> None:
        """A bare prepare → verify: the lookup answers the claim id, verify sends it back."""
        status, p = await self.post(*prepare)
        if status != 200:
            if status:
                self.phase.refusals[f"prepare {status} {p.get('code', '?')}"] += 1
            return
        if not p["usable"]:
            self.phase.prepare_unusable["already_verified"] += 1
        body = {"claim_id": p["claim_id"], "client_request_id": item.request_id}
        sends = [self.post(verify_path, body) for _ in range(2 if item.retry else 1)]
        for status, data in await asyncio.gather(*sends):
            self.outcome(item.code, status, data)


async def drive(
    base: str,
    world: World,
    items: list[Item],
    clients: int,
    phase: Phase,
    kind: str,
    limit: float,
) -> None:
    queue = iter(items)
    deadline = time.perf_counter() + limit

    async def one_client() -> None:
        client = Client(base, world, phase)
        run = {
            "app": client.app_verification,
            "goodlife": client.goodlife_verification,
            "anchor": client.anchor_verification,
            "ceiling": client.ceiling_verification,
            "floor": client.floor_verification,
        }[kind]
        try:
            for item in queue:  # a shared iterator: each item is taken by exactly one client
                if time.perf_counter() > deadline:
                    phase.stopped_early = True
                    return
                started = time.perf_counter()
                phase.attempts += 2 if item.retry else 1
                await run(item)
                phase.verification_latency.append(time.perf_counter() - started)
        finally:
            await client.http.aclose()

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    phase.elapsed = time.perf_counter() - started


def _client_process(job: tuple[Any, ...]) -> Phase:
    base, world, items, clients, name, kind, limit = job
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool ends its workers with SIGTERM
    phase = Phase(name)
    cpu = time.process_time()
    asyncio.run(drive(base, world, items, clients, phase, kind, limit))
    phase.client_cpu = time.process_time() - cpu
    return phase


def drive_processes(
    base: str, world: World, items: list[Item], args: argparse.Namespace, name: str, kind: str
) -> Phase:
    """The clients spread over ``--client-procs`` processes (one Python process cannot sign,
    send and parse fast enough for 200 clients); items dealt round-robin, results merged."""
    procs = max(1, min(args.client_procs, args.clients))
    jobs = [
        (
            base,
            world,
            items[i::procs],
            args.clients // procs + (i < args.clients % procs),
            name,
            kind,
            args.max_seconds,
        )
        for i in range(procs)
    ]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        parts = pool.map(_client_process, jobs)
    merged = Phase(name, elapsed=time.perf_counter() - started)
    for part in parts:
        merged.attempts += part.attempts
        merged.requests += part.requests
        merged.successes += part.successes
        merged.replayed += part.replayed
        merged.refusals.update(part.refusals)
        merged.prepare_unusable.update(part.prepare_unusable)
        merged.errors.update(part.errors)
        merged.request_latency += part.request_latency
        merged.verification_latency += part.verification_latency
        merged.won.update(part.won)
        merged.stopped_early |= part.stopped_early
        merged.client_cpu += part.client_cpu
    return merged


# ===== server process and CPU accounting ======================================================


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def _cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            total += (int(parts[11]) + int(parts[12])) / tick
        except OSError:
            pass
    return total


class Server:
    def __init__(self, mode: str, url: str, world: World, args: argparse.Namespace) -> None:
        workers, pool, admit = args.workers, args.pool, args.admit
        self.port = _free_port()
        env = {
            **os.environ,
            "XIAODIAN_BENCH_MODE": mode,
            "XIAODIAN_BENCH_URL": url,
            "XIAODIAN_BENCH_SHOP": str(world.shop_id),
            "XIAODIAN_BENCH_STORE": str(world.store_id),
            "XIAODIAN_BENCH_APP_KEY": world.app_key,
            "XIAODIAN_BENCH_SECRET": world.secret,
            "XIAODIAN_BENCH_POOL": str(pool),
            "XIAODIAN_BENCH_OVERFLOW": "0",
            "XIAODIAN_BENCH_ADMIT": str(admit),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bench.coupons_verify:server_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,  # its own process group: stop() ends every worker
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers

    def wait_ready(self, timeout: float = 240.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}")
            alive = len(_tree(self.proc.pid)) - (1 if self.workers > 1 else 0)
            try:
                httpx.get(self.base + "/__ready", timeout=2.0)
                if alive >= self.workers:
                    time.sleep(1.5)  # the other worker(s) finish importing
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit("server did not start")

    def cpu(self) -> float:
        return _cpu_seconds(_tree(self.proc.pid))

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        # stalled workers (or orphans of a killed master): the whole group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def run_phase(
    name: str,
    mode: str,
    url: str,
    world: World,
    items: list[Item],
    warm: list[Item],
    args: argparse.Namespace,
) -> tuple[Phase, Phase]:
    server = Server("app" if mode in ("app", "goodlife") else "anchor", url, world, args)
    try:
        server.wait_ready()
        warmed = drive_processes(server.base, world, warm, args, "warm-up", mode)
        cpu0 = server.cpu()
        phase = drive_processes(server.base, world, items, args, name, mode)
        phase.server_cpu = server.cpu() - cpu0
        return phase, warmed
    finally:
        server.stop()


# ===== checks and report ======================================================================


def checks(url: str, world: World, runs: dict[str, Phase]) -> dict[str, int]:
    """Counted by query after every phase (asserted by ``assert_checks`` after the report)."""
    engine = make_engine(url)
    q = {
        # verification rows per claim ≤ 1 (there are no cancellations in this run)
        "claims with >1 verification row": "SELECT count(*) FROM (SELECT claim_id FROM "
        "coupon_verifications GROUP BY claim_id HAVING count(*) > 1) t",
        "verification rows": "SELECT count(*) FROM coupon_verifications",
        "app claims verified": "SELECT count(*) FROM coupon_claims WHERE campaign_id = :app "
        "AND status = 'verified'",
        "app/floor verified claims without exactly 1 row": "SELECT count(*) FROM coupon_claims c "
        "WHERE c.campaign_id IN (:app, :floor) AND c.status = 'verified' "
        "AND (c.verification_id IS NULL OR (SELECT count(*) FROM coupon_verifications v "
        "WHERE v.claim_id = c.id) <> 1)",
        "rows whose claim is not verified": "SELECT count(*) FROM coupon_verifications v "
        "JOIN coupon_claims c ON c.id = v.claim_id WHERE c.status <> 'verified' "
        "OR c.verification_id <> v.id",
        "anchor claims verified": "SELECT count(*) FROM coupon_claims WHERE campaign_id = "
        ":anchor AND status = 'verified'",
        "ceiling claims verified": "SELECT count(*) FROM coupon_claims WHERE campaign_id = "
        ":ceiling AND status = 'verified'",
        "floor claims verified": "SELECT count(*) FROM coupon_claims WHERE campaign_id = "
        ":floor AND status = 'verified'",
        "events coupon.verified": "SELECT count(*) FROM events WHERE type = 'coupon.verified'",
    }
    with engine.connect() as conn:
        out = {
            k: int(conn.execute(text(sql), world.campaigns).scalar_one()) for k, sql in q.items()
        }
    engine.dispose()
    for name, phase in runs.items():
        if not name.endswith("warm-up"):
            out[f"codes won twice (client view, {name})"] = sum(
                1 for n in phase.won.values() if n > 1
            )
    return out


def assert_checks(out: dict[str, int], runs: dict[str, Phase]) -> None:
    assert out["claims with >1 verification row"] == 0, out
    assert out["app/floor verified claims without exactly 1 row"] == 0, out
    assert out["rows whose claim is not verified"] == 0, out
    for name in PHASES:
        assert out[f"codes won twice (client view, {name})"] == 0, out
        # every success the clients saw is one verified claim (warm-up included)
        seen = runs[name].successes + runs[f"{name} warm-up"].successes
        assert out[f"{name} claims verified"] == seen, (name, out)
    rows = out["app claims verified"] + out["floor claims verified"]
    assert out["verification rows"] == rows == out["events coupon.verified"], out
    print("all checks passed: no claim verified twice")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def rate(p: Phase) -> float:
    return p.successes / p.elapsed if p.elapsed else 0.0


def _table_rows(phases: list[Phase]) -> list[tuple[str, ...]]:
    def each(fn: Any) -> tuple[str, ...]:
        return tuple(fn(p) for p in phases)

    rows: list[tuple[str, ...]] = [
        ("verification attempts", *each(lambda p: f"{p.attempts:,}")),
        ("HTTP requests", *each(lambda p: f"{p.requests:,}")),
        ("new verifications (200)", *each(lambda p: f"{p.successes:,}")),
        ("idempotent replays (200, replayed)", *each(lambda p: f"{p.replayed:,}")),
    ]
    for k in sorted(set().union(*(p.refusals for p in phases))):
        rows.append((f"refused: {k}", *each(lambda p, k=k: f"{p.refusals[k]:,}")))
    for k in sorted(set().union(*(p.prepare_unusable for p in phases))):
        rows.append(
            (f"prepare said not usable: {k}", *each(lambda p, k=k: f"{p.prepare_unusable[k]:,}"))
        )
    for k in sorted(set().union(*(p.errors for p in phases))):
        rows.append((f"transport error: {k}", *each(lambda p, k=k: f"{p.errors[k]:,}")))
    rows += [
        ("elapsed s", *each(lambda p: f"{p.elapsed:.1f}")),
        ("verifications/s", *each(lambda p: f"{rate(p):,.0f}")),
        ("HTTP requests/s", *each(lambda p: f"{p.requests / p.elapsed:,.0f}")),
    ]
    for q in (0.5, 0.95, 0.99):
        label = f"verification latency p{int(q * 100)} ms"
        rows.append((label, *each(lambda p, q=q: f"{pct(p.verification_latency, q):.1f}")))
    for q in (0.5, 0.95, 0.99):
        label = f"HTTP request latency p{int(q * 100)} ms"
        rows.append((label, *each(lambda p, q=q: f"{pct(p.request_latency, q):.1f}")))
    rows += [
        ("server CPU (cores busy, avg)", *each(lambda p: f"{p.server_cpu / p.elapsed:.2f}")),
        (
            "server CPU ms per verification",
            *each(lambda p: f"{p.server_cpu / max(p.successes, 1) * 1000:.1f}"),
        ),
        ("client CPU (cores busy, avg)", *each(lambda p: f"{p.client_cpu / p.elapsed:.2f}")),
        ("stopped at --max-seconds", *each(lambda p: str(p.stopped_early))),
    ]
    return rows


def report(runs: dict[str, Phase], found: dict[str, int], dialect: str = "v2") -> None:
    app, anchor, ceiling, floor = (runs[name] for name in PHASES)
    rows = _table_rows([app, anchor, ceiling, floor])
    width = max(len(r[0]) for r in rows)
    app_label = "app (goodlife/v1)" if dialect == "goodlife" else "app (API v2)"
    heads = (app_label, "anchor (1 UPDATE)", "ceiling (2 bare)", "floor (2 signed)")
    print()
    print(f"{'':{width}}" + "".join(f"  {h:>17}" for h in heads))
    for label, *cells in rows:
        print(f"{label:{width}}" + "".join(f"  {c:>17}" for c in cells))
    print()
    for k, v in found.items():
        print(f"check: {k:45} {v:>10,}")

    def ratio(a: Phase, b: Phase) -> float:
        return rate(a) / rate(b) if rate(b) else float("nan")

    print()
    print(
        f"{app_label} {rate(app):,.0f} verifications/s; "
        f"anchor {rate(anchor):,.0f} verifications/s; "
        f"ratio {ratio(app, anchor):.1%} (goal ≥ 70%)"
    )
    print(
        f"two-request ceiling {rate(ceiling):,.0f} verifications/s = "
        f"{ratio(ceiling, anchor):.1%} of the anchor (the best a prepare → verify protocol "
        f"reaches here); app = {ratio(app, ceiling):.1%} of that ceiling"
    )
    print(
        f"signed floor {rate(floor):,.0f} verifications/s = {ratio(floor, ceiling):.1%} of the "
        f"ceiling (the best a faithful C6/C7 implementation reaches here); app = "
        f"{ratio(app, floor):.1%} of the floor"
    )
    print(f"double verifications: {found['claims with >1 verification row']}")


def _terminate(_signum: int, _frame: Any) -> None:
    raise SystemExit("terminated")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--pool", type=int, default=20, help="DB pool size per worker process")
    parser.add_argument(
        "--admit",
        type=int,
        default=-1,
        help="anchor/ceiling: requests admitted at once per worker (default = pool, as the app; "
        "0 = no limit)",
    )
    parser.add_argument("--client-procs", type=int, default=2, help="client processes")
    parser.add_argument("--dup-rate", type=float, default=0.10)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="cap per phase")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5000 codes")
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument(
        "--dialect",
        choices=("v2", "goodlife"),
        default="v2",
        help="the app phase speaks API v2, or 抖音来客 goodlife/v1 under /douyin (issue 12 D5)",
    )
    args = parser.parse_args()
    if args.quick:
        args.codes = min(args.codes, 5000)
    if args.admit < 0:
        args.admit = args.pool
    signal.signal(signal.SIGTERM, _terminate)  # let the finally blocks stop the server
    url = args.db
    if not url.startswith("postgresql"):
        raise SystemExit("P3 runs on PostgreSQL (--db postgresql+psycopg://…)")
    load = os.getloadavg()
    print(
        f"P3 coupon verification over HTTP: {args.codes:,} codes, {args.clients} clients, "
        f"uvicorn --workers {args.workers}, pool {args.pool}/process (overflow 0), "
        f"admission {args.admit or 'unlimited'}/process, {args.client_procs} client processes, "
        f"duplicates {args.dup_rate:.0%}, app dialect {args.dialect}; {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    started = time.perf_counter()
    warm = args.clients * 2
    world = seed(url, args.codes, warm)
    seeded = len(PHASES) * (args.codes + warm)
    print(f"seeded {seeded:,} claims in {time.perf_counter() - started:.1f}s")
    rng = random.Random(7)
    runs: dict[str, Phase] = {}
    for name in PHASES:
        items = workload(world.codes[name], args.dup_rate, args.clients, rng)
        warm_items = [Item(c, f"warm-{c}") for c in world.codes[f"{name}_warm"]]
        mode = "goodlife" if name == "app" and args.dialect == "goodlife" else name
        runs[name], runs[f"{name} warm-up"] = run_phase(
            name, mode, url, world, items, warm_items, args
        )
        print(f"{name} phase done in {runs[name].elapsed:.1f}s")
    found = checks(url, world, runs)
    report(runs, found, args.dialect)
    assert_checks(found, runs)
    print(f"total run {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
