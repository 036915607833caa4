"""Reading YAML config files into plain data while remembering where each key
and list item came from, so every later problem can name FILE:LINE:COL.

Holds the reader and the source map; no knowledge of config sections.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trunkgate.config.errors import ConfigProblem, Where

try:
    from yaml import CSafeLoader as _Loader

    # libyaml counts a reader error's position in bytes of UTF-8.
    _BYTE_POSITIONS = True
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

    _BYTE_POSITIONS = False

Path_ = tuple[str | int, ...]

_constructor = yaml.constructor.SafeConstructor()
_SCALAR_TAGS = ("null", "bool", "int", "float", "str", "timestamp", "binary")
_SCALARS: dict[str, Callable[[Any, Any], Any]] = {
    f"tag:yaml.org,2002:{tag}": yaml.constructor.SafeConstructor.yaml_constructors[
        f"tag:yaml.org,2002:{tag}"
    ]
    for tag in _SCALAR_TAGS
}


@dataclass
class SourceMap:
    """Positions of the keys and list items of one file, by data path."""

    file: str
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_) -> Where:
        """The position of `path`, or of its nearest recorded ancestor."""
        while True:
            found = self.positions.get(path)
            if found is not None:
                return Where(self.file, found[0], found[1])
            if not path:
                return Where(self.file, 1, 1)
            path = path[:-1]


@dataclass
class YamlDocument:
    data: Any
    source: SourceMap
    unreadable: set[Path_] = field(default_factory=set)
    """Where reading failed (a problem says why); what holds these is not checked
    further, since every problem found in it would follow from that one."""

    def readable(self, path: Path_) -> bool:
        return not any(bad[: len(path)] == path for bad in self.unreadable)


def read_yaml(
    path: Path, display: str | None = None
) -> tuple[YamlDocument | None, list[ConfigProblem]]:
    """Parse one file. Returns the document, or None and the problems found."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, [ConfigProblem(Where(name, 1, 1), f"cannot read file: {exc.strerror}")]
    except UnicodeDecodeError:
        return None, [ConfigProblem(Where(name, 1, 1), "file is not valid UTF-8 text")]
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> tuple[YamlDocument | None, list[ConfigProblem]]:
    source = SourceMap(name)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "malformed YAML"
        return None, [ConfigProblem(Where(name, line, col), f"malformed YAML: {what}")]
    except yaml.reader.ReaderError as exc:
        return None, [_unreadable_character(exc, text, name)]
    except yaml.YAMLError as exc:
        return None, [ConfigProblem(Where(name, 1, 1), f"malformed YAML: {exc}")]
    if node is None:
        return YamlDocument({}, source), []
    reader = _Reader(source)
    try:
        data = reader.convert(node, ())
    except _TooMuch as exc:
        return None, [ConfigProblem(_at(name, exc.node), str(exc))]
    return YamlDocument(data, source, reader.unreadable), reader.problems


def _unreadable_character(exc: yaml.reader.ReaderError, text: str, name: str) -> ConfigProblem:
    position = exc.position
    if _BYTE_POSITIONS:
        position = len(text.encode("utf-8", "surrogatepass")[:position].decode("utf-8", "ignore"))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(exc.character)
    return ConfigProblem(
        Where(name, line, column), f"malformed YAML: the character #x{code:x} is not allowed"
    )


#: How many items aliases may add to a file in all. An alias repeats what
#: its anchor holds, so nine levels of nine aliases make 9^9 items from a
#: few lines; a file without aliases is bounded by its own length.
MAX_ALIAS_ITEMS = 100_000
#: How deep mappings and lists may nest; no config needs a tenth of it, and
#: reading deeper would exhaust Python's stack.
MAX_DEPTH = 100

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_EXPECTED = {
    "tag:yaml.org,2002:int": "a whole number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "base64 data",
}


class _TooMuch(Exception):
    """Reading stopped: aliases would repeat more than a file may hold."""

    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node = node


