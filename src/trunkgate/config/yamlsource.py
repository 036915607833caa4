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
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

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
    problems: list[ConfigProblem] = []
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "malformed YAML"
        return None, [ConfigProblem(Where(name, line, col), f"malformed YAML: {what}")]
    except yaml.YAMLError as exc:
        return None, [ConfigProblem(Where(name, 1, 1), f"malformed YAML: {exc}")]
    if node is None:
        return YamlDocument({}, source), []
    data = _convert(node, (), source, problems)
    return YamlDocument(data, source), problems


def _convert(node: yaml.Node, path: Path_, source: SourceMap, problems: list[ConfigProblem]) -> Any:
    if isinstance(node, yaml.MappingNode):
        _constructor.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, path, source, problems)
            mark = key_node.start_mark
            if not isinstance(key, str | int | float | bool) and key is not None:
                problems.append(
                    ConfigProblem(
                        Where(source.file, mark.line + 1, mark.column + 1),
                        "a mapping key must be a plain word",
                    )
                )
                continue
            key_path = (*path, key if isinstance(key, int) else str(key))
            if key in result:
                first = source.where(key_path)
                problems.append(
                    ConfigProblem(
                        Where(source.file, mark.line + 1, mark.column + 1),
                        f"duplicate key '{key}' (first at line {first.line})",
                    )
                )
                continue
            source.positions[key_path] = (mark.line + 1, mark.column + 1)
            result[key] = _convert(value_node, key_path, source, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            item_path = (*path, index)
            source.positions[item_path] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_convert(item, item_path, source, problems))
        return items
    construct = _SCALARS.get(node.tag)
    if construct is None:
        mark = node.start_mark
        problems.append(
            ConfigProblem(
                Where(source.file, mark.line + 1, mark.column + 1),
                f"unsupported YAML tag {node.tag}",
            )
        )
        return None
    try:
        return construct(_constructor, node)
    except Exception:
        # An explicit tag on a value it cannot read (`!!int ""`, `!!bool
        # maybe`): PyYAML's constructors fail on those in many ways.
        mark = node.start_mark
        problems.append(
            ConfigProblem(
                Where(source.file, mark.line + 1, mark.column + 1),
                f"{node.value!r} is not a valid {node.tag.rsplit(':', 1)[-1]}",
            )
        )
        return None


@dataclass(frozen=True)
class Origin:
    """Where one config item was written: its file's source map and its path."""

    source: SourceMap
    path: Path_

    def at(self, *keys: str | int) -> Where:
        return self.source.where(self.path + keys)
