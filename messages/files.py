"""Whole files written so that a reader sees the old content or the new, never half of it.

Keys, calendar blocks, the participant registry, the MQTT ACL and the ready file are read by
other processes while they change (a watcher polls, a script waits for the URL): each write goes
to a temporary file in the same directory, is flushed to disk, then renamed over the old name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, data: bytes | str, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` in one rename; `mode` is set before any byte is written."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
