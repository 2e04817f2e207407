"""S9 honest refusals under races (issue 11): an extension that loses to a reclaim says the
packet was reclaimed; one that loses to another extension says ``extension_limit``.

PostgreSQL: real concurrent connections — the winner holds its row lock uncommitted while the
loser's UPDATE waits on it (seen in pg_stat_activity), then the winner commits. SQLite takes
one writer at a time (BEGIN IMMEDIATE), so there the loser runs after the winner: sequenced."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import text

from tests.redpackets.conftest import World
from xiaodian.errors import Conflict
from xiaodian.redpackets import service
from xiaodian.redpackets import sweeps as sweeps

DAY = 86_400


def _expired_packet(world: World) -> int:
    world.rt.settings.redpackets.max_extensions = 1  # a limit is set (default: none, F7)
    world.fund(100_00)
    _buyer_id, douyin_id, _token = world.buyer()
    [packet_id] = world.issue([douyin_id], 10_00)
    world.rt.clock.advance(3 * DAY + 60)  # type: ignore[attr-defined]
    with world.rt.unit() as ctx:
        sweeps.expire(ctx)  # R4 recorded: the loser's own expiry step has nothing to write
    return packet_id


def _extend(world: World, packet_id: int, seconds: int = 3 * DAY) -> Any:
    with world.rt.unit("user:1") as ctx:
        return service.extend(ctx, world.shop_id, packet_id, seconds)


def _race(world: World, winner: Any, packet_id: int) -> Conflict:
    """``winner`` runs in an open transaction; the loser's extension starts, reads, and waits
    on the winner's row lock; then the winner commits. Returns the loser's refusal."""
    outcome: dict[str, Any] = {}

    def loser() -> None:
        try:
            outcome["ok"] = _extend(world, packet_id)
        except Conflict as exc:
            outcome["error"] = exc

    with world.rt.unit("user:1") as ctx:
        winner(ctx)
        thread = threading.Thread(target=loser)
        thread.start()
        deadline = time.monotonic() + 20
        with world.rt.engine.connect() as watch:
            while True:
                # The loser's conditional UPDATE (the extension itself) waits on the lock.
                waiting = watch.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'UPDATE redpackets SET status%extension_count%'"
                    )
                ).scalar_one()
                watch.commit()
                if waiting:
                    break
                assert thread.is_alive() and time.monotonic() < deadline, outcome
                time.sleep(0.02)
    thread.join(timeout=20)
    assert "error" in outcome, outcome
    error: Conflict = outcome["error"]
    return error


def test_S9_extend_losing_to_a_reclaim_says_reclaimed_pg(world: World, pg_only: None) -> None:
    packet_id = _expired_packet(world)
    error = _race(world, lambda ctx: service.reclaim(ctx, world.shop_id, packet_id), packet_id)
    assert error.code == "already_reclaimed", error.message_en
    assert "已被回收" in error.message_zh and "¥0.00" not in error.message_zh
    packet = world.packet(packet_id)
    assert packet.status == "reclaimed" and packet.extension_count == 0
    assert world.audit() == []


def test_S9_extend_losing_to_an_extend_says_extension_limit_pg(world: World, pg_only: None) -> None:
    packet_id = _expired_packet(world)
    error = _race(
        world, lambda ctx: service.extend(ctx, world.shop_id, packet_id, 3 * DAY), packet_id
    )
    assert error.code == "extension_limit", error.message_en
    assert "最多延长 1 次" in error.message_zh
    assert world.packet(packet_id).extension_count == 1


@pytest.mark.parametrize("first", ["reclaim", "extend"])
def test_S9_extend_after_the_winner_committed_is_told_why(world: World, first: str) -> None:
    """Sequenced (what SQLite's single writer does with two concurrent requests): the loser
    reads the winner's result. The winner's extension of 3 days left the packet far from
    expiring; the loser still hears the limit, not "not expiring yet"."""
    packet_id = _expired_packet(world)
    if first == "reclaim":
        with world.rt.unit("user:1") as ctx:
            service.reclaim(ctx, world.shop_id, packet_id)
    else:
        _extend(world, packet_id)
    with pytest.raises(Conflict) as info:
        _extend(world, packet_id)
    expected = "already_reclaimed" if first == "reclaim" else "extension_limit"
    assert info.value.code == expected, info.value.message_en
    assert world.audit() == []


def test_S9_bulk_extend_reports_each_loser_honestly(world: World) -> None:
    packet_id = _expired_packet(world)
    _extend(world, packet_id)
    with world.rt.unit("user:1") as ctx:
        results = service.extend_many(ctx, world.shop_id, [packet_id], DAY)
    assert [r.code for r in results] == ["extension_limit"]
