"""YAML from outside (configuration, participants, calendars, rule catalogues): `yaml.safe_load`
with the limits it lacks. Every refusal is a `yaml.YAMLError`, so that each caller's own handler
names it with its own code (config-invalid, calendar-block-invalid...), never a traceback:

- a key given twice in one mapping (safe_load keeps the last one and drops the other silently);
- aliases that expand past `NODES_MAX` values (a "billion laughs" of anchors: nine lines that
  unfold into a billion strings for whoever walks the data), or an alias to its own ancestor;
- nesting deeper than `DEPTH_MAX` (safe_load's recursive composer ends in a RecursionError).

Python tags (`!!python/object`...) stay refused as safe_load refuses them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from messages.errors import InputError
from messages.files import read_error_code, read_regular_text

__all__ = ["DEPTH_MAX", "NODES_MAX", "YamlLimitError", "check_expansion", "load_yaml", "load_yaml_file"]

# Real files: a participants registry of a few hundred entries is ~10,000 values, 5 levels deep.
NODES_MAX = 1_000_000
DEPTH_MAX = 64


class YamlLimitError(yaml.MarkedYAMLError):
    """A document safe_load would take that is refused here (see the module docstring)."""


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise YamlLimitError(None, None, f"duplicate key {key!r} (given twice in one mapping)",
                                         key_node.start_mark)
                seen.add(key)
            except TypeError:
                pass  # an unhashable key: the constructor below refuses it in its own words
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: yaml.Node) -> None:
    """How many values and how deep the document is once every alias is followed, counted on the
    composed nodes (shared, so the count itself costs one visit per node) and refused past the
    limits before anything is built."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            open_.discard(key)
            if size[key] > NODES_MAX:
                raise YamlLimitError(None, None, f"aliases expand to more than {NODES_MAX:,} values", node.start_mark)
            if depth[key] > DEPTH_MAX:
                raise YamlLimitError(None, None, f"nested deeper than {DEPTH_MAX} levels", node.start_mark)
            continue
        if key in size:
            continue
        if key in open_:
            raise YamlLimitError(None, None, "an alias refers to a node that contains it (endless)", node.start_mark)
        open_.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def load_yaml(text: str | bytes) -> Any:
    """`yaml.safe_load(text)` within the limits above; a yaml.YAMLError for what they refuse."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlLimitError(None, None, f"nested deeper than {DEPTH_MAX} levels", None) from None
        if node is None:
            return None
        check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path, *, code: str, what: str) -> Any:
    """`load_yaml` of the regular file `path` (None when it holds no document), or an InputError
    naming `what` (e.g. "config PATH"): the read code (`read_error_code`) if it cannot be read,
    `code` if it is not UTF-8 or not YAML within the limits."""
    try:
        return load_yaml(read_regular_text(path))
    except OSError as exc:
        raise InputError(read_error_code(exc), f"{what}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(code, f"{what} is not UTF-8") from None
    except yaml.YAMLError as exc:
        raise InputError(code, f"{what} is not valid YAML: {exc}") from None
