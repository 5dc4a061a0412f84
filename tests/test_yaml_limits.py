"""YAML from outside (messages.yamlsafe and every command that reads YAML): what yaml.safe_load
takes silently or dies on is one coded refusal, never a traceback, an endless walk or a dropped key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from messages.errors import InputError
from messages.yamlsafe import DEPTH_MAX, NODES_MAX, load_yaml, load_yaml_file


def _laughs(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _deep_block(depth: int) -> str:
    return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "leaf\n"


HOSTILE = {
    "billion-laughs": (_laughs(), "aliases expand to more than"),
    "alias-to-ancestor": ("a: &x [1, *x]\n", "contains it"),
    "deep-block": (_deep_block(DEPTH_MAX + 10), "nested deeper than"),
    "deep-flow": ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nesting depth"),
    "duplicate-key": ("version: '1'\nrules: []\nversion: '2'\n", "duplicate key 'version'"),
    "python-tag": ('a: !!python/object/apply:os.system ["true"]\n', "could not determine a constructor"),
    "unhashable-key": ("? [1, 2]\n: x\n", "unhashable key"),
    "two-documents": ("a: 1\n---\nb: 2\n", "single document"),
    "control-character": ("a: b\x01c\n", "characters are not allowed"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_load_yaml_refuses_what_safe_load_takes_or_dies_on(case: str) -> None:
    text, says = HOSTILE[case]
    with pytest.raises(yaml.YAMLError, match=says):
        load_yaml(text)


def test_load_yaml_keeps_anchors_merges_and_a_shared_list_within_the_limit() -> None:
    assert load_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n") == {"base": {"x": 1, "y": 2},
                                                                         "c": {"x": 1, "y": 3}}
    assert load_yaml(_laughs(5)) is not None  # 9**5 = 59,049 values: within NODES_MAX
    assert 9 ** 5 < NODES_MAX < 9 ** 9
    assert load_yaml(_deep_block(DEPTH_MAX // 2 - 2)) is not None
    assert load_yaml("") is None


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                       max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_load_yaml_reads_what_safe_dump_wrote(value: object) -> None:
    # The oracle is YAML itself: a document an emitter wrote (no key twice, no alias, shallow)
    # reads as safe_load reads it.
    text = yaml.safe_dump(value, allow_unicode=True)
    assert load_yaml(text) == yaml.safe_load(text)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.integers(), min_size=1, max_size=6),
       st.data())
def test_load_yaml_refuses_any_key_given_twice(mapping: dict[str, int], data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(sorted(mapping)))
    text = yaml.safe_dump(mapping) + f"'{key}': 0\n"  # quoted: a plain `no:` or `on:` is a boolean key
    assert yaml.safe_load(text)[key] == 0  # what safe_load does: the first one dropped silently
    with pytest.raises(yaml.YAMLError, match=f"duplicate key '{key}'"):
        load_yaml(text)


@settings(max_examples=100, deadline=None)
@given(_values)
def test_load_yaml_file_reads_what_safe_dump_wrote(tmp_path_factory: pytest.TempPathFactory, value: object) -> None:
    path = tmp_path_factory.mktemp("yaml") / "f.yaml"
    path.write_text(yaml.safe_dump(value, allow_unicode=True), encoding="utf-8")
    assert load_yaml_file(path, code="config-invalid", what="x") == yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("content", "code", "message"), [
    (None, "io-unreadable", "widgets file {p}: No such file or directory"),
    ("fifo", "io-not-regular", "widgets file {p}: "),
    (b"name: \xff\n", "calendar-block-invalid", "widgets file {p} is not UTF-8"),
    (HOSTILE["duplicate-key"][0].encode(), "calendar-block-invalid", "widgets file {p} is not valid YAML: "),
])
def test_load_yaml_file_refuses_naming_the_file(tmp_path: Path, content: bytes | str | None, code: str,
                                                message: str) -> None:
    path = tmp_path / "w.yaml"
    if content == "fifo":
        os.mkfifo(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        load_yaml_file(path, code="calendar-block-invalid", what=f"widgets file {path}")
    assert caught.value.code == code
    assert caught.value.issues[0].message.startswith(message.format(p=path)), caught.value.issues[0].message


def test_load_yaml_file_of_an_empty_file_is_none(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text("# nothing\n", encoding="utf-8")
    assert load_yaml_file(tmp_path / "e.yaml", code="calendar-block-invalid", what="e") is None


# Every command that reads a YAML file, with the file as "{f}" ("{d}": an empty directory).
YAML_COMMANDS = [
    ["up", "--config", "{f}"],
    ["participants", "list", "--file", "{f}"],
    ["monitor", "rules", "validate", "{f}"],
    ["calendar", "load", "{f}", "--calendar-dir", "{d}"],
    ["clock", "--calendar-overrides", "{f}"],
    ["scenario", "validate", "{f}"],
]


@pytest.mark.parametrize("case", ["billion-laughs", "deep-block", "duplicate-key", "python-tag", "unhashable-key",
                                  "control-character"])
@pytest.mark.parametrize("command", YAML_COMMANDS, ids=" ".join)
def test_every_yaml_reading_command_refuses_in_one_line(tmp_path: Path, command: list[str], case: str) -> None:
    (tmp_path / "f.yaml").write_text(HOSTILE[case][0], encoding="utf-8")
    (tmp_path / "d").mkdir()
    args = [a.format(f=tmp_path / "f.yaml", d=tmp_path / "d") for a in command]
    # was: a RecursionError or ConstructorError traceback (up --config), a duplicate dropped, a
    # scenario's aliases copied until the memory ran out, a ReaderError traceback (scenario validate)
    r = subprocess.run([sys.executable, "-m", "tgw", *args], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert "Traceback" not in r.stderr, r.stderr[-800:]
    assert r.returncode in (1, 2) and "f.yaml" in r.stdout + r.stderr, (r.returncode, r.stdout, r.stderr)
