"""Delivery modes (pull or push) switched on a running gateway: `tgw participants set --delivery`.

The registry file is read once, at start (`gateway.participants`); a participant's delivery mode
is the one setting a running gateway takes from its database afterwards. At start `tgw up` writes
every participant's mode into `gw_delivery_modes` (the file wins at each start: keep it in step
with `tgw participants set --file`); `tgw participants set --db` changes a row; each gateway
worker reads the table every `DELIVERY_MODES_POLL_S` and applies a change (`apply_modes`):

* pull -> push: the MQTT adapter registers the participant's pusher; every `ready` row of its
  outbox (never acknowledged) is pushed from the next delivery round on. A row already read over
  `GET /v1/inbox` but not acknowledged is pushed too, under its message id: the ack of either
  transport settles it once. Acknowledged rows are never pushed.
* push -> pull: its pusher is unregistered: nothing more is published on `tgw/v1/ID/inbox`. A push
  in flight (published, not yet acknowledged) stays `ready` and is listed by `GET /v1/inbox` under
  the same message id; an ack over MQTT that comes late still settles it (acks are taken on both
  transports in either mode), and once acknowledged it is neither listed nor pushed again. Dead
  letters stay dead until `tgw dlq replay` (which lists them on the inbox of a pull participant).

Nothing is copied or moved: the outbox rows stay where they are, in their state; only who is
pushed changes. So nothing acknowledged is lost, and no row is acknowledged (delivered) twice:
`Outbox.ack` changes a row once.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import structlog

from gateway.participants import Registry
from storage.db import Database

__all__ = ["DELIVERY_MODES_POLL_S", "DELIVERY_TABLE", "apply_modes", "publish_registry", "read_modes", "set_mode",
           "watch_delivery_modes"]

log = structlog.get_logger("tgw.gateway")

DELIVERY_TABLE = "gw_delivery_modes"
# One small SELECT a second per worker: a switch takes effect within a second, at no cost to speak of.
DELIVERY_MODES_POLL_S = 1.0
_DDL = (f"CREATE TABLE IF NOT EXISTS {DELIVERY_TABLE} (participant TEXT PRIMARY KEY, "
        "delivery TEXT NOT NULL CHECK (delivery IN ('pull', 'push')), changed_us BIGINT NOT NULL)")


def _now_us() -> int:
    import time

    return time.time_ns() // 1000


async def publish_registry(db: Database, registry: Registry) -> None:
    """At start: the table holds exactly the registry's participants with their modes."""
    async with db.transaction() as tx:
        await tx.execute(_DDL)
        await tx.execute(f"DELETE FROM {DELIVERY_TABLE}")
        now = _now_us()
        await tx.executemany(f"INSERT INTO {DELIVERY_TABLE} (participant, delivery, changed_us) VALUES ($1, $2, $3)",
                             [(p.id, p.delivery, now) for p in registry])


async def read_modes(db: Database) -> dict[str, str]:
    rows = await db.fetch(f"SELECT participant, delivery FROM {DELIVERY_TABLE}")
    return {str(r[0]): str(r[1]) for r in rows}


async def set_mode(db: Database, participant_id: str, delivery: str) -> str | None:
    """Set one participant's mode; its previous mode, or None if the running gateway's registry
    has no such participant (nothing changed)."""
    if delivery not in ("pull", "push"):
        raise ValueError(f"delivery must be pull or push, not {delivery!r}")
    async with db.transaction() as tx:
        rows = await tx.fetch(f"SELECT delivery FROM {DELIVERY_TABLE} WHERE participant = $1", participant_id)
        if not rows:
            return None
        if rows[0][0] != delivery:
            await tx.execute(f"UPDATE {DELIVERY_TABLE} SET delivery = $1, changed_us = $2 WHERE participant = $3",
                             delivery, _now_us(), participant_id)
        return str(rows[0][0])


def apply_modes(gateway: Any, modes: dict[str, str], on_change: Callable[[], None] | None = None) -> list[str]:
    """Give `gateway.registry` these modes (participants it lacks are ignored); the ids changed.
    `on_change` (the MQTT adapter's `sync_pushers`) runs once if any did."""
    registry: Registry = gateway.registry
    changed = [dataclasses.replace(p, delivery=modes[p.id]) for p in registry
               if modes.get(p.id, p.delivery) != p.delivery]
    if not changed:
        return []
    gateway.registry = registry.replacing(changed)
    for p in changed:
        log.info("participant.delivery_changed", participant=p.id, delivery=p.delivery)
    if on_change is not None:
        on_change()
    return [p.id for p in changed]


async def watch_delivery_modes(gateway: Any, on_change: Callable[[], None] | None,
                               interval_s: float = DELIVERY_MODES_POLL_S) -> None:
    """`tgw up`'s background task: apply the table's modes every `interval_s`."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            apply_modes(gateway, await read_modes(gateway.db), on_change)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the database down: the modes in force stay, try again
            log.warning("participant.delivery_read_failed", error=str(exc))
