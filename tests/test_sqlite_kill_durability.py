"""storage.db: a writer SIGKILLed in the middle of its stream of commits, with WAL checkpoints
running in its COMMITs, loses none of the commits it had acknowledged."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

_WRITER = """
import asyncio, os, sys
import storage.db as sdb
async def main() -> None:
    db = sdb.SqliteDatabase(sys.argv[1])
    if sys.argv[2] != "default":  # a checkpoint every few commits before the kill
        db._writer.execute(f"PRAGMA wal_autocheckpoint={sys.argv[2]}")
    await db.execute_script("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v BLOB)")
    i = 0
    while True:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (k, v) VALUES ($1, $2)", f"k{i:07d}", os.urandom(1500))
        print(f"k{i:07d}", flush=True)  # acknowledged: the COMMIT returned
        i += 1
asyncio.run(main())
"""


@pytest.mark.parametrize(("acked_before_kill", "checkpoint"), [(150, "40"), (700, "40"), (1500, "default")])
def test_every_acknowledged_commit_survives_a_kill_during_checkpoints(tmp_path: Path, acked_before_kill: int,
                                                                      checkpoint: str) -> None:
    """SIGKILL the writer at some point in its commits: every commit it had acknowledged is in the
    database afterwards, which is intact. `default`: the database's own checkpoint size
    (storage.db.WAL_AUTOCHECKPOINT_FRAMES; ~1,100 of these commits fill it, so the kill comes after
    the first checkpoint, while the WAL is being written over from its start)."""
    path = tmp_path / "t.db"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), checkpoint], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    acked: list[str] = []
    try:
        while len(acked) < acked_before_kill:
            line = proc.stdout.readline()
            assert line, "the writer ended early"
            acked.append(line.strip())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    checkpointed = path.stat().st_size > 10 * 4096  # pages copied into the database file before the kill
    assert checkpointed
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        present = {k for (k,) in conn.execute("SELECT k FROM t")}
    assert set(acked) <= present
