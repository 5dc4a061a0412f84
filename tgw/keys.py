"""`tgw keys ...`: a development CA, participant key pairs and a look at certificates.

    tgw keys ca DIR [--algorithm ecdsa|rsa] [--name NAME] [--days N] [--force]
    tgw keys init DIR --participant ID --role ROLE [--ca CADIR] [--algorithm ecdsa|rsa|sm2] [--days N] [--force]
    tgw keys server DIR --name NAME --host HOST [--host HOST ...] [--ca CADIR] [--algorithm ecdsa|rsa]
                    [--days N] [--force]
    tgw keys show CERT [--format text|json]

Exit codes: 0 ok, 1 the operation failed (e.g. it would overwrite a key), 2 usage or unreadable
input. Errors are one coded line on stderr (with --format json, a JSON document on stdout), never
a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from messages.catalog import ROLES
from messages.errors import InputError
from messages.keys import (
    ALGORITHMS,
    SM2_CA_UNSUPPORTED,
    create_ca,
    issue_participant,
    issue_server,
    load_certificates,
)
from messages.signing import CertInfo
from tgw.command_error import CommandError, choose_action

__all__ = ["cmd_ca", "cmd_init", "cmd_server", "cmd_show", "register"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_EXITS_WRITE = ("Exit codes: 0 written, 1 a key or certificate already there (--force overwrites it) or DIR cannot "
                "be written, 2 usage or a CA that cannot be read.")

Command = Callable[[argparse.Namespace], int]


def _guarded(func: Command) -> Command:
    """The errors a user can cause as the command's coded error (tgw/command_error.py)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except FileExistsError as exc:
            raise CommandError("failed", str(exc), exit=EXIT_FAILED) from exc
        except NotImplementedError as exc:
            raise CommandError.usage(str(exc)) from exc
        except InputError as exc:
            raise CommandError.of(exc) from exc  # 2 for a file not read, else 1
        except ValueError as exc:
            raise CommandError.usage(str(exc)) from exc
        except OSError as exc:
            raise CommandError("failed", f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "),
                               exit=EXIT_FAILED) from exc

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def _out_dir(value: str) -> str:
    """An output directory: made if missing, refused (a usage error) when it names a file."""
    if os.path.exists(value) and not os.path.isdir(value):
        raise argparse.ArgumentTypeError(f"{value!r} exists and is not a directory")
    return value


def _check_algorithm(value: str) -> str:
    """A participant's key algorithm: ecdsa, rsa or sm2."""
    if value not in ALGORITHMS:
        raise argparse.ArgumentTypeError(f"invalid choice {value!r} (choose from {', '.join(ALGORITHMS)})")
    return value


def _check_ca_algorithm(value: str) -> str:
    """The CA's (or TLS server's) key algorithm: ecdsa or rsa; SM2 only for participants."""
    if value == "sm2":
        raise argparse.ArgumentTypeError(SM2_CA_UNSUPPORTED)
    return _check_algorithm(value)


# A century: far past any certificate's use, and inside what X.509 dates and timedelta can hold.
DAYS_MAX = 36_500


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if not 0 < n <= DAYS_MAX:
        raise argparse.ArgumentTypeError(f"{value!r} must be from 1 to {DAYS_MAX}")
    return n


@_guarded
def cmd_ca(args: argparse.Namespace) -> int:
    """Create a development CA (ca.key, ca.pem) in DIR."""
    files = create_ca(args.dir, name=args.name, algorithm=args.algorithm, days=args.days, force=args.force)
    print(f"CA written: {files.cert} (key {files.key}), SN {files.sn}", file=sys.stderr)
    print(files.sn)
    return EXIT_OK


@_guarded
def cmd_init(args: argparse.Namespace) -> int:
    """Create a participant key pair in DIR, certified by the CA; print the certificate SN."""
    files = issue_participant(args.dir, participant_id=args.participant, role=args.role,
                              ca_dir=args.ca or args.dir, algorithm=args.algorithm, days=args.days,
                              force=args.force)
    print(f"{files.participant_id} ({files.role}): {files.cert} (key {files.key})", file=sys.stderr)
    print(files.sn)
    return EXIT_OK


@_guarded
def cmd_server(args: argparse.Namespace) -> int:
    """Create the gateway's TLS key and certificate (serverAuth, SAN = the hosts); print the SN."""
    files = issue_server(args.dir, name=args.name, hosts=args.host, ca_dir=args.ca or args.dir,
                         algorithm=args.algorithm, days=args.days, force=args.force)
    print(f"{files.name} (TLS server for {', '.join(files.hosts)}): {files.cert} (key {files.key})",
          file=sys.stderr)
    print(files.sn)
    return EXIT_OK


def _describe(info: CertInfo) -> dict[str, Any]:
    cert = info.certificate
    described: dict[str, Any] = dict(info.as_dict())
    if info.refused is not None:  # the key policy's refusal (messages.key_policy): no seal is checked with it
        described["refused"] = {"code": "key-unsupported", "message": info.refused}
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        is_ca = False
    described["ca"] = is_ca
    described["sha256"] = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return described


