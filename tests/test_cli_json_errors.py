"""Every `tgw` subcommand, generated from the parser, on bad input (a missing file, a directory
where a file is expected, a file that is not what it should be: garbage bytes for a database, a
certificate, a YAML file): an error goes through the coded path (tgw/command_error.py). With
`--format json` (where the command takes it) stdout is one JSON document whose `code` is one of
messages.errors.CODES and whose `exit` is the exit code, the same exit code as in text mode; in
text mode stderr says `PROG: error: ...` naming the code. A command that printed its error on its
own (a line without a code, nothing on stdout) fails here.

The oracle is the README's contract (exit 1 a check failed, 2 usage or input that cannot be read;
`--format json`: `{"code", "message", "exit"}`, codes of `tgw validate --codes`), not the code."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messages.errors import CODES
from tgw import build_parser, main
from tgw.command_error import CommandError

KINDS = ("missing", "dir", "garbage")
GARBAGE = b"not a database, a certificate or YAML: \x00\xff\xfe{[\n"
# Required options whose value is a path: given the bad path. Other required options get a plain word.
PATHISH = {"file", "dir", "cert", "certs", "key", "db", "participants", "out", "paths", "targets", "world",
           "calendar_dir", "rules"}
# Words added to a leaf's command line to reach its input (no required option names one), or, for a
# command that reads no file, one bad value that stops it before it does any work.
EXTRA: dict[str, list[str]] = {
    "up": ["--participants", "{bad}", "--certs", "{bad}", "--http", "127.0.0.1:0", "--log-level", "CRITICAL"],
    "demo": ["--start", "{bad}"],
    "bench": ["--floor", "--samples", "{bad}", "--output", "-"],
    "clock": ["--calendar-overrides", "{bad}"],  # a missing --calendar-dir holds no blocks: not bad
    "sim faults": ["--seeds", "1", "--quiet", "--resume", "{bad}"],
    "calendar show": ["--calendar-overrides", "{bad}"],
    "dlq replay": ["--all"],
    "scenario list": ["--dir", "{bad}"],
}
# Bad inputs that are not bad for the command: a directory it creates (or an empty one it fills), a
# resume file it starts; an empty directory holds nothing to validate or list (README: nothing to do is 0).
NOT_BAD = {("keys ca", "missing"), ("keys ca", "dir"), ("keys init", "missing"), ("keys server", "missing"),
           ("validate", "dir"), ("scenario list", "dir"),
           ("mqtt-acl", "missing"), ("sim faults", "missing"), ("participants add", "missing"),
           ("scenario world", "missing"), ("scenario world", "dir")}
NO_INPUT = {"scenario schema", "monitor rules schema", "calendar provisional"}  # read no file at all
# Commands whose JSON answer to a file they read but find invalid is their own documented report
# (per-file verdicts), not an error document: README, docs/scenarios.md, docs/monitoring.md.
REPORTS = {"validate", "verify", "scenario validate", "scenario run", "scenario list", "monitor rules validate"}


def _leaves(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[tuple[str, argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(" ".join(words), parser)]
    return [leaf for name, sub in subs[0].choices.items() for leaf in _leaves(sub, (*words, name))]


LEAVES = dict(_leaves(build_parser()))


def _takes_json(parser: argparse.ArgumentParser) -> bool:
    return any("--format" in a.option_strings and a.choices and "json" in a.choices for a in parser._actions)


def _argv(name: str, parser: argparse.ArgumentParser, bad: str) -> list[str]:
    argv = name.split()
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        if not a.option_strings:  # a positional: the bad path (an optional one only if it names a file)
            if a.nargs not in ("?", "*") or a.dest in PATHISH:
                argv.append(bad)
        elif a.required:
            value = (str(next(iter(a.choices))) if a.choices else bad if a.dest in PATHISH
                     else "001" if a.dest == "position" else "110000" if a.dest == "adm_div_codes" else "x")
            argv += [a.option_strings[0], value]
    return argv + [w.replace("{bad}", bad) for w in EXTRA.get(name, [])]


def _bad(tmp_path: Path, kind: str) -> str:
    if kind == "dir":
        (tmp_path / "a-dir").mkdir()
        return str(tmp_path / "a-dir")
    if kind == "garbage":
        (tmp_path / "garbage.bin").write_bytes(GARBAGE)
        return str(tmp_path / "garbage.bin")
    return str(tmp_path / "missing")


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _check_error_document(name: str, code: int, out: str, bad: str) -> dict[str, Any] | None:
    """The one JSON document on stdout of a failed command; None when it is the command's own report."""
    doc = json.loads(out)  # one document, nothing before or after it
    if name in REPORTS and not (isinstance(doc, dict) and "code" in doc):
        assert bad in json.dumps(doc), f"{name}: a report that does not name the bad input: {doc}"
        items = doc if isinstance(doc, list) else []
        assert all(e["code"] in CODES for item in items for e in item.get("errors", [])), doc
        return None
    assert isinstance(doc, dict), f"{name}: {doc!r} is no error document"
    assert doc["code"] in CODES and doc["exit"] == code and doc["message"], doc
    assert set(doc) <= {"code", "message", "exit", "path", "line", "more"}, doc
    return doc


