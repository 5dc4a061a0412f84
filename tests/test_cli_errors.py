"""What a new user sees when a path on the command line is wrong: one line naming it and exit 2
(usage or unreadable input, as `tgw --help` says), never a traceback; `tgw --help` texts that
state a default agree with the code."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from gateway.http_limits import ACCEPT_BACKLOG, FDS_RESERVED, REFUSED_LINGERING_MAX
from runner.faults import read_resume
from tgw import main

ROW = {"seed": 3, "ok": True}


def test_an_output_path_that_cannot_be_written_is_a_usage_error(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "plain-file"
    a_file.write_text("x")
    # --dir names a regular file: the demo cannot make its world there
    assert main(["demo", "--dir", str(a_file / "world"), "--quiet", "--days", "1", "--vouchers", "1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("tgw demo: error: ") and str(a_file) in err


def test_a_resume_path_that_is_a_directory_is_a_usage_error(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "faults", "--seeds", "1", "--quiet", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("tgw sim faults: error: ") and str(tmp_path) in err


def test_a_resume_file_that_is_not_one_names_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resume = tmp_path / "r.jsonl"
    resume.write_text(json.dumps(ROW) + "\ngarbage\n", encoding="utf-8")
    assert main(["sim", "faults", "--seeds", "1", "--quiet", "--resume", str(resume)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{resume}:2:" in err
    assert resume.read_text(encoding="utf-8") == json.dumps(ROW) + "\ngarbage\n"  # left as it was


def test_a_resume_row_cut_short_by_a_kill_is_dropped_and_rerun(tmp_path: Path) -> None:
    resume = tmp_path / "r.jsonl"
    whole = json.dumps(ROW) + "\n"
    resume.write_text(whole + '{"seed": 4, "o', encoding="utf-8")
    assert list(read_resume(resume)) == [3]
    assert resume.read_text(encoding="utf-8") == whole  # the next row starts on its own line
    assert list(read_resume(resume)) == [3]


@pytest.mark.parametrize("text", ["garbage", "[1, 2]\n", '{"no_seed": 1}\n', '{"seed": "x"}\n'])
def test_read_resume_refuses_what_is_not_a_row(tmp_path: Path, text: str) -> None:
    resume = tmp_path / "r.jsonl"
    resume.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=f"{resume.name}:1: not a per-seed result"):
        read_resume(resume)
    assert resume.read_text(encoding="utf-8") == text


def test_scenario_list_of_a_missing_directory_is_unreadable_input(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "list", "--dir", str(tmp_path / "missing")]) == 2
    assert "io-unreadable" in capsys.readouterr().err


def test_up_help_states_the_connections_default_the_code_uses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"the descriptor limit minus {FDS_RESERVED + ACCEPT_BACKLOG + REFUSED_LINGERING_MAX})" in help_text


@pytest.mark.parametrize("args", [
    ["--advance-to", "2026-03-16T10:00:00+08:00"],
    ["--token", "t", "--at", "2026-03-16T10:00:00+08:00"],
    ["--url", "http://127.0.0.1:1", "--at", "2026-03-16T10:00:00+08:00"],
    ["--url", "http://127.0.0.1:1", "--calendar-overrides", "x.yaml"],
])
def test_clock_flags_of_the_other_mode_are_usage_errors(args: list[str],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clock", *args]) == 2  # was: ignored, the local clock printed, exit 0
    assert capsys.readouterr().err.startswith("tgw clock: error: ")


def test_readme_rows_name_every_subcommand_and_bench_mode() -> None:
    from tgw import build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## The `tgw` command", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip().strip("`"): line.split("|")[2] for line in table.splitlines()
            if line.startswith("| `")}
    [sub] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    missing = []
    for name, parser in sub.choices.items():
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        missing += [f"{name} {c}" for n in nested for c in n.choices if not re.search(rf"\b{c}\b", rows[name])]
    bench = sub.choices["bench"]
    modes = [o for a in bench._actions if isinstance(a, argparse._StoreTrueAction) for o in a.option_strings
             if o in ("--floor", "--gateway", "--latency", "--sim", "--conformance")]
    assert len(modes) == 5
    missing += [f"bench {m}" for m in modes if f"`{m}`" not in rows["bench"]]
    assert missing == [], "README: say what each of these does in its command's row"
    # ...and `tgw --help`'s line for bench (was: --floor, --gateway and --latency only)
    [line] = [a.help for a in sub._choices_actions if a.dest == "bench"]
    assert [m for m in modes if m not in (line or "")] == []


@pytest.mark.parametrize("action", [["list"], ["replay", "--all"]])
@pytest.mark.parametrize("form", ["sqlite:///{}", "{}"])
def test_dlq_on_a_missing_database_leaves_no_file_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         action: list[str], form: str) -> None:
    db = tmp_path / "gw.db"
    assert main(["dlq", action[0], "--db", form.format(db), *action[1:]]) == 2
    err = capsys.readouterr().err
    assert "io-unreadable" in err and str(db) in err
    assert not db.exists()  # was: an empty gw.db created, then "no such table: gw_outbox"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    return {}


def test_every_flag_the_docs_give_a_tgw_command_exists() -> None:
    from tgw import build_parser

    root = build_parser()
    repo = Path(__file__).resolve().parents[1]
    unknown = []
    for doc in [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        commands = re.findall(r"`(tgw [^`]+)`", text) + [line.strip() for line in text.splitlines()
                                                         if re.match(r"\s*tgw ", line)]
        for command in (c.strip() for span in commands for c in re.split(r"&&|\s\|\s", span)):
            words, parser = command.split(), root
            for word in words[1:]:
                if word not in _subcommands(parser):
                    break
                parser = _subcommands(parser)[word]
            known = {o for a in parser._actions for o in a.option_strings}
            unknown += [(doc.name, command, m.group(1)) for w in words
                        if (m := re.match(r"(--[a-z][a-z0-9-]*)", w)) and m.group(1) not in known]
    assert unknown == []


@pytest.mark.parametrize("jobs", ["0", "-3", "65", "many"])
def test_validate_jobs_out_of_range_is_a_usage_error(jobs: str, capsys: pytest.CaptureFixture[str]) -> None:
    samples = Path(__file__).resolve().parents[1] / "samples" / "5201" / "original.xml"
    # was: 0 and -3 taken as 1, 10**6 a pool of 10**6
    assert main(["validate", "--jobs", jobs, str(samples)]) == 2
    assert "--jobs must be 1..64" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "usage", "unknown", "hint"), [
    (["validate", "--json", "x.xml"], "tgw validate", "--json", True),
    (["scenario", "list", "--json"], "tgw scenario list", "--json", True),
    (["keys", "show", "--bogus", "x.pem"], "tgw keys show", "--bogus", False),
])
def test_an_unknown_flag_gets_the_usage_of_its_own_command(args: list[str], usage: str, unknown: str, hint: bool,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    # was: the top-level "usage: tgw [-h] COMMAND ..." and "tgw: error: unrecognized arguments"
    assert err.startswith(f"usage: {usage} ") and f"{usage}: error: unrecognized arguments: {unknown}" in err
    assert ("(for JSON output: --format json)" in err) == hint


@pytest.mark.parametrize("args", [["validate", "--codes"], ["scenario", "list"]])
def test_a_reader_that_closes_the_pipe_early_ends_it_quietly(args: list[str]) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "tgw", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head` that has read what it wanted, before anything was written
    err = proc.stderr.read().decode()
    # was: "tgw validate: error: Broken pipe", exit 2 (a usage error)
    assert proc.wait(timeout=60) == 141 and "Broken pipe" not in err and "Traceback" not in err


def _json_commands() -> list[list[str]]:
    """Every (sub)command that takes `--format json`, as the words that name it."""
    from tgw import build_parser

    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> None:
        if any("--format" in a.option_strings and a.choices and "json" in a.choices for a in parser._actions):
            found.append(words)
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, [*words, name])

    walk(build_parser(), [])
    return found


def test_there_are_json_commands_to_check() -> None:
    assert len(_json_commands()) >= 15 and ["validate"] in _json_commands()


@pytest.mark.parametrize("words", _json_commands(), ids=" ".join)
def test_every_json_command_answers_a_usage_error_in_json(words: list[str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Before: the error on stderr only, nothing on stdout: a JSON consumer got no document."""
    assert main([*words, "--format", "json", "--no-such-flag"]) == 2
    out, err = capsys.readouterr()
    doc = json.loads(out)  # the unknown flag, or first a required argument it lacks
    assert doc["code"] == "usage" and doc["exit"] == 2 and doc["message"], doc
    assert f"error: {doc['message']}" in err  # people still read it where they did


@pytest.mark.parametrize(("args", "code"), [
    (["keys", "show", "{missing}"], "io-unreadable"),
    (["participants", "list", "--file", "{missing}"], "io-unreadable"),
    (["scenario", "list", "--dir", "{missing}"], "io-unreadable"),
    (["monitor", "rules", "validate", "{missing}"], "io-unreadable"),
    (["monitor", "holds", "list", "--db", "{missing}"], "io-unreadable"),
    (["dlq", "list", "--db", "{missing}"], "io-unreadable"),
    (["verify", "{missing}", "--certs", "{missing}"], "io-unreadable"),
])
def test_a_missing_file_in_json_is_a_json_error(args: list[str], code: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    missing = str(tmp_path / "missing")
    assert main([a.replace("{missing}", missing) for a in args] + ["--format", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["code"] == code and doc["exit"] == 2 and missing in doc["message"], doc
