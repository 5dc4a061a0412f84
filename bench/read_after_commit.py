"""CPU of one point lookup through `storage.db.SqliteDatabase` right after a commit, and of the next.

    PYTHONPATH=<checkout> python -m bench.read_after_commit [label]

A 30,000-row table; 2,000 rounds of a 2-row commit, a primary-key `fetchrow`, and a second one.
Run it with another checkout first on PYTHONPATH to compare (alternate the two). Prints only.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time

from storage.db import SqliteDatabase

_ROW = "INSERT INTO p VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
_QUERY = "SELECT digest, outcome, hold, sender FROM p WHERE a = $1 AND b = $2 AND c = $3 AND d = $4"


def _row(no: str) -> tuple[object, ...]:
    return ("110000", "2026", "5201", no, os.urandom(32), "pass", None, "BANK")


async def main(label: str, rounds: int = 2000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = SqliteDatabase(os.path.join(tmp, "t.db"))
        await db.execute_script("CREATE TABLE p (a TEXT, b TEXT, c TEXT, d TEXT, digest BLOB, outcome TEXT, "
                                "hold TEXT, sender TEXT, PRIMARY KEY (a, b, c, d));")
        async with db.transaction() as tx:
            await tx.executemany(_ROW, [_row(f"V{i:08d}") for i in range(30000)])
        first = second = 0
        for n in range(rounds):
            async with db.transaction() as tx:
                await tx.executemany(_ROW, [_row(f"X{2 * n:08d}"), _row(f"X{2 * n + 1:08d}")])
            key = ("110000", "2026", "5201", f"V{random.randrange(30000):08d}")
            t0 = time.thread_time_ns()
            await db.fetchrow(_QUERY, *key)
            first += time.thread_time_ns() - t0
            key = ("110000", "2026", "5201", f"V{random.randrange(30000):08d}")
            t0 = time.thread_time_ns()
            await db.fetchrow(_QUERY, *key)
            second += time.thread_time_ns() - t0
        await db.close()
    print(f"{label}: {first / rounds / 1000:.1f} µs CPU per point lookup after a commit, "
          f"{second / rounds / 1000:.1f} the next")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "this checkout"))