def test_every_subcommand_is_here() -> None:
    """A new subcommand is checked as soon as it exists: its bad input is generated from its parser;
    EXTRA and the sets above name only leaves that exist."""
    assert len(LEAVES) >= 25 and {"validate", "dlq list", "monitor holds release", "keys show"} <= set(LEAVES)
    named = {*EXTRA, *(leaf for leaf, _ in NOT_BAD), *NO_INPUT, *REPORTS}
    assert named <= set(LEAVES), named - set(LEAVES)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(set(LEAVES) - NO_INPUT))
def test_a_subcommand_on_bad_input_answers_a_coded_error(name: str, kind: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if (name, kind) in NOT_BAD:
        pytest.skip("the command makes this path itself")
    monkeypatch.setenv("TGW_MQTT_PASSWORD", "x")  # mqtt-acl reads the registry only with it
    monkeypatch.chdir(tmp_path)  # nothing a command writes by default lands in the checkout
    parser = LEAVES[name]
    bad = _bad(tmp_path, kind)
    argv = _argv(name, parser, bad)
    text_code, _, err = _run(argv, capsys)
    assert text_code in (1, 2), (argv, text_code, err)  # bad input is never a success, nor a traceback
    assert "Traceback" not in err
    [line] = [x for x in err.splitlines() if re.match(rf"{re.escape(parser.prog)}: error: ", x)] or [None]
    if line is None:  # only a command's own report of the files it read may say it otherwise
        assert name in REPORTS, f"{argv}: no '{parser.prog}: error: ...' line on stderr:\n{err}"
    if not _takes_json(parser):
        return
    code, out, err_json = _run([*argv, "--format", "json"], capsys)
    assert code == text_code, (argv, code, text_code)
    doc = _check_error_document(name, code, out, bad)
    if doc is not None:  # people still read it where they did: the same line, naming the same code
        said = [x for x in err_json.splitlines() if x.startswith(f"{parser.prog}: error: ")]
        assert said and doc["message"].splitlines()[0] in said[0], (said, doc)
        if doc["code"] not in ("usage", "failed"):
            assert f"error: {doc['code']}" in said[0], (said, doc)


def test_an_unexpected_failure_is_internal_error_without_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import tgw.calendar

    def broken(args: argparse.Namespace) -> int:
        raise KeyError("a defect")

    monkeypatch.delenv("TGW_DEBUG", raising=False)
    monkeypatch.setattr(tgw.calendar, "cmd_show", broken)
    code, out, err = _run(["calendar", "show", "--format", "json"], capsys)
    assert code == 1 and "Traceback" not in err and err.startswith("tgw calendar show: error: internal-error: ")
    assert json.loads(out) == {"code": "internal-error", "exit": 1,
                               "message": "KeyError: 'a defect' (a defect in tgw; --debug shows where)"}
    code, out, err = _run(["--debug", "calendar", "show"], capsys)
    assert code == 1 and "Traceback" in err and "KeyError: 'a defect'" in err and out == ""


def test_a_command_error_is_said_once_in_each_layer(capsys: pytest.CaptureFixture[str]) -> None:
    error = CommandError("io-unreadable", "cannot read /x/y: No such file", exit=2, path="/x/y", prog="tgw k")
    assert error.report(as_json=True, out=__import__("sys").stdout, err=__import__("sys").stderr) == 2
    out, err = capsys.readouterr()
    assert err == "tgw k: error: io-unreadable: cannot read /x/y: No such file\n"  # the path said once
    assert json.loads(out) == {"code": "io-unreadable", "message": "cannot read /x/y: No such file", "exit": 2,
                               "path": "/x/y"}
    with pytest.raises(ValueError, match="unregistered"):
        CommandError("no-such-code", "x")


@settings(max_examples=100, deadline=None)
@given(exit=st.sampled_from([1, 2]),
       message=st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80),
       path=st.none() | st.text(alphabet="/abcXYZ_.-", min_size=1, max_size=20),
       line=st.none() | st.integers(1, 10**6))
def test_the_two_layers_say_the_same_error(exit: int, message: str, path: str | None, line: int | None) -> None:
    """README's contract for any coded error (every code): stdout one JSON document {"code",
    "message", "exit"} (+ path, line when named) that reads back exactly; stderr one line
    `PROG: error: ...` naming the code (usage and failed in words only, unless they name a place)
    and carrying the message; the element at fault said once."""
    import io

    for code in CODES:
        out, err = io.StringIO(), io.StringIO()
        error = CommandError(code, message, exit=exit, path=path, line=line, prog="tgw some command")
        assert error.report(as_json=True, out=out, err=err) == exit
        doc = json.loads(out.getvalue())
        assert out.getvalue().count("\n") == 1  # one document, one line
        expected: dict[str, Any] = {"code": code, "message": message, "exit": exit}
        expected.update({k: v for k, v in (("path", path), ("line", line)) if v is not None})
        assert doc == expected
        text = err.getvalue()
        assert text.startswith("tgw some command: error: ") and text.endswith(f"{message}\n")
        assert text.count("\n") == 1
        head = text.removeprefix("tgw some command: error: ")
        at = path is not None and path not in message
        if code not in ("usage", "failed") or line is not None or at:
            assert head.startswith(f"{code}{f' line {line}' if line else ''}{f' at {path}' if at else ''}: "), head
        else:
            assert head == f"{message}\n"
