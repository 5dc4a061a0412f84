"""A SQLite writer connection for tests of where and how a COMMIT runs."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

__all__ = ["CommitRecorder"]


class CommitRecorder:
    """A writer connection that notes which thread ran each COMMIT, and whose next COMMIT fails
    (as a full disk would) when `fail_next_commit` is set."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.commit_threads: list[threading.Thread] = []
        self.fail_next_commit = False

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            self.commit_threads.append(threading.current_thread())
            if self.fail_next_commit:
                self.fail_next_commit = False
                raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
