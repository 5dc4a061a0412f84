"""A `tgw` command's error: one coded object that the text and the JSON layers both read.

A command (or a helper of its own in tgw/) that cannot do what it was asked raises
`CommandError(code, message, exit=..., path=...)`; `tgw` main catches it and says it once: on
stderr as `tgw COMMAND: error: CODE: message` (argparse's own form; `usage` and `failed` name no
code there), and, under `--format json`, on stdout as `{"code", "message", "exit"}` (with `path`
and `line` when the error names an element or a line) with the same exit code. The code is one
of messages/errors.py's CODES. Library functions below tgw/ raise `InputError` (coded already);
main reads those the same way (`CommandError.of`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from messages.errors import CODES, InputError, Issue
from messages.files import UNREADABLE_CODES

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "CommandError", "asks_json", "choose_action"]

EXIT_FAILED, EXIT_USAGE = 1, 2
# Codes a text line does not repeat: the line says what is wrong in words (as argparse's do).
_UNNAMED = frozenset({"usage", "failed"})


class CommandError(Exception):
    """What went wrong (`code` from messages.errors.CODES, `message`), where (`path`: the element,
    file or field at fault; `line`), and the exit code it ends the command with (1 the operation
    failed, 2 usage or input that cannot be read or reached). `more`: further issues, said after it."""

    def __init__(self, code: str, message: str, *, exit: int = EXIT_FAILED, path: str | None = None,
                 line: int | None = None, more: Sequence[Issue] = (), prog: str | None = None) -> None:
        if code not in CODES:
            raise ValueError(f"unregistered error code {code!r}")
        if exit not in (EXIT_FAILED, EXIT_USAGE):
            raise ValueError(f"a command error exits 1 or 2, not {exit!r}")
        super().__init__(message)
        self.code, self.message, self.exit, self.path, self.line = code, message, exit, path, line
        self.more = tuple(more)
        self.prog = prog  # the command that says it ("tgw keys show"); main fills it in when None

    @classmethod
    def usage(cls, message: str) -> CommandError:
        """A bad command line, said in words (exit 2)."""
        return cls("usage", message, exit=EXIT_USAGE)

    @classmethod
    def of(cls, exc: InputError, *, exit: int | None = None) -> CommandError:
        """An InputError as the command's error: its first issue, the others as `more`. The exit code
        by default: 2 for a file not read at all (UNREADABLE_CODES), else 1."""
        first = exc.issues[0]
        if exit is None:
            exit = EXIT_USAGE if first.code in UNREADABLE_CODES else EXIT_FAILED
        return cls(first.code, first.message, exit=exit, path=first.path, line=first.line,
                   more=exc.issues[1:])

    def as_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"code": self.code, "message": self.message, "exit": self.exit}
        if self.path is not None:
            doc["path"] = self.path
        if self.line is not None:
            doc["line"] = self.line
        if self.more:
            doc["more"] = [i.as_dict() for i in self.more]
        return doc

    def text(self) -> str:
        """The lines on stderr: `PROG: error: CODE line N at PATH: message` (PATH when the message does not
        name it already), then one line per further issue."""
        path = None if self.path is not None and self.path in self.message else self.path  # said once
        if self.code in _UNNAMED and path is None and self.line is None:
            head = self.message
        else:
            head = str(Issue(self.code, self.message, self.line, path))
        return "\n".join([f"{self.prog or 'tgw'}: error: {head}", *(f"  {i}" for i in self.more)])

    def report(self, *, as_json: bool, out: TextIO, err: TextIO) -> int:
        """Say it (the text line on `err`; the JSON document on `out` too when asked) and return the exit code."""
        print(self.text(), file=err)
        if as_json:
            print(json.dumps(self.as_dict(), ensure_ascii=False), file=out)
        return self.exit


def asks_json(args: Sequence[str]) -> bool:
    """Whether the command line asks for `--format json` (read before it is parsed: a usage error
    is answered in JSON too)."""
    return any(a == "--format=json" or (a == "--format" and i + 1 < len(args) and args[i + 1] == "json")
               for i, a in enumerate(args))


def choose_action(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The handler of a command named without its action (`tgw dlq`): its help, then a usage error
    naming the actions."""

    def run(args: argparse.Namespace) -> int:
        parser.print_help()
        actions = [name for a in parser._actions if isinstance(a, argparse._SubParsersAction) for name in a.choices]
        error = CommandError.usage(f"choose an action: {', '.join(actions)}")
        error.prog = parser.prog
        raise error

    return run
