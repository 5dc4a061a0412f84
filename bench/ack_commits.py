"""Acks one id at a time from many clients at once: own transactions vs the journal's group commit.

    python -m bench.ack_commits [--clients 32] [--acks 1000] [--repeat 3]

A journal (started, on SQLite with synchronous=FULL) holds `--acks` ready outbox rows; `--clients`
tasks ack them one id each call, all at once, through `Outbox.ack`: first with a transaction per
ack (`in_commit` unset, as before), then riding `Journal.in_commit`. Alternating rounds, each on
a fresh database in this process. Prints commits and CPU µs per ack (process time: the commit
thread included); nothing asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.journal import Journal
from gateway.outbox import Outbox
from storage.db import SqliteDatabase


class _Counting(SqliteDatabase):
    transactions = 0

    def transaction(self) -> Any:
        self.transactions += 1
        return super().transaction()


async def _round(path: Path, acks: int, clients: int, batched: bool) -> tuple[int, float]:
    db = _Counting(str(path))
    journal = Journal(db)
    await journal.start()
    ids = [f"m{n:024d}" for n in range(acks)]
    async with db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO gw_messages (id, adm_div_code, st_year, vtcode, voucher_no, flag, digest, sender, "
            "recipient, original_id, payload, received_us, business_time, owner) "
            "VALUES ($1, '110000', '2026', '5201', $1, 0, $2, 'T', 'B', NULL, $2, 0, 't', 'T')",
            [(i, b"x") for i in ids])
        await tx.executemany("INSERT INTO gw_outbox (seq, message_id, recipient, state) "
                             "SELECT seq, id, 'B', 'ready' FROM gw_messages WHERE id = $1", [(i,) for i in ids])
    outbox = Outbox(db, in_commit=(lambda work, weight: journal.in_commit(work, weight=weight)) if batched else None)
    db.transactions = 0

    async def client(mine: list[str]) -> None:
        for mid in mine:
            assert await outbox.ack("B", [mid], at_us=1, business_time="t") == [mid]

    cpu0 = time.process_time()
    await asyncio.gather(*(client(ids[c::clients]) for c in range(clients)))
    cpu = time.process_time() - cpu0
    commits = db.transactions
    await journal.stop()
    await db.close()
    return commits, cpu / acks * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--acks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[tuple[int, float]]] = {"own transaction": [], "group commit": []}
    with tempfile.TemporaryDirectory(prefix="tgw-acks-") as tmp:
        for r in range(args.repeat):
            for label, batched in (("own transaction", False), ("group commit", True)):
                commits, us = asyncio.run(_round(Path(tmp) / f"{r}-{batched}.db", args.acks, args.clients, batched))
                figures[label].append((commits, us))
                print(f"round {r + 1} {label}: {commits} commits for {args.acks} acks; {us:.1f} µs CPU per ack")
    for label, runs in figures.items():
        print(f"{label}: median {statistics.median(u for _, u in runs):.1f} µs CPU per ack, "
              f"commits {[c for c, _ in runs]}")


if __name__ == "__main__":
    main()
