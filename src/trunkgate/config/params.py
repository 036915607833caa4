"""`{param}` text templates in the style of Jenkins Job Builder: compile once,
render many times. `{{` and `}}` are literal braces, and `${...}` is left to
the shell (`${{...}}` as well). Pure functions, no config knowledge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r"\$\{\{|\{\{|\}\}|\$\{|\{([A-Za-z_][A-Za-z0-9_-]*)\}|\{|\}")


class TemplateError(ValueError):
    """A brace that is neither a `{param}` nor escaped; `offset` is where."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Template:
    """Literal text and parameter names, alternating: even items are text."""

    parts: tuple[str, ...]
    names: frozenset[str]

    @property
    def is_constant(self) -> bool:
        return len(self.parts) == 1

    def render(self, values: Mapping[str, str]) -> str:
        if len(self.parts) == 1:
            return self.parts[0]
        parts = self.parts
        out = [parts[0]]
        for index in range(1, len(parts), 2):
            out.append(values[parts[index]])
            out.append(parts[index + 1])
        return "".join(out)


def compile_template(text: str) -> Template:
    parts: list[str] = []
    names: set[str] = set()
    literal: list[str] = []
    position = 0
    shell_depth = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token == "${{":
            literal.append("${")
        elif token == "{{":
            literal.append("{")
        elif token == "}}":
            literal.append("}")
        elif token == "${":
            literal.append(token)
            shell_depth += 1
        elif shell_depth and token == "}":
            literal.append(token)
            shell_depth -= 1
        elif match.group(1) is not None:
            parts.append("".join(literal))
            literal = []
            parts.append(match.group(1))
            names.add(match.group(1))
        else:
            raise TemplateError(
                f"unmatched '{token}' in '{text}': write '{token * 2}' for a literal brace "
                "or '{name}' for a parameter",
                match.start(),
            )
    literal.append(text[position:])
    parts.append("".join(literal))
    return Template(tuple(parts), frozenset(names))


def param_text(value: object) -> str:
    """How a parameter value reads inside a job: YAML's spelling of booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
