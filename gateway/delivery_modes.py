"""Delivery modes (pull or push) switched on a running gateway: `tgw participants set --delivery`.

The registry file is read once, at start (`gateway.participants`); a participant's delivery mode
is the one setting a running gateway takes from its database afterwards. `tgw participants set --db`
changes a row of `gw_delivery_modes`; each gateway worker reads the table every
`DELIVERY_MODES_POLL_S` and applies a change (`apply_modes`).

**At start** (`publish_registry`) a change acknowledged by `tgw participants set` is never lost,
whichever place it changed: the table keeps, beside the modes in force, the mode the file gave
each participant at the last start (`gw_delivery_file`). A participant's mode in force is then

| the file's mode, against the last start's | the mode in force |
|---|---|
| changed (an edit, `set --file`) | the file's: the newer change |
| the same | the table's: a `set --db` since the last start stands (a worker restarting alone keeps it) |
| no record (new participant; a table from before `gw_delivery_file`) | the file's |

"Changed" is by value: the file keeps no history, so a file changed and changed back since the
last start is the same. With two modes, both places changed since the last start means both say
the same, except a table switched and switched back: the file's change then wins and the start
logs `participant.delivery_conflict` (warning) naming both, so neither is lost silently. The table
then holds exactly the file's participants; the worker takes the modes in force before it serves.
Workers starting at once (PostgreSQL) each reach the same modes: the tables are created under
the script lock (`execute_script`) and written with upserts.

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

__all__ = ["DELIVERY_MODES_POLL_S", "DELIVERY_TABLE", "FILE_TABLE", "apply_modes", "publish_registry", "read_modes",
           "set_mode", "starting_mode", "watch_delivery_modes"]

log = structlog.get_logger("tgw.gateway")

DELIVERY_TABLE = "gw_delivery_modes"
FILE_TABLE = "gw_delivery_file"  # each participant's mode in the registry file at the last start
# One small SELECT a second per worker: a switch takes effect within a second, at no cost to speak of.
DELIVERY_MODES_POLL_S = 1.0
_DDL = (f"CREATE TABLE IF NOT EXISTS {DELIVERY_TABLE} (participant TEXT PRIMARY KEY, "
        "delivery TEXT NOT NULL CHECK (delivery IN ('pull', 'push')), changed_us BIGINT NOT NULL);\n"
        f"CREATE TABLE IF NOT EXISTS {FILE_TABLE} (participant TEXT PRIMARY KEY, "
        "delivery TEXT NOT NULL CHECK (delivery IN ('pull', 'push')), published_us BIGINT NOT NULL);\n")


def _now_us() -> int:
    import time

    return time.time_ns() // 1000


def starting_mode(file_mode: str, last_file_mode: str | None, table_mode: str | None) -> str:
    """A participant's mode in force at a start (module doc): the file's when it changed since the last
    start or nothing is recorded, else the table's."""
    if table_mode is None or last_file_mode is None or file_mode != last_file_mode:
        return file_mode
    return table_mode


async def publish_registry(db: Database, registry: Registry) -> dict[str, str]:
    """At start: the table holds exactly the registry's participants, each with its mode in force
    (`starting_mode`); returned, participant id → mode, for the worker to apply before it serves."""
    await db.execute_script(_DDL)  # under PostgreSQL's script lock: workers starting at once do not race
    async with db.transaction() as tx:
        rows = await tx.fetch(f"SELECT participant, delivery, changed_us FROM {DELIVERY_TABLE}")
        table, changed = {str(r[0]): str(r[1]) for r in rows}, {str(r[0]): int(r[2]) for r in rows}
        rows = await tx.fetch(f"SELECT participant, delivery, published_us FROM {FILE_TABLE}")
        last, published = {str(r[0]): str(r[1]) for r in rows}, {str(r[0]): int(r[2]) for r in rows}
        modes = {p.id: starting_mode(p.delivery, last.get(p.id), table.get(p.id)) for p in registry}
        for p in registry:
            if modes[p.id] != p.delivery:
                log.info("participant.delivery_kept", participant=p.id, delivery=modes[p.id], file=p.delivery)
            elif p.id in last and p.delivery != last[p.id] and changed.get(p.id, 0) > published[p.id]:
                log.warning("participant.delivery_conflict", participant=p.id, delivery=p.delivery,
                            table=table.get(p.id), detail="the file changed since the last start and the table "
                            "was switched since too (and back): the file's mode is taken")
        now = _now_us()
        gone = [(pid,) for pid in sorted(table.keys() | last.keys()) if pid not in modes]  # one order: no deadlock
        await tx.executemany(f"DELETE FROM {DELIVERY_TABLE} WHERE participant = $1", gone)
        await tx.executemany(f"DELETE FROM {FILE_TABLE} WHERE participant = $1", gone)
        await tx.executemany(f"INSERT INTO {DELIVERY_TABLE} (participant, delivery, changed_us) VALUES ($1, $2, $3) "
                             "ON CONFLICT (participant) DO UPDATE SET delivery = excluded.delivery, "
                             "changed_us = excluded.changed_us",
                             [(pid, mode, now) for pid, mode in modes.items() if table.get(pid) != mode])
        await tx.executemany(f"INSERT INTO {FILE_TABLE} (participant, delivery, published_us) VALUES ($1, $2, $3) "
                             "ON CONFLICT (participant) DO UPDATE SET delivery = excluded.delivery, "
                             "published_us = excluded.published_us", [(p.id, p.delivery, now) for p in registry])
    return modes


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
