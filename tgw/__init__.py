"""`tgw`: the command line of the treasury gateway.

Each subcommand lives in its own module with `register(subparsers)`; its handler takes the
parsed args and returns the exit code: 0 success, 1 the operation found a problem (invalid
voucher, failed check), 2 usage error or unreadable input.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

# The exit status of a process that wrote into a pipe its reader had closed (`tgw ... | head`):
# 128 + SIGPIPE, what the shell shows for any tool stopped that way.
EXIT_BROKEN_PIPE = 141

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
    parser = argparse.ArgumentParser(
        prog="tgw",
        description="Treasury gateway (电子凭证库): validate, sign and exchange treasury payment vouchers.",
        epilog="Exit codes: 0 ok (also: nothing to do), 1 check failed (invalid voucher, bad signature...), 2 usage or "
               "input that cannot be read or reached (a file, a database, a gateway: unavailable).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        importlib.import_module(f"tgw.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    from tgw.json_errors import asks_json, run_answering_json

    if asks_json(args_in):  # every outcome a JSON document on stdout, errors included
        return run_answering_json(lambda: _main(args_in))
    return _main(args_in)


def _main(args_in: list[str]) -> int:
    parser = build_parser(args_in[0] if args_in and not args_in[0].startswith("-") else None)
    args, unknown = parser.parse_known_args(args_in)
    if unknown:
        _unrecognized(parser, args_in, unknown)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
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
        from messages.files import NotRegularFileError

        # a file or directory named on the command line that cannot be written or read (an output
        # path in a missing or read-only directory, a directory where a file is expected): usage,
        # said in one line, never a traceback
        where = f": {exc.filename}" if exc.filename is not None else ""
        coded = f"{exc.code}: " if isinstance(exc, NotRegularFileError) else ""  # a pipe or device: io-not-regular
        print(f"tgw {args.command}: error: {coded}{exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    return code


def _unrecognized(parser: argparse.ArgumentParser, args_in: Sequence[str], unknown: Sequence[str]) -> None:
    """Exit 2 naming the unknown arguments with the usage of the (sub)command they were given to,
    not the top-level one; `--json` is pointed to `--format json` where the command has it."""
    for word in args_in:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            if word.startswith("-") or not subs:
                continue
            break
        parser = subs[0].choices[word]
    message = f"unrecognized arguments: {' '.join(unknown)}"
    formats = [a for a in parser._actions if "--format" in a.option_strings and a.choices and "json" in a.choices]
    if "--json" in unknown and formats:
        message += " (for JSON output: --format json)"
    parser.error(message)


if __name__ == "__main__":
    sys.exit(main())
