"""`tgw`: the command line of the treasury gateway.

Each subcommand lives in its own module with `register(subparsers)`; its handler takes the
parsed args and returns the exit code: 0 success, 1 the operation found a problem (invalid
voucher, failed check), 2 usage error or unreadable input. A handler that cannot do what it was
asked raises tgw.command_error.CommandError (a code of messages.errors.CODES, a message, the exit
code); main says it, on stderr and, with `--format json`, as a JSON document on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["main"]

# The exit status of a process that wrote into a pipe its reader had closed (`tgw ... | head`):
# 128 + SIGPIPE, what the shell shows for any tool stopped that way.
EXIT_BROKEN_PIPE = 141
# Set (to anything) it does what `tgw --debug` does: an unexpected failure prints its traceback.
DEBUG_ENV = "TGW_DEBUG"

# Order here is the order in `tgw --help`.
_COMMAND_MODULES = (
    "validate",
    "keys",
    "sign",
    "participants",
    "up",
    "demo",
    "scenario",
    "sim",
    "clock",
    "calendar",
    "dlq",
    "monitor",
    "bench",
    "mqtt_acl",
)


class _Parser(argparse.ArgumentParser):
    """argparse's parser whose usage errors are a CommandError `usage` (exit 2), said by main as
    every other error (in JSON too); the usage block still goes to stderr first."""

    def error(self, message: str) -> NoReturn:
        from tgw.command_error import CommandError

        self.print_usage(sys.stderr)
        error = CommandError.usage(message)
        error.prog = self.prog
        raise error


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand; given `command` (the one a command line names), only its module's when
    that module registers it: the others' imports (an XSD library, a terminal renderer...) are not
    paid by a command that does not use them."""
    module = command.replace("-", "_") if command else None
    if module is not None and module in _COMMAND_MODULES:
        parser = _parser((module,))
        [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if command in sub.choices:
            return parser
    return _parser(_COMMAND_MODULES)


def _parser(modules: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tgw",
        description="Treasury gateway (电子凭证库): validate, sign and exchange treasury payment vouchers.",
        epilog="Exit codes: 0 ok (also: nothing to do), 1 check failed (invalid voucher, bad signature...), 2 usage or "
               "input that cannot be read or reached (a file, a database, a gateway: unavailable). With --format json "
               "an error is the document {\"code\", \"message\", \"exit\"} on stdout.",
    )
    parser.add_argument("--debug", action="store_true",
                        help=f"on an unexpected failure (internal-error) also print the Python traceback (or set "
                             f"${DEBUG_ENV})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        importlib.import_module(f"tgw.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default sys.argv[1:]); its exit code. Every error is a
    CommandError said once: a line on stderr, and with `--format json` the document
    {"code", "message", "exit"} on stdout (tgw/command_error.py)."""
    from messages.errors import InputError
    from tgw.command_error import EXIT_FAILED, CommandError, asks_json

    args_in = list(sys.argv[1:] if argv is None else argv)
    state: dict[str, Any] = {"prog": "tgw", "json": asks_json(args_in)}
    try:
        return _main(args_in, state)
    except CommandError as exc:
        error = exc
    except InputError as exc:  # a library function's coded refusal the command did not take up itself
        error = CommandError.of(exc)
    except Exception as exc:  # noqa: BLE001 - a defect: said in one coded line, the traceback on --debug
        if "--debug" in args_in or os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        error = CommandError("internal-error", f"{type(exc).__name__}: {exc} (a defect in tgw; --debug shows "
                                               "where)", exit=EXIT_FAILED)
    if error.prog is None:
        error.prog = state["prog"]
    return error.report(as_json=state["json"], out=sys.stdout, err=sys.stderr)


def _main(args_in: list[str], state: dict[str, Any]) -> int:
    from tgw.command_error import EXIT_USAGE, CommandError

    words = [a for a in args_in if not a.startswith("-")]
    parser = build_parser(words[0] if words else None)
    args, unknown = parser.parse_known_args(args_in)
    state["prog"] = _prog(parser, args_in)
    if getattr(args, "format", None) is not None:
        state["json"] = args.format == "json"
    if unknown:
        _unrecognized(parser, args_in, unknown)
    if not getattr(args, "func", None):
        parser.print_help()
        raise CommandError.usage("give a command (listed above)")
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader stopped early (`| head`): nothing went wrong that a message could help with;
        # stdout goes to /dev/null so the interpreter's own flush at exit cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        from messages.files import read_error_code

        # a file or directory named on the command line that cannot be written or read (an output
        # path in a missing or read-only directory, a directory where a file is expected): usage,
        # said in one line, never a traceback; a pipe or device: io-not-regular
        where = f": {exc.filename}" if exc.filename is not None else ""
        raise CommandError(read_error_code(exc), f"{exc.strerror or exc}{where}", exit=EXIT_USAGE) from exc
    return code


def _prog(parser: argparse.ArgumentParser, args_in: Sequence[str]) -> str:
    """The prog of the deepest (sub)command `args_in` names: "tgw monitor holds list"."""
    return _deepest(parser, args_in).prog


def _deepest(parser: argparse.ArgumentParser, args_in: Sequence[str]) -> argparse.ArgumentParser:
    for word in args_in:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            if word.startswith("-") or not subs:
                continue
            break
        parser = subs[0].choices[word]
    return parser


def _unrecognized(parser: argparse.ArgumentParser, args_in: Sequence[str], unknown: Sequence[str]) -> None:
    """Exit 2 naming the unknown arguments with the usage of the (sub)command they were given to,
    not the top-level one; `--json` is pointed to `--format json` where the command has it."""
    parser = _deepest(parser, args_in)
    message = f"unrecognized arguments: {' '.join(unknown)}"
    formats = [a for a in parser._actions if "--format" in a.option_strings and a.choices and "json" in a.choices]
    if "--json" in unknown and formats:
        message += " (for JSON output: --format json)"
    parser.error(message)


if __name__ == "__main__":
    sys.exit(main())
