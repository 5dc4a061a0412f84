"""`tgw participants add|list|set`: manage the participants registry file; `set --delivery` also
switches a running gateway (its `--db`)."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from messages.errors import InputError, StateError
from tgw.command_error import EXIT_USAGE, CommandError, choose_action

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("participants", help="manage the participants registry",
                       description="Add or list participants in a registry YAML file. Secrets are stored "
                                   "hashed; a new token and MQTT password are printed once.")
    ps = p.add_subparsers(dest="participants_command", metavar="ACTION")
    add = ps.add_parser("add", help="add or replace a participant",
                        description="Add a participant to the registry file (created if missing), or replace the "
                                    "one of its id: its role, AdmDivCodes, bank codes, certificates' SNs and "
                                    "delivery mode, with a new HTTP token and MQTT password, stored hashed and "
                                    "printed once.",
                        epilog="Exit codes: 0 added, 2 usage, a certificate or registry file that cannot be read, "
                               "or a field the registry refuses.")
    add.add_argument("--file", required=True, help="registry YAML (created if missing)")
    add.add_argument("--id", required=True, help="registry id: the HTTP participant, the MQTT username and "
                                                  "topic segment (tgw/v1/ID/...)")
    add.add_argument("--role", required=True, choices=["treasury", "bank", "pboc"])
    add.add_argument("--name", help="display name")
    add.add_argument("--adm-div-code", action="append", required=True, dest="adm_div_codes",
                     help="AdmDivCode the participant serves (repeatable)")
    add.add_argument("--cert", action="append", default=[], help="certificate PEM file (repeatable)")
    add.add_argument("--bank-code", action="append", default=[], dest="bank_codes",
                     help="12-digit bank code vouchers are routed by (banks; repeatable)")
    add.add_argument("--delivery", choices=["pull", "push"], default="pull",
                     help="how deliveries reach it: pull (default) from GET /v1/inbox over HTTP; push: the "
                          "gateway publishes each to MQTT topic tgw/v1/ID/inbox (tgw up --mqtt) until acked")
    add.add_argument("--format", choices=["text", "json"], default="text",
                     help="json: {id, role, certificates, token, mqtt_username, mqtt_password} on one line, the "
                          "secrets shown once (default text)")
    add.set_defaults(func=cmd_add)
    ls = ps.add_parser("list", help="list participants (no secrets)",
                       description="List the participants of a registry file: id, role, name, AdmDivCodes, bank "
                                   "codes, certificates and delivery mode; never a secret.",
                       epilog="Exit codes: 0 listed, 2 usage or a registry file that cannot be read.")
    ls.add_argument("--file", required=True, help="registry YAML")
    ls.add_argument("--format", choices=["text", "json"], default="text",
                    help="json: a list of {id, role, name, adm_div_codes, bank_codes, cert_sns, delivery} "
                         "(default text)")
    ls.set_defaults(func=cmd_list)
    st = ps.add_parser("set", help="switch a participant's delivery mode (no new secrets)",
                       description="Switch a participant between pull and push delivery. Its token, MQTT password "
                                   "and certificates stay as they are. --file changes the registry file (read at "
                                   "each start of the gateway); --db changes a running gateway's database, and the "
                                   "gateway takes the new mode within a second (gateway/delivery_modes.py says what "
                                   "happens to deliveries in flight: nothing acknowledged is lost or delivered "
                                   "again). Give both to switch now and keep the file in step; a --db switch alone stands across "
                                   "restarts while the file's mode is unchanged (docs/operations.md).",
                       epilog="Exit 0 also when the mode was already the one asked for; 2 for an unknown participant "
                              "(unknown-participant), a file or database that cannot be read, or neither --file "
                              "nor --db.")
    st.add_argument("--id", required=True, help="the participant's registry id")
    st.add_argument("--delivery", required=True, choices=["pull", "push"])
    st.add_argument("--file", help="registry YAML to change")
    st.add_argument("--db", help="the running gateway's database: sqlite:///PATH, a path, or postgresql://...")
    st.add_argument("--db-schema")
    st.add_argument("--format", choices=["text", "json"], default="text",
                    help="json: {id, delivery, was: {file?, db?}}, the mode before in each place changed "
                         "(default text)")
    st.set_defaults(func=cmd_set)
    p.set_defaults(func=choose_action(p))


def cmd_add(args: argparse.Namespace) -> int:
    from gateway.participants import (
        Participant,
        Registry,
        _sns_in,
        hash_token,
        load_registry,
        mosquitto_password_hash,
        new_secret,
        save_registry,
    )

    path = Path(args.file)
    try:
        registry = load_registry(path) if path.exists() else Registry([])
        sns: list[str] = []
        for cert in args.cert:
            sns.extend(_sns_in(Path(cert)))
        token, password = new_secret(), new_secret()
        participant = Participant(
            id=args.id, role=args.role, name=args.name or args.id, adm_div_codes=tuple(args.adm_div_codes),
            cert_sns=tuple(sns), cert_files=tuple(str(Path(c).resolve()) for c in args.cert),
            bank_codes=tuple(args.bank_codes), token_sha256=hash_token(token), mqtt_username=args.id,
            mqtt_password_hash=mosquitto_password_hash(password), delivery=args.delivery)
        save_registry(registry.with_participant(participant), path)
    except InputError as exc:
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    except ValueError as exc:  # a field the registry refuses
        raise CommandError.usage(str(exc)) from exc
    if args.format == "json":
        print(json.dumps({"id": args.id, "role": args.role, "certificates": sns, "token": token,
                          "mqtt_username": args.id, "mqtt_password": password}))
    else:
        print(f"added {args.id} ({args.role}); certificates: {', '.join(sns) or 'none'}")
        print(f"HTTP token (shown once):    {token}")
        print(f"MQTT password (shown once): {password}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from gateway.participants import load_registry

    try:
        registry = load_registry(args.file)
    except InputError as exc:
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    rows = [p.as_public_dict() for p in registry]
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    from tgw.text_table import text_table

    print(text_table(["id", "role", "name", "AdmDivCode", "bank codes", "certificates", "delivery"],
                     [[r["id"], r["role"], r["name"], ",".join(r["adm_div_codes"]), ",".join(r["bank_codes"]),
                       len(r["cert_sns"]), r["delivery"]] for r in rows], "lllllrl"))
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    if not args.file and not args.db:
        raise CommandError.usage("give --file (the registry) and/or --db (a running gateway's database)")
    try:
        was = asyncio.run(_set(args))
    except InputError as exc:
        raise CommandError.of(exc, exit=EXIT_USAGE) from exc
    except StateError as exc:  # the database failed under the command (the --db itself is checked first)
        raise CommandError("unavailable", str(exc), exit=EXIT_USAGE) from exc
    if args.format == "json":
        print(json.dumps({"id": args.id, "delivery": args.delivery, "was": was}))
    else:
        where = "; ".join(f"{k} {v} -> {args.delivery}" for k, v in was.items())
        print(f"{args.id}: delivery {args.delivery} ({where})")
    return 0


async def _set(args: argparse.Namespace) -> dict[str, str]:
    """Both places checked before either is written: an unknown participant changes nothing."""
    from gateway.participants import load_registry, save_registry

    was: dict[str, str] = {}
    registry = None
    if args.file:
        registry = load_registry(args.file)
        p = registry.get(args.id)
        if p is None:
            raise InputError("unknown-participant", f"no participant {args.id!r} in {args.file}")
        was["file"] = p.delivery
    db = None
    if args.db:
        db = await _open(args)
    try:
        if db is not None:
            from gateway.delivery_modes import read_modes, set_mode

            if args.id not in await read_modes(db):
                raise InputError("unknown-participant", f"the gateway at {args.db} has no participant {args.id!r} "
                                                        "(its registry as it started)")
        if registry is not None:
            from dataclasses import replace

            p = registry.get(args.id)
            assert p is not None
            save_registry(registry.replacing([replace(p, delivery=args.delivery)]), args.file)
        if db is not None:
            previous = await set_mode(db, args.id, args.delivery)
            assert previous is not None  # checked above; rows are only replaced at a gateway's start
            was["db"] = previous
    finally:
        if db is not None:
            await db.close()
    return was


async def _open(args: argparse.Namespace) -> Any:
    from gateway.delivery_modes import DELIVERY_TABLE
    from tgw.gateway_db import has_tables, open_gateway_db

    db = await open_gateway_db(args, read_only=False)
    if not await has_tables(db, DELIVERY_TABLE):
        await db.close()
        raise CommandError("db-not-gateway", f"{args.db} has no {DELIVERY_TABLE} table: the gateway using it was "
                           "started by an older tgw; start it with this one (it reads the registry file, --file)",
                           exit=EXIT_USAGE)
    return db
