"""`tgw`: the command line of the treasury gateway.

Each subcommand lives in its own module with `register(subparsers)`; its handler takes the
parsed args and returns the exit code: 0 success, 1 the operation found a problem (invalid
voucher, failed check), 2 usage error or unreadable input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tgw",
        description="Treasury gateway (电子凭证库): validate, sign and exchange treasury payment vouchers.",
        epilog="Exit codes: 0 ok, 1 check failed (invalid voucher, bad signature...), 2 usage or unreadable input.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(f"tgw.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        # a file or directory named on the command line that cannot be written or read (an output
        # path in a missing or read-only directory, a directory where a file is expected): usage,
        # said in one line, never a traceback
        where = f": {exc.filename}" if exc.filename is not None else ""
        print(f"tgw {args.command}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
