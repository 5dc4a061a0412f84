"""`tgw participants add|list`: manage the participants registry file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from messages.errors import InputError
from tgw.command_error import EXIT_USAGE, CommandError, choose_action

__all__ = ["register"]


def register(sub: Any) -> None:
    p = sub.add_parser("participants", help="manage the participants registry",
                       description="Add or list participants in a registry YAML file. Secrets are stored "
                                   "hashed; a new token and MQTT password are printed once.")
    ps = p.add_subparsers(dest="participants_command", metavar="ACTION")
    add = ps.add_parser("add", help="add or replace a participant")
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
    add.add_argument("--format", choices=["text", "json"], default="text")
    add.set_defaults(func=cmd_add)
    ls = ps.add_parser("list", help="list participants (no secrets)")
    ls.add_argument("--file", required=True, help="registry YAML")
    ls.add_argument("--format", choices=["text", "json"], default="text")
    ls.set_defaults(func=cmd_list)
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
