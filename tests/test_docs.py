"""Documents stay in step with the code: the generated ones in docs/, the layout in docs/layout.md
and the READMEs (their tables, and the README-dev example, which runs)."""

from __future__ import annotations

import argparse
import json
import re
import textwrap
import tomllib
from pathlib import Path
from typing import Any

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
