"""Documents stay in step with the code: the generated ones in docs/, the layout in docs/layout.md
and the READMEs (their tables, and the README-dev example, which runs)."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.openapi import openapi_document
from messages.errors import CODES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_docs_openapi_json_is_what_the_gateway_serves() -> None:
    on_disk = json.loads((DOCS / "openapi.json").read_text(encoding="utf-8"))
    assert on_disk == openapi_document(), (
        "docs/openapi.json is stale: regenerate it with "
        "python -c 'import json; from gateway.openapi import openapi_document; "
        "print(json.dumps(openapi_document(), ensure_ascii=False, indent=2))' > docs/openapi.json")


def test_asyncapi_names_every_topic_the_adapter_uses() -> None:
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    channels = set(doc["channels"])
    for suffix in ("outbox", "result", "inbox", "ack"):
        assert any(c.endswith(f"/{suffix}") for c in channels), suffix
    assert any(c.endswith("clock") for c in channels)


def test_every_error_code_is_documented_with_a_meaning() -> None:
    undocumented = [code for code, meaning in CODES.items() if not isinstance(meaning, str) or len(meaning) < 10]
    assert not undocumented


# ---------------------------------------------------------------------- the layout docs

ROOT = DOCS.parent


def _fenced(text: str, lang: str) -> list[str]:
    """The bodies of the ```lang fenced blocks of a markdown text, in order."""
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, flags=re.M | re.S)


async def test_the_readme_dev_example_runs(tmp_path: Path) -> None:
    """gateway/README-dev.md's "A gateway in a test" block, executed as written."""
    [example] = _fenced((ROOT / "gateway" / "README-dev.md").read_text(encoding="utf-8"), "python")
    scope: dict[str, Any] = {}
    exec(compile("async def _example(tmp_path):\n" + textwrap.indent(example, "    "),
                 "gateway/README-dev.md", "exec"), scope)
    await scope["_example"](tmp_path)


def test_docs_layout_states_the_import_contracts_of_pyproject() -> None:
    enforced = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    [documented] = [tomllib.loads(block) for block in _fenced((DOCS / "layout.md").read_text(encoding="utf-8"), "toml")]
    assert documented["tool"]["importlinter"] == enforced, "docs/layout.md: copy the contracts from pyproject.toml"


def test_readme_names_every_package_and_every_command() -> None:
    from tgw import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"][
        "root_packages"]
    assert [p for p in packages if f"`{p}/`" not in layout] == [], "README Layout: name each package and its job"
    assert "lint-imports" in layout
    [sub] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    table = readme.split("## The `tgw` command", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip().strip("`") for line in table.splitlines() if line.startswith("| `")}
    assert rows == set(sub.choices), "README: one row per `tgw` command in the table"


def test_readme_set_up_is_its_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert _fenced(setup, "sh") == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/tgw demo\n", "bash .ci/run\n"]


def test_the_mqtt_docs_say_which_participants_get_inbox_pushes() -> None:
    """A participant added as the README shows is `pull`: the gateway publishes nothing to its MQTT
    inbox. The README, asyncapi.yaml and `tgw participants add --help` say how to get pushes."""
    from tgw import build_parser

    [sub] = [a for a in build_parser("participants")._actions if isinstance(a, argparse._SubParsersAction)]
    [nested] = [a for a in sub.choices["participants"]._actions if isinstance(a, argparse._SubParsersAction)]
    [delivery] = [a for a in nested.choices["add"]._actions if "--delivery" in a.option_strings]
    assert delivery.default == "pull" and "push" in delivery.choices
    assert delivery.help and "tgw/v1/ID/inbox" in delivery.help  # was: no help at all
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    mqtt = readme.split("## MQTT topics", 1)[1].split("\n## ", 1)[0]
    [inbox_row] = [line for line in mqtt.splitlines() if line.startswith("| `tgw/v1/P/inbox`")]
    assert "--delivery push" in inbox_row and "GET /v1/inbox" in mqtt
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    [inbox] = [c for name, c in doc["channels"].items() if name.endswith("/inbox")]
    assert "delivery: push" in inbox["description"] and "--delivery push" in inbox["description"]


def test_asyncapi_states_the_clock_the_gateway_publishes() -> None:
    """What `tgw up` publishes, retained, on tgw/v1/clock (server.py: `clock_view`), against
    docs/asyncapi.yaml (was: `type: object` and "now, mode, ..." though no
    field is called mode)."""
    import datetime as dt

    import jsonschema

    from business_time.calendar import BusinessCalendar
    from business_time.clock import ClockConfig
    from gateway.clock import BusinessClock
    from gateway.http_common import clock_view

    payload = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))["components"]["messages"][
        "Clock"]["payload"]
    start = dt.datetime(2026, 3, 16, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    # simulated only: a live clock's view would depend on the day the test runs
    for at in (start, start + dt.timedelta(hours=7)):  # a business day's morning, after the close
        view = clock_view(BusinessClock.simulated(BusinessCalendar.default(), ClockConfig.from_dict({}), at))
        assert list(jsonschema.Draft202012Validator(payload).iter_errors(view)) == []
        assert set(view) <= set(payload["properties"]), set(view) - set(payload["properties"])


# ---------------------------------------------------------------------- the commands the docs show


def test_every_command_the_docs_show_names_subcommands_and_options_the_cli_has() -> None:
    """Each `tgw ...` (and `tgw-sdk-bank ...`) of the README and docs/, in shell blocks and inline
    code, against the parsers (was: docs/calendar.md named a `tgw conformance` command)."""
    from tests.doc_commands import command_problems, doc_commands, sdk_bank_options
    from tgw import build_parser

    root, sdk = build_parser(), sdk_bank_options()
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    assert sum(len(doc_commands(p.read_text(encoding="utf-8"))) for p in pages) > 100  # the extraction works
    problems = [problem for page in pages
                for problem in command_problems(page.read_text(encoding="utf-8"), page.relative_to(ROOT), root, sdk)]
    assert problems == []


@pytest.mark.parametrize(("page", "bad"), [
    ("- `tgw conformance` against a gateway", "no subcommand 'conformance'"),
    ("    tgw scenario run x.yaml --externall bank-a", "tgw scenario run: no option --externall"),
    ("```sh\nTGW_X=1 tgw up --db sqlite:///a.db \\\n  --http-port 8470\n```", "tgw up: no option --http-port"),
    ("`tgw keys ca k && tgw keys make k --participant p`", "tgw keys: no subcommand 'make'"),
    ("`tgw sign --key/--certificate`", "tgw sign: no option --certificate"),
    ("    tgw-sdk-bank --url U --id bank-a --filling 15:30", "tgw-sdk-bank --url U --id bank-a --filling 15:30`: no option"),
])
def test_the_command_check_catches_a_name_the_cli_does_not_have(page: str, bad: str) -> None:
    from tests.doc_commands import command_problems, sdk_bank_options
    from tgw import build_parser

    problems = command_problems(page, "x.md", build_parser(), sdk_bank_options())
    assert len(problems) == 1 and bad in problems[0], problems