@_guarded
def cmd_show(args: argparse.Namespace) -> int:
    """Print a certificate's subject, role, SN and validity."""
    described = [_describe(CertInfo.from_certificate(c)) for c in load_certificates(args.cert)]
    if args.format == "json":
        print(json.dumps(described[0] if len(described) == 1 else described, ensure_ascii=False, indent=2))
        return EXIT_OK
    for i, d in enumerate(described):
        if i:
            print()
        print(f"subject:     {d['subject']}")
        print(f"issuer:      {d['issuer']}")
        print(f"participant: {d['participant_id'] or '-'}")
        print(f"role:        {d['role'] or '-'}")
        print(f"SN:          {d['sn']}")
        print(f"not before:  {d['not_before']}")
        print(f"not after:   {d['not_after']}")
        print(f"algorithm:   {d['algorithm']}" + (f" (key-unsupported: {d['refused']['message']})"
                                                     if "refused" in d else ""))
        print(f"CA:          {'yes' if d['ca'] else 'no'}")
        print(f"SHA-256:     {d['sha256']}")
    return EXIT_OK


def _add_issuing_options(parser: argparse.ArgumentParser, *, sm2: bool) -> None:
    """What every certificate the CA issues takes: the CA, key algorithm, validity, overwrite."""
    parser.add_argument("--ca", metavar="CADIR", help="directory holding ca.key and ca.pem (default DIR)")
    if sm2:
        parser.add_argument("--algorithm", type=_check_algorithm, default="ecdsa", metavar="{ecdsa,rsa,sm2}",
                            help="key algorithm: ecdsa P-256 with SHA-256 (default), rsa 2048 with SHA-256, "
                                 "sm2 with SM3 (GM/T 0003; the certificate is still signed in the CA's algorithm)")
    else:
        parser.add_argument("--algorithm", type=_check_ca_algorithm, default="ecdsa", metavar="{ecdsa,rsa}",
                            help="key algorithm (default ecdsa P-256)")
    parser.add_argument("--days", type=_positive, default=825, help=f"validity in days, 1..{DAYS_MAX} (default %(default)s)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing key and certificate")


def register(subparsers: Any) -> None:
    """Add `keys` and its subcommands to the `tgw` parser's subparsers."""
    keys = subparsers.add_parser("keys", help="development CA, participant keys and certificates",
                                 description="Development CA, participant key pairs and certificates.")
    keys.set_defaults(func=choose_action(keys))
    sub = keys.add_subparsers(dest="keys_command", metavar="{ca,init,server,show}")

    ca = sub.add_parser("ca", help="create a development CA (ca.key, ca.pem) in DIR",
                        description="Create a development CA in DIR: ca.key (private, mode 0600) and ca.pem; "
                                    "prints the CA certificate's SN. It issues the participants' certificates "
                                    "(`tgw keys init DIR`) and the gateway's (`tgw keys server DIR`).",
                        epilog=_EXITS_WRITE)
    ca.add_argument("dir", metavar="DIR", type=_out_dir)
    ca.add_argument("--algorithm", type=_check_ca_algorithm, default="ecdsa", metavar="{ecdsa,rsa}",
                    help="key algorithm (default ecdsa P-256)")
    ca.add_argument("--name", default="TGW Dev CA", help="CA common name (default %(default)s)")
    ca.add_argument("--days", type=_positive, default=3650, help=f"validity in days, 1..{DAYS_MAX} (default %(default)s)")
    ca.add_argument("--force", action="store_true", help="overwrite an existing CA key and certificate")
    ca.set_defaults(func=cmd_ca)

    init = sub.add_parser("init", help="create a participant key pair certified by the CA; prints the SN",
                          description="Create DIR/ID.key and DIR/ID.pem: a key pair for participant ID and its "
                                      "certificate (CN the id, OU the role) issued by the CA in --ca (default "
                                      "DIR); prints the certificate's SN, the one the participant's seals carry.",
                          epilog=_EXITS_WRITE)
    init.add_argument("dir", metavar="DIR", type=_out_dir)
    init.add_argument("--participant", required=True, metavar="ID", help="participant id (certificate CN)")
    init.add_argument("--role", required=True, choices=ROLES, help="participant role (certificate OU)")
    _add_issuing_options(init, sm2=True)
    init.set_defaults(func=cmd_init)

    server = sub.add_parser("server", help="create the gateway's TLS server key and certificate; prints the SN",
                            description="Create DIR/NAME.key and DIR/NAME.pem, the gateway's HTTPS certificate "
                                        "issued by the CA in --ca (default DIR), each --host in its subjectAltName "
                                        "(for `tgw up --tls-cert/--tls-key`); prints its SN.",
                            epilog=_EXITS_WRITE)
    server.add_argument("dir", metavar="DIR", type=_out_dir)
    server.add_argument("--name", default="gateway", help="file stem and certificate CN (default %(default)s)")
    server.add_argument("--host", action="append", required=True, metavar="HOST",
                        help="DNS name or IP address clients connect to (subjectAltName); repeat for several")
    _add_issuing_options(server, sm2=False)
    server.set_defaults(func=cmd_server)

    show = sub.add_parser("show", help="print a certificate's subject, role, SN and validity",
                          description="Print a PEM certificate's participant id, role, subject, issuer, SN, "
                                      "validity, key algorithm and SHA-256 fingerprint.",
                          epilog="Exit codes: 0 shown, 2 usage or a file that is not a readable PEM certificate.")
    show.add_argument("cert", metavar="CERT")
    show.add_argument("--format", choices=("text", "json"), default="text",
                      help="json: {sn, participant_id, role, subject, issuer, not_before, not_after, algorithm, ca, "
                           "sha256} (default text)")
    show.set_defaults(func=cmd_show)
