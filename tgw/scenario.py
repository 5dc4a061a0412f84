"""`tgw scenario`: business cases as data (`scenarios/*.yaml`).

    tgw scenario list [--format json]      the catalogue: name, title, tags, file
    tgw scenario validate FILE|DIR|NAME...  check files against docs/scenario.schema.json and
                                            the names they use; errors as file:line: field: message
    tgw scenario run NAME|FILE|DIR... [--seed N] [--junit OUT.xml] [--html OUT.html] [--format json]
                                            play them in simulated mode (deterministic engine,
                                            SQLite in a temporary directory); progress on stderr
    tgw scenario run ... --external bank-a --url URL --world DIR
                                            conformance mode: bank-a is your real system at the
                                            gateway URL; the runner plays the rest (docs/conformance.md)
    tgw scenario world DIR                  a world (CA, participants, tokens) for that gateway
    tgw scenario schema                     print the JSON Schema (draft 2020-12)

Exit codes: 0 every file is valid (run: every expectation held), 1 an expectation failed or a run
could not finish, 2 a file is not valid (or cannot be read). A directory run with a bad file still
runs the other files and prints their results (text, --format json, --junit, --html), then exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tgw.command_error import EXIT_USAGE, CommandError, choose_action

__all__ = ["register"]


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("scenario", help="list, validate and run scenario files (business cases as data)",
                              description="Scenarios: steps at business times and the expectations on what comes "
                                          "back. Format: docs/scenarios.md, schema: docs/scenario.schema.json.")
    sub = p.add_subparsers(dest="scenario_command", metavar="SUBCOMMAND")
    lst = sub.add_parser("list", help="the scenario catalogue",
                         description="List the scenario catalogue (scenarios/, or --dir): each file's name, title "
                                     "and tags, or its first error.",
                         epilog="Exit codes: 0 listed, 2 a file of it is not valid (listed INVALID) or --dir is not "
                                "a directory.")
    lst.add_argument("--dir", help="list this directory instead of the catalogue")
    lst.add_argument("--format", choices=("text", "json"), default="text",
                     help="json: {scenarios: [{name, title, tags, file, valid, steps, expectations} or {name, "
                          "file, valid: false, errors}], count, invalid} (default text)")
    lst.set_defaults(func=run_list)
    val = sub.add_parser("validate", help="check scenario files; exit 2 if one is wrong",
                         description="Check scenario files (a file, a directory of them, or a catalogue name) "
                                     "against the schema and the loader's checks (names, times, head fields, "
                                     "divisions); every error as file:line: field: message (code).",
                         epilog="Exit codes: 0 every file valid, 2 one is not, or no scenario file found.")
    val.add_argument("targets", nargs="+", metavar="FILE|DIR|NAME")
    val.add_argument("--format", choices=("text", "json"), default="text",
                     help="json: {files: [{file, valid, name, steps, expectations} or {file, valid: false, "
                          "errors}]} (default text)")
    val.set_defaults(func=run_validate)
    run = sub.add_parser("run", help="play scenarios in simulated mode; exit 0 all held, 1 one failed, "
                                              "2 bad file (the other files still run)",
                         description="Play scenarios (names, files or directories) in simulated mode: the real "
                                     "gateway in-process, every participant simulated, the clock moved through "
                                     "each scenario's days; then judge every expectation. With --external, "
                                     "against your own system (docs/conformance.md). A failure is printed with "
                                     "what was expected, what happened and the voucher's trace.",
                         epilog="Exit codes: 0 every expectation of every scenario that ran held (skipped ones do "
                                "not fail the run), 1 one failed or a run could not finish, 2 a bad scenario file "
                                "(the other files still run) or bad options.")
    run.add_argument("targets", nargs="+", metavar="NAME|FILE|DIR")
    run.add_argument("--seed", type=int, help="override every scenario's world.seed")
    run.add_argument("--algorithm", choices=("ecdsa", "sm2"), default="ecdsa",
                     help="every participant's seal in simulated mode: ecdsa (P-256; default) or sm2 (SM2 with SM3)")
    run.add_argument("--junit", metavar="OUT.xml", help="write a JUnit XML report")
    run.add_argument("--html", metavar="OUT.html", help="write a self-contained HTML report")
    run.add_argument("--format", choices=("text", "json"), default="text",
                     help="json: {ok, invalid: [{file, errors}], scenarios: [{name, ok, error, elapsed_s, "
                          "skipped, notes, signoff, skipped_expectations, expectations: [{index, name, ok, "
                          "expected, actual, line, voucher, trace, seen}]}]} (default text)")
    run.add_argument("--dir", help="keep each scenario's world and databases under this directory")
    run.add_argument("--quiet", action="store_true",
                     help="on stderr only one line per scenario as it ends ([n/N] name: verdict), not its steps")
    run.set_defaults(func=run_run)
    from tgw.conformance import add_run_arguments, add_world_parser

    add_run_arguments(run)
    add_world_parser(sub)
    sch = sub.add_parser("schema", help="print the scenario JSON Schema",
                         description="Print the scenario files' JSON Schema (draft 2020-12; "
                                     "docs/scenario.schema.json is a copy).",
                         epilog="Exit codes: 0 printed.")
    sch.set_defaults(func=run_schema)
    p.set_defaults(func=choose_action(p))


def run_list(args: argparse.Namespace) -> int:
    from pathlib import Path

    from runner.scenario_file import CATALOGUE_DIR, ScenarioError, catalogue, load_scenario

    directory = Path(args.dir) if args.dir else CATALOGUE_DIR
    if not directory.is_dir():
        raise CommandError("io-unreadable", f"{directory} is not a directory", exit=EXIT_USAGE, path=str(directory))
    from business_time.calendar import BusinessCalendar

    calendar = BusinessCalendar.default()  # one for every file: building it is most of loading one
    rows: list[dict[str, Any]] = []
    bad = 0
    for path in catalogue(directory):
        try:
            s = load_scenario(path, calendar=calendar)
        except ScenarioError as exc:
            bad += 1
            rows.append({"name": path.stem, "file": str(path), "valid": False, "errors": exc.lines()})
            continue
        rows.append({"name": s.name, "title": s.title, "tags": list(s.tags), "file": str(path), "valid": True,
                     "steps": len(s.steps), "expectations": len(s.expectations)})
    if args.format == "json":
        print(json.dumps({"scenarios": rows, "count": len(rows), "invalid": bad}, ensure_ascii=False, indent=2))
    else:
        width = max((len(r["name"]) for r in rows), default=4)
        for r in rows:
            if r["valid"]:
                tags = f"  [{', '.join(r['tags'])}]" if r["tags"] else ""
                print(f"{r['name']:<{width}}  {r['title']}{tags}")
            else:
                print(f"{r['name']:<{width}}  INVALID: {r['errors'][0]}")
        print(f"{len(rows)} scenarios in {directory}" + (f", {bad} invalid" if bad else ""), file=sys.stderr)
    return 2 if bad else 0


def _targets(targets: list[str]) -> list[Any]:
    """The scenario files the targets name; a target that names none is unreadable input (exit 2)."""
    from runner.scenario_file import ScenarioError, resolve_targets

    try:
        return list(resolve_targets(targets))
    except ScenarioError as exc:
        raise CommandError("io-unreadable", exc.issues[0].message, exit=EXIT_USAGE, path=exc.file) from exc


def run_validate(args: argparse.Namespace) -> int:
    from business_time.calendar import BusinessCalendar
    from runner.scenario_file import ScenarioError, load_scenario

    results: list[dict[str, Any]] = []
    paths = _targets(args.targets)
    if not paths:  # was: exit 2 and not a word (an empty directory), `{"files": []}` in JSON
        raise CommandError("io-unreadable", "no scenario files found", exit=EXIT_USAGE)
    calendar = BusinessCalendar.default()  # one for every file
    for path in paths:
        try:
            s = load_scenario(path, calendar=calendar)
        except ScenarioError as exc:
            results.append({"file": str(path), "valid": False,
                            "errors": [{"line": i.line, "where": i.path, "code": i.code, "message": i.message} for i in exc.issues]})
            if args.format == "text":
                for line in exc.lines():
                    print(line, file=sys.stderr)
            continue
        results.append({"file": str(path), "valid": True, "name": s.name, "steps": len(s.steps),
                        "expectations": len(s.expectations)})
        if args.format == "text":
            print(f"{path}: ok ({s.name}: {len(s.steps)} steps, {len(s.expectations)} expectations)")
    if args.format == "json":
        print(json.dumps({"files": results}, ensure_ascii=False, indent=2))
    return 0 if all(r["valid"] for r in results) and results else 2


def run_run(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile
    from pathlib import Path

    from gateway.logs import configure_logging
    from runner.monthly_signoff import signoff_json
    from runner.report import RunResult, html_report, junit_xml
    from runner.scenario_file import ScenarioError, load_scenario
    from runner.scenario_run import run_scenario

    paths = _targets(args.targets)  # a target that names nothing: nothing runs
    if not paths:
        raise CommandError("io-unreadable", "no scenario files found", exit=EXIT_USAGE)
    # A bad file does not stop the others: it is reported (stderr, JSON, JUnit, HTML), the rest
    # run, and the run exits 2 (a file could not be read or is not valid) after their results.
    scenarios, invalid = [], []
    from business_time.calendar import BusinessCalendar

    calendar = BusinessCalendar.default()  # one for every file: building it is most of loading one
    for path in paths:
        try:
            scenarios.append(load_scenario(path, calendar=calendar))
        except ScenarioError as error:
            invalid.append(error)
            for line in error.lines():
                print(line, file=sys.stderr)
    configure_logging(json=False, level="ERROR")

    def progress(line: str) -> None:
        if not args.quiet:
            print(f"  {line}", file=sys.stderr)

    from tgw.conformance import player

    conformance = player(args, progress)
    if isinstance(conformance, str):
        raise CommandError.usage(conformance)

    results: list[RunResult] = []
    for n, s in enumerate(scenarios, start=1):
        if not args.quiet:
            print(f"{s.name}: {s.title}", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="tgw-scenario-") as tmp:
            root = Path(args.dir) / s.name if args.dir else Path(tmp)
            root.mkdir(parents=True, exist_ok=True)
            r = asyncio.run(conformance(s, root) if conformance else run_scenario(
                s, root, seed=args.seed, progress=progress, algorithm=args.algorithm))
        results.append(r)
        # even --quiet says each scenario as it ends: a long run in CI is never silent for minutes
        verdict = "ok" if r.ok else ("ERROR " + (r.error or "") if r.error else f"FAILED {len(r.failed)}")
        verdict = ("SKIPPED" if args.quiet else f"SKIPPED: {r.skipped}") if r.skipped else verdict  # why: stdout
        print(f"[{n}/{len(scenarios)}] {s.name}: {verdict} ({len(r.outcomes) - len(r.failed)}/{len(r.outcomes)} "
              f"held, {r.elapsed_s:.1f} s)", file=sys.stderr, flush=True)
    if args.junit:
        Path(args.junit).write_text(junit_xml(results, invalid=invalid), encoding="utf-8")
    if args.html:
        Path(args.html).write_text(html_report(results, invalid=invalid), encoding="utf-8")
    ok = all(r.ok for r in results) and not invalid
    if args.format == "json":
        print(json.dumps({"ok": ok, "invalid": [{
            "file": bad.file, "errors": [{"line": i.line, "where": i.path, "code": i.code, "message": i.message} for i in bad.issues]}
            for bad in invalid], "scenarios": [{
            "name": r.scenario.name, "ok": r.ok, "error": r.error, "elapsed_s": round(r.elapsed_s, 2),
            "skipped": r.skipped, "notes": list(r.notes),
            "signoff": signoff_json(r.observed.signoffs) if r.observed else [],
            "skipped_expectations": [{"index": e.index, "name": e.name, "why": why} for e, why in r.skipped_expectations],
            "expectations": [{"index": o.expectation.index, "name": o.name, "ok": o.ok, "expected": o.expected,
                              "actual": o.actual, "line": o.expectation.line, "voucher": o.voucher_key,
                              "trace": o.trace_link or None, "seen": list(o.evidence)}
                             for o in r.outcomes]} for r in results]},
            ensure_ascii=False, indent=2))
    else:
        for r in results:
            for o in r.failed:
                print(f"{r.scenario.path}:{o.expectation.line}: {o.name}\n    expected: {o.expected}\n"
                      f"    actual:   {o.actual}" + (f"\n    trace:    {o.trace_link}" if o.trace_link else "")
                      + "".join(f"\n    seen:     {line}" for line in o.evidence))
            if r.error:
                print(f"{r.scenario.path}: {r.error}")
            if r.skipped:
                print(f"{r.scenario.path}: skipped: {r.skipped}")
        held = sum(1 for r in results if r.ok and not r.skipped)
        skipped = sum(1 for r in results if r.skipped)
        for bad in invalid:
            print(f"{bad.file}: not run: {len(bad.issues)} error(s) in the file (listed on stderr)")
        print(f"{held} of {len(results) - skipped} scenarios held" + (f", {skipped} skipped" if skipped else "")
              + (f", {len(invalid)} file(s) not valid" if invalid else ""))
    return 2 if invalid else 0 if ok else 1


def run_schema(args: argparse.Namespace) -> int:
    from runner.scenario_schema import schema_json

    sys.stdout.write(schema_json())
    return 0