def test_the_command_check_lets_placeholders_and_prose_through() -> None:
    from tests.doc_commands import command_problems, sdk_bank_options
    from tgw import build_parser

    page = ("`tgw COMMAND: error: CODE: message`, `tgw --debug COMMAND ...`, `tgw validate DIR | head`\n"
            "    tgw scenario run NAME|FILE|DIR [--junit OUT.xml] [--wake HH:MM]... # a comment --nope\n"
            "```text\ntgw                 the CLI\n```\n")
    assert command_problems(page, "x.md", build_parser(), sdk_bank_options()) == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the page's commands are openssl's")
def test_the_keys_md_openssl_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """docs/keys.md "OpenSSL 3 interoperability", in a new directory after the README's `tgw keys
    ca world/keys` (was: it signed a voucher.xml it never said where to get, and left the reader
    to find out how a seal made by openssl gets into an envelope)."""
    from tests.doc_commands import indented_block

    page = (DOCS / "keys.md").read_text(encoding="utf-8")
    script = indented_block(page.split("## OpenSSL 3 interoperability", 1)[1])
    env = {**os.environ, "REPO": str(ROOT), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", "set -euo pipefail\ntgw keys ca world/keys >/dev/null\n" + script],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK    VoucherBody[1] 990100/2026/2301/" in done.stdout  # tgw verify took openssl's seal
    assert done.stdout.rstrip().endswith("Signature Verified Successfully")  # openssl took ours


@pytest.mark.skipif(shutil.which("curl") is None, reason="the block posts with curl")
def test_the_readme_start_to_end_block_gets_the_payment_accepted(tmp_path: Path) -> None:
    """The README's block after its table, run in a new directory on a free port (was: the table's
    examples registered no bank for the 5201 sample, so the curl got `no-recipient`, and named no
    `$TOKEN`)."""
    import socket

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = _fenced(readme.split("<!-- README start to end: tests/test_docs.py runs this block -->", 1)[1], "sh")[:1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert block.count("127.0.0.1:8470") == 2
    env = {**os.environ, "REPO": str(ROOT), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block.replace("127.0.0.1:8470", f"127.0.0.1:{port}")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert [(r["status"], r.get("recipient")) for r in answer["results"]] == [("accepted", "bank-a")]


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("tgw",)) -> list[
        tuple[tuple[str, ...], argparse.ArgumentParser, bool]]:
    """(path, parser, is a leaf) for the root and every subcommand."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    found = [(path, parser, not subs)]
    for sub in subs:
        for name, child in sub.choices.items():
            found += _commands(child, (*path, name))
    return found


def help_problems(root: argparse.ArgumentParser) -> list[str]:
    """What a command's own --help leaves out: what it does (a description), and for a command that
    runs, its exit codes and what its `--format json` prints."""
    problems = []
    for path, parser, leaf in _commands(root, (root.prog,)):
        name = " ".join(path)
        if not parser.description:
            problems.append(f"{name}: --help does not say what it does (no description)")
        if leaf and "Exit" not in f"{parser.description} {parser.epilog}":
            problems.append(f"{name}: --help states no exit codes")
        for action in parser._actions:
            if "--format" in action.option_strings and "json:" not in (action.help or ""):
                problems.append(f"{name}: --format's help does not say what json prints")
    return problems


def test_every_command_help_says_what_it_does_its_exit_codes_and_its_json() -> None:
    """Was: `tgw scenario run --help`, `tgw keys init --help` and 20 more said neither what the command
    does (argparse shows a subcommand's `help` only in its parent's list) nor how it exits, and 19
    `--format` options had no help at all."""
    from tgw import build_parser

    assert help_problems(build_parser()) == []


def test_tgw_sdk_bank_help_says_what_it_does_and_its_exit_codes() -> None:
    """Was: tgw-sdk-bank's --help stated no exit codes (tests/test_sdk_bank_cli.py runs each)."""
    from examples.sdk_bank import build_parser

    assert help_problems(build_parser()) == []


def test_the_help_check_catches_each_gap() -> None:
    from tgw import _Parser

    root = _Parser(prog="tgw", description="the root")
    sub = root.add_subparsers()
    sub.add_parser("quiet", help="in the list only").add_argument("--format", choices=("text", "json"))
    sub.add_parser("said", description="does a thing", epilog="Exit codes: 0 done.")
    assert help_problems(root) == ["tgw quiet: --help does not say what it does (no description)",
                                   "tgw quiet: --help states no exit codes",
                                   "tgw quiet: --format's help does not say what json prints"]
