"""messages.files.open_regular: what is read from outside is a regular file, or refused before a read."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from messages.files import NotRegularFileError, open_regular, read_regular_text


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


def _refused_at_once(path: Path, says: str) -> None:
    """open_regular(path) raises io-not-regular naming `says`, in a thread: a regression that blocks
    on the pipe fails the test after 10 s instead of hanging the run."""
    seen: list[NotRegularFileError] = []

    def attempt() -> None:
        try:
            with open_regular(path):
                pass
        except NotRegularFileError as exc:
            seen.append(exc)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "open_regular waited on the pipe"
    assert [e.code for e in seen] == ["io-not-regular"] and says in str(seen[0])


def test_a_pipe_a_link_to_one_or_a_device_is_refused_without_waiting(tmp_path: Path) -> None:
    _fifo(tmp_path / "p.xml")
    (tmp_path / "link.xml").symlink_to(tmp_path / "p.xml")
    _refused_at_once(tmp_path / "p.xml", "named pipe")
    _refused_at_once(tmp_path / "link.xml", "named pipe")
    _refused_at_once(Path("/dev/zero"), "character device")


def test_a_directory_a_socket_and_nothing_are_os_errors(tmp_path: Path) -> None:
    _socket(tmp_path / "s.xml")
    with pytest.raises(IsADirectoryError), open_regular(tmp_path):
        pass
    with pytest.raises(OSError), open_regular(tmp_path / "s.xml"):  # ENXIO: a socket is not opened
        pass
    with pytest.raises(FileNotFoundError), open_regular(tmp_path / "gone.xml"):
        pass


SAMPLE = str(Path(__file__).resolve().parents[1] / "samples" / "5201" / "original.xml")

# Every file a command reads, named as a FIFO ("{p}"); "{d}" is an empty directory.
FIFO_COMMANDS = [
    ["validate", "{p}"],
    ["validate", "--certs", "{d}/certs", SAMPLE],  # a *.pem in the certificate directory is a FIFO
    ["sign", "--key", "{p}", "--cert", "{p}", "--position", "1", SAMPLE],
    ["sign", "--key", SAMPLE, "--cert", SAMPLE, "--position", "1", "{p}"],
    ["verify", "{p}", "--certs", "{d}"],
    ["keys", "show", "{p}"],
    ["participants", "list", "--file", "{p}"],
    ["monitor", "rules", "validate", "{p}"],
    ["monitor", "rules", "show", "{p}"],
    ["calendar", "load", "{p}", "--calendar-dir", "{d}"],
    ["clock", "--calendar-overrides", "{p}"],
    ["up", "--config", "{p}"],
    ["sim", "faults", "--seeds", "1", "--quiet", "--resume", "{p}"],
]


@pytest.mark.parametrize("command", FIFO_COMMANDS, ids=" ".join)
def test_every_command_refuses_a_pipe_where_it_reads_a_file(tmp_path: Path, command: list[str]) -> None:
    import subprocess
    import sys

    _fifo(tmp_path / "p.xml")
    (tmp_path / "d" / "certs").mkdir(parents=True)
    _fifo(tmp_path / "d" / "certs" / "x.pem")
    args = [a.format(p=tmp_path / "p.xml", d=tmp_path / "d") for a in command]
    # was: each of these blocked forever in open(), waiting for a writer
    r = subprocess.run([sys.executable, "-m", "tgw", *args], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "io-not-regular" in r.stdout + r.stderr and "named pipe" in r.stdout + r.stderr


def test_read_regular_text_reads_a_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("金: 1\n", encoding="utf-8")
    assert read_regular_text(tmp_path / "a.yaml") == "金: 1\n"
