"""messages.files.write_atomic: the old content or the new, never a half-written file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from messages.files import write_atomic


def test_replaces_content_with_the_mode_asked(tmp_path: Path) -> None:
    target = tmp_path / "key.pem"
    target.write_text("old", encoding="utf-8")
    write_atomic(target, "新的内容", mode=0o600)
    assert target.read_text(encoding="utf-8") == "新的内容"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key.pem"]  # no temporary file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "ready"
    target.write_bytes(b"http://127.0.0.1:1")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, b"http://127.0.0.1:2")
    assert target.read_bytes() == b"http://127.0.0.1:1"
    assert [p.name for p in tmp_path.iterdir()] == ["ready"]


def test_the_name_never_points_at_an_empty_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoever polls for the name sees it only once it holds every byte: the rename comes last."""
    target = tmp_path / "ready"
    seen: list[bool] = []
    real_replace = os.replace

    def watching_replace(src: str, dst: Path) -> None:
        seen.append(Path(dst).exists())
        assert Path(src).read_text(encoding="utf-8") == "http://127.0.0.1:8080"
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", watching_replace)
    write_atomic(target, "http://127.0.0.1:8080")
    assert seen == [False]
    assert target.read_text(encoding="utf-8") == "http://127.0.0.1:8080"


def test_the_ready_file_may_be_a_pipe_read_as_it_is_written(tmp_path: Path) -> None:
    """The documented conformance script waits on `mkfifo ready`: the URL goes into the pipe,
    the pipe is not replaced by a regular file (a reader blocked on it would wait forever)."""
    import threading

    from gateway.server import announce_ready

    pipe = tmp_path / "ready"
    os.mkfifo(pipe)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(pipe.read_text(encoding="utf-8")))
    reader.start()
    announce_ready(pipe, "http://127.0.0.1:8470")
    reader.join(timeout=30)
    assert got == ["http://127.0.0.1:8470"]
    assert stat.S_ISFIFO(pipe.stat().st_mode)


def test_a_regular_ready_file_is_renamed_into_place(tmp_path: Path) -> None:
    from gateway.server import announce_ready

    ready = tmp_path / "ready"
    announce_ready(ready, "http://127.0.0.1:8470")
    assert ready.read_text(encoding="utf-8") == "http://127.0.0.1:8470"
    assert [p.name for p in tmp_path.iterdir()] == ["ready"]
