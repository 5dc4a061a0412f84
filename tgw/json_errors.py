"""`--format json` answers every outcome on stdout, errors included.

A command asked for JSON that ends in error having written nothing to stdout (a missing file, a
usage error, a service it cannot reach) leaves a JSON consumer with no document. `tgw` main runs
such a command with stdout watched and stderr copied; if it wrote nothing and failed, it prints
the error as the gateway's API does, `{"code", "message"}`, with the exit code, which stays as it
was. What the command said on stderr stays there too.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from messages.errors import CODES

__all__ = ["asks_json", "error_document", "run_answering_json"]

STDERR_KEPT = 8_000  # characters of stderr kept for the message: an error says why in a line or two
_PREFIX = re.compile(r"^tgw(?: [a-z][\w-]*)*: (?:error: )?")  # "tgw dlq list: error: " before the message
_CODE = re.compile(r"^([a-z][a-z0-9]*(?:-[a-z0-9]+)*): ")
_UNREADABLE = re.compile(r"No such file or directory|Permission denied|Is a directory|Not a directory", re.I)


def asks_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for `--format json`."""
    return any(a == "--format=json" or (a == "--format" and i + 1 < len(args) and args[i + 1] == "json")
               for i, a in enumerate(args))


class _Watched:
    """A text stream that remembers whether anything was written to it, and keeps the tail of it."""

    def __init__(self, stream: TextIO, keep: int = 0) -> None:
        self._stream, self._keep = stream, keep
        self.wrote = False
        self.text = ""

    def write(self, s: str) -> int:
        if s:
            self.wrote = True
            if self._keep:
                self.text = (self.text + s)[-self._keep:]
        return self._stream.write(s)

    def __getattr__(self, name: str) -> Any:  # flush, buffer, fileno, isatty...: the stream's own
        if name == "buffer":
            self.wrote = True  # bytes written past the text layer: taken as written
        return getattr(self._stream, name)


def error_document(code: int, stderr: str) -> dict[str, Any]:
    """The JSON error of a command that ended with exit `code` after saying `stderr`."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    said, in_usage = [], False
    for line in lines:  # argparse prints its usage block first: only its error line says what is wrong
        if line.startswith("usage:"):
            in_usage = True
        if in_usage and not line.startswith("tgw"):
            continue
        in_usage = False
        said.append(_PREFIX.sub("", line))
    message = "\n".join(said) or f"exit {code}"
    m = _CODE.match(message)
    if m and m.group(1) in CODES:
        return {"code": m.group(1), "message": message[m.end():], "exit": code}
    unreadable = code == 2 and _UNREADABLE.search(message)
    return {"code": "io-unreadable" if unreadable else "usage" if code == 2 else "failed", "message": message,
            "exit": code}


def run_answering_json(run: Callable[[], int]) -> int:
    """`run()` with stdout watched and stderr copied; a failure with nothing on stdout answers the
    JSON error there. argparse's own exits (usage errors) count as returns."""
    out, err = _Watched(sys.stdout), _Watched(sys.stderr, STDERR_KEPT)
    sys.stdout, sys.stderr = out, err
    try:
        try:
            code = run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1 if exc.code else 0
    finally:
        sys.stdout, sys.stderr = out._stream, err._stream
    if code and not out.wrote:
        print(json.dumps(error_document(code, err.text), ensure_ascii=False))
    return code
