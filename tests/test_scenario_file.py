"""The scenario file: schema, loader errors with file:line:field, and `tgw scenario list|validate|schema`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from runner.scenario_file import CATALOGUE_DIR, ScenarioError, catalogue, load_scenario, load_text
from runner.scenario_schema import SCHEMA, schema_json
from tgw import main

GOOD = """
scenario: good
world:
  start: 2026-02-13
steps:
  - at: 15:59
    send: {id: v1, template: direct-payment, bank: bank-a, amount: "12.50", fields: {PayeeAcctName: 测试}}
  - advance: {by: 2h}
  - at: "D+1 10:00"
    send: {id: r1, template: receipt, of: v1, from: bank-b}
expect:
  - accepted: {voucher: v1}
    by: "D+2 10:00"
"""


def errors(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_text(text, "x.yaml")
    return info.value.lines()


def test_the_published_schema_is_the_one_the_loader_uses() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    published = Path(__file__).resolve().parent.parent / "docs" / "scenario.schema.json"
    assert published.read_text(encoding="utf-8") == schema_json(), "regenerate: tgw scenario schema > docs/..."


def test_times_resolve_on_the_business_calendar_and_unquoted_times_stay_times() -> None:
    s = load_text(GOOD, "good.yaml")
    send, advance, receipt = s.steps
    assert f"{send.at:%Y-%m-%d %H:%M}" == "2026-02-13 15:59"  # YAML 1.1 would have read 15:59 as 959
    assert f"{advance.at:%Y-%m-%d %H:%M}" == "2026-02-13 17:59"
    # 2026-02-13 (Fri) + 1 business day is the make-up Saturday 2026-02-14
    assert f"{receipt.at:%Y-%m-%d %H:%M}" == "2026-02-14 10:00"
    # D+2 jumps over the Spring Festival week: 2026-02-24
    assert f"{s.expectations[0].by:%Y-%m-%d}" == "2026-02-24"
    assert send.sends[0].amount_fen == 1250 and send.sends[0].fields == {"PayeeAcctName": "测试"}


def test_a_step_that_goes_back_in_time_names_its_line() -> None:
    [line] = errors(GOOD.replace("advance: {by: 2h}", "advance: {by: 1bd}"))
    assert line.startswith("x.yaml:9: steps[2].at:") and "steps move forward in time" in line


@pytest.mark.parametrize(("change", "where"), [
    (("amount: \"12.50\"", "amount: 12.50"), "x.yaml:7: steps[0].send.amount: 12.5 is not an amount"),
    (("start: 2026-02-13", "start: 2026-02-13\n  colour: red"), "x.yaml:5: world.colour: unknown key 'colour'"),
    (("bank: bank-a", "bank: bank-z"), "x.yaml:7: steps[0].send.bank: no bank 'bank-z'"),
    (("PayeeAcctName", "NoSuchField"), "x.yaml:7: steps[0].send.fields: VtCode 5201 has no head element NoSuchField"),
    (("accepted: {voucher: v1}", "accepted: {voucher: v9}"), "x.yaml:12: expect[0].accepted.voucher: no voucher 'v9'"),
    (("start: 2026-02-13", "start: 2026-02-15"), "x.yaml:4: world.start: 2026-02-15 is not a business day"),
    (("start: 2026-02-13", "start: 2031-02-13"), "x.yaml:4: world.start: calendar-out-of-range"),
    (("advance: {by: 2h}", "advance: {by: 2h}\n    online: bank-a"),
     "x.yaml:8: steps[1]: exactly one of send, batch, quota, advance, offline, online, fault, monitor, suspend, lift, account; found advance, online"),
    (("of: v1", "of: v7"), "x.yaml:10: steps[2].send.of: no voucher 'v7'"),
])
def test_errors_name_file_line_and_field(change: tuple[str, str], where: str) -> None:
    assert GOOD.count(change[0]) == 1
    found = errors(GOOD.replace(*change))
    assert any(line.startswith(where) for line in found), found


def test_yaml_syntax_and_duplicate_keys_are_errors_with_lines() -> None:
    assert errors("scenario: x\nworld: [\n")[0].startswith("x.yaml:3: (yaml): not valid YAML")
    assert errors(GOOD.replace("world:\n", "world:\n  seed: 1\n  seed: 2\n"))[0].startswith(
        "x.yaml:5: world.seed: duplicate key 'seed'")


def test_the_catalogue_is_valid() -> None:
    files = catalogue()
    assert files, f"no scenario in {CATALOGUE_DIR}"
    names = [load_scenario(p).name for p in files]
    assert names == [p.stem for p in files], "a catalogue file is named after its scenario"


def test_cli_validate_exit_codes_and_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(GOOD.replace("bank: bank-a", "bank: bank-z"), encoding="utf-8")
    assert main(["scenario", "validate", str(good)]) == 0
    assert "good.yaml: ok (good: 3 steps, 1 expectations)" in capsys.readouterr().out
    assert main(["scenario", "validate", str(good), str(bad)]) == 2
    assert f"{bad}:7: steps[0].send.bank: no bank 'bank-z'" in capsys.readouterr().err
    assert main(["scenario", "validate", str(tmp_path / "missing.yaml")]) == 2
    assert main(["scenario", "validate", "--format", "json", str(bad)]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["files"][0]["errors"][0]["line"] == 7
    # JSON says what the text says of a good file (was: only its name)
    assert main(["scenario", "validate", "--format", "json", str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == [
        {"file": str(good), "valid": True, "name": "good", "steps": 3, "expectations": 1}]


def test_cli_list_json_is_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["count"] == len(catalogue()) and listed["invalid"] == 0
    assert all(r["valid"] and r["title"] for r in listed["scenarios"])


def test_cli_schema_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_catalogue_file_is_plain_yaml_data() -> None:
    for p in catalogue():
        assert isinstance(yaml.safe_load(p.read_text(encoding="utf-8")), dict)