def _at(file: str, node: yaml.Node) -> Where:
    return Where(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Reader:
    """From composed YAML nodes to plain data and positions, with aliases
    bounded in size and in depth, and refused when they hold themselves."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.problems: list[ConfigProblem] = []
        self.seen: set[int] = set()
        self.open: set[int] = set()
        self.repeated = 0
        self.unreadable: set[Path_] = set()

    def problem(self, node: yaml.Node, message: str, path: Path_ | None = None) -> None:
        self.problems.append(ConfigProblem(_at(self.source.file, node), message))
        if path is not None:
            self.unreadable.add(path)

    def convert(self, node: yaml.Node, path: Path_) -> Any:
        if id(node) in self.open:
            self.problem(node, "an alias here refers to the item that holds it", path)
            return None
        if len(path) > MAX_DEPTH:
            self.problem(node, f"the data here is nested more than {MAX_DEPTH} levels deep", path)
            return None
        if id(node) in self.seen:
            # Reached again through an alias: everything under it is a copy.
            self.repeated += 1
            if self.repeated > MAX_ALIAS_ITEMS:
                raise _TooMuch(
                    node,
                    f"aliases expand to more than {MAX_ALIAS_ITEMS} items: "
                    "write the items out, or repeat less",
                )
        self.seen.add(id(node))
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
                return self.mapping(node, path)
            if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
                return [self.item(child, (*path, index)) for index, child in enumerate(node.value)]
            if isinstance(node, yaml.ScalarNode):
                return self.scalar(node, path)
            self.problem(node, f"unsupported YAML tag {node.tag}", path)
            return None
        finally:
            self.open.discard(id(node))

    def item(self, node: yaml.Node, path: Path_) -> Any:
        self.source.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        return self.convert(node, path)

    def mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                for key, value in self.merge(value_node, path).items():
                    if key not in result:
                        result[key] = value
                        merged.add(key)
                continue
            key = self.convert(key_node, path)
            if not isinstance(key, str | int | float | bool) and key is not None:
                self.problem(key_node, "a mapping key must be a plain word")
                continue
            key_path = (*path, key if isinstance(key, int) else str(key))
            if key in result and key not in merged:
                first = self.source.where(key_path)
                self.problem(key_node, f"duplicate key '{key}' (first at line {first.line})")
                continue
            # A key written in the mapping wins over one merged into it.
            merged.discard(key)
            result[key] = self.item_at(key_node, value_node, key_path)
        return result

    def item_at(self, key_node: yaml.Node, value_node: yaml.Node, path: Path_) -> Any:
        self.source.positions[path] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return self.convert(value_node, path)

    def merge(self, node: yaml.Node, path: Path_) -> dict[Any, Any]:
        """What a merge key `<<` brings in: a mapping, or a list of them
        (earlier ones win)."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        result: dict[Any, Any] = {}
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.problem(source, "a merge key '<<' takes a mapping or a list of mappings", path)
                continue
            value = self.convert(source, path)
            if isinstance(value, dict):
                for key, item in value.items():
                    result.setdefault(key, item)
        return result

    def scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        construct = _SCALARS.get(node.tag)
        if construct is None:
            self.problem(node, f"unsupported YAML tag {node.tag}", path)
            return None
        try:
            return construct(_constructor, node)
        except Exception:
            # PyYAML's scalar constructors fail on text not of their tag in
            # many ways (ValueError, KeyError for !!bool 'maybe', IndexError
            # for an empty !!int, AttributeError for a !!timestamp that is no
            # date, ValueError for an integer of over 4300 digits); each means
            # the same here.
            text = str(node.value)
            shown = f"'{text[:20]}…' ({len(text)} characters)" if len(text) > 40 else f"'{text}'"
            self.problem(node, f"{shown} is not {_EXPECTED.get(node.tag, node.tag)}", path)
            return None


@dataclass(frozen=True)
class Origin:
    """Where one config item was written: its file's source map and its path."""

    source: SourceMap
    path: Path_

    def at(self, *keys: str | int) -> Where:
        return self.source.where(self.path + keys)
