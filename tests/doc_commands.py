"""The `tgw` command lines the README and docs/ show, checked against the CLI's parsers.

A page that names a subcommand or an option the CLI no longer has sends a newcomer into a usage
error; tests/test_docs.py checks every page with `command_problems` (no network, no process).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

# A command starts a code line, or follows a shell operator or `VAR=value` assignments;
# in prose it is an inline code span beginning with it.
_CODE_START = re.compile(r"(?:^|&&|\|\||[|;(]|\$\()\s*(?:[A-Z_]+=\S*\s+)*(tgw(?:-sdk-bank)?)\s+(.*)$")
_INLINE = re.compile(r"`((?:[A-Z_]+=\S*\s+)*tgw(?:-sdk-bank)? [^`]+)`")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
_SHELL_LANGS = {"sh", "bash", "shell", "console"}  # an untagged fence is a diagram or a file
_STOP = {"|", "||", "&&", ";", "&", ")"}


def _code_lines(text: str) -> Iterator[str]:
    """Each line of the shell blocks of a markdown text (fenced, or indented four spaces), with
    backslash continuations joined and comments dropped."""
    blocks = [body for lang, body in _FENCE.findall(text) if lang in _SHELL_LANGS]
    prose = _FENCE.sub("", text)
    blocks += ["\n".join(line[4:] for line in chunk.splitlines())
               for chunk in re.findall(r"(?:^(?: {4}|\t).*\n?)+", prose, flags=re.M)]
    for block in blocks:
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            if line:
                yield line


def indented_block(text: str) -> str:
    """The first block of a markdown text indented four spaces, unindented."""
    chunk = re.search(r"(?:^(?: {4}.*|)\n)*?((?:^ {4}.*\n(?:\n(?= {4}))?)+)", text, flags=re.M)
    assert chunk is not None, "no indented block"
    return "\n".join(line[4:] for line in chunk.group(1).splitlines()) + "\n"


def doc_commands(text: str) -> list[tuple[str, str]]:
    """(program, its arguments as written) for every `tgw` / `tgw-sdk-bank` command of a page."""
    found = []
    lines = [*_code_lines(text), *(m.group(1) for m in _INLINE.finditer(_FENCE.sub("", text)))]
    for line in lines:
        for part in re.split(r"&&|\|\||;", line):
            m = _CODE_START.search(part.strip())
            if m:
                found.append((m.group(1), m.group(2)))
    return found


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _words(args: str) -> list[str]:
    words = []
    for word in args.split():
        if word in _STOP or word.startswith((">", "2>", "<")):
            break
        words.append(word.strip("[]()`'\","))
    return [w for w in words if w]


def _placeholder(word: str) -> bool:
    """COMMAND, NAME|FILE|DIR, ..., $REPO/...: what the reader fills in, not a subcommand."""
    return word.isupper() or not re.fullmatch(r"[a-z][a-z0-9-]*", word)


def tgw_problems(args: str, root: argparse.ArgumentParser) -> list[str]:
    """What a `tgw ARGS` line names that the CLI does not have: a subcommand where the parser
    wants one, or an option (`--x`, `--x=v`, `--a/--b`) none of the parsers on its path takes."""
    parser, path, known = root, ["tgw"], _options(root)
    problems = []
    for word in _words(args):
        if word.startswith("--"):
            for option in word.split("=", 1)[0].rstrip(".").split("/"):
                if option.startswith("--") and option not in known:
                    problems.append(f"{' '.join(path)}: no option {option}")
            continue
        subs = _subcommands(parser)
        if not subs or word.startswith("-"):  # an argument of the command, or a short option
            continue
        if word in subs:
            parser = subs[word]
            path.append(word)
            known |= _options(parser)
        elif not _placeholder(word):
            problems.append(f"{' '.join(path)}: no subcommand {word!r} (it has {', '.join(sorted(subs))})")
            break
        else:
            break  # a placeholder for the command: nothing after it can be placed
    return problems


def sdk_bank_options() -> set[str]:
    """The options `tgw-sdk-bank --help` lists (its parser is built inside its main)."""
    from examples.sdk_bank import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["--help"])
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", out.getvalue()))


def command_problems(text: str, where: Path | str, root: argparse.ArgumentParser,
                     sdk_options: set[str]) -> list[str]:
    """Every subcommand or option a page's commands name that the CLI does not have."""
    problems = []
    for program, args in doc_commands(text):
        if program == "tgw":
            problems += [f"{where}: `tgw {args.strip()[:60]}`: {p}" for p in tgw_problems(args, root)]
        else:
            problems += [f"{where}: `tgw-sdk-bank {args.strip()[:60]}`: no option {w}" for w in _words(args)
                         if w.startswith("--") and w.split("=", 1)[0] not in sdk_options]
    return problems
