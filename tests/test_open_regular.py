"""messages.files.open_regular: what is read from outside is a regular file, or refused before a read."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from messages.errors import InputError
from messages.files import open_regular


def test_a_regular_file_and_a_link_to_one_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(b"<a/>")
    (tmp_path / "link.xml").symlink_to(tmp_path / "a.xml")
    for name in ("a.xml", "link.xml"):
        with open_regular(tmp_path / name) as (f, size):
            assert (f.read(), size) == (b"<a/>", 4)


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _socket(p: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()


@pytest.mark.parametrize(("make", "says"), [(_fifo, "named pipe"), (None, "character device")])
def test_a_pipe_or_device_is_refused_without_waiting(tmp_path: Path, make: object, says: str) -> None:
    path = Path("/dev/zero")
    if make is not None:
        path = tmp_path / "x.xml"
        _fifo(path)
    done = threading.Event()

    def attempt() -> None:
        with pytest.raises(InputError) as exc, open_regular(path):
            pass
        assert exc.value.code == "io-not-regular" and says in str(exc.value)
        done.set()

    t = threading.Thread(target=attempt, daemon=True)  # a daemon: a regression blocks the thread, not the run
    t.start()
    t.join(10)
    assert done.is_set(), "open_regular waited on the pipe"


def test_a_link_to_a_pipe_is_refused_too(tmp_path: Path) -> None:
    _fifo(tmp_path / "p")
    (tmp_path / "x.xml").symlink_to(tmp_path / "p")
    with pytest.raises(InputError, match="named pipe"), open_regular(tmp_path / "x.xml"):
        pass


def test_a_directory_a_socket_and_nothing_are_os_errors(tmp_path: Path) -> None:
    _socket(tmp_path / "s.xml")
    with pytest.raises(IsADirectoryError), open_regular(tmp_path):
        pass
    with pytest.raises(OSError), open_regular(tmp_path / "s.xml"):  # ENXIO: a socket is not opened
        pass
    with pytest.raises(FileNotFoundError), open_regular(tmp_path / "gone.xml"):
        pass
