"""`{param}` text templates in the style of Jenkins Job Builder: compile once,
render many times. `{{` and `}}` are literal braces, and `${...}` is left to
the shell (`${{...}}` as well). Pure functions, no config knowledge.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

#: How many values `Template.match` tries before it gives up on a name.
MATCH_STEPS = 20_000

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

    def match(self, text: str) -> dict[str, str] | None:
        """The values that render this template as `text`, or None.

        Each value is one line of one character or more; the first values
        are the shortest that fit (so `unit-{python}-{os}` reads
        `unit-3.12-debian-12` as 3.12 and debian-12). Places found not to
        fit are remembered, and the search gives up (None) after MATCH_STEPS
        tries: a backtracking regular expression took minutes on a name of a
        few hundred characters.
        """
        literals, names = self.parts[0::2], self.parts[1::2]
        if not names:
            return {} if text == literals[0] else None
        if not _fits_in_order(literals, len(names), text):
            return None
        ahead = [frozenset(names[i:]) for i in range(len(names))]
        failed: set[tuple[object, ...]] = set()
        steps = 0

        def ends(index: int, start: int, bound: dict[str, str]) -> Iterator[int]:
            known = bound.get(names[index])
            if known is not None:
                if text.startswith(known, start):
                    yield start + len(known)
                return
            after = literals[index + 1]
            line_end = text.find("\n", start)
            limit = len(text) if line_end < 0 else line_end
            end = start + 1
            while end <= limit:
                end = text.find(after, end, limit if after else None)
                if end < 0 or end > limit:
                    return
                yield end
                end += 1

        def fit(index: int, start: int, bound: dict[str, str]) -> dict[str, str] | None:
            nonlocal steps
            if index == len(names):
                return bound if start == len(text) else None
            key = (index, start, *sorted(i for i in bound.items() if i[0] in ahead[index]))
            if key in failed:
                return None
            for end in ends(index, start, bound):
                steps += 1
                if steps > MATCH_STEPS:
                    return None
                value = {names[index]: text[start:end]}
                found = fit(index + 1, end + len(literals[index + 1]), bound | value)
                if found is not None:
                    return found
            failed.add(key)
            return None

        return fit(0, len(literals[0]), {})


def _fits_in_order(literals: tuple[str, ...], params: int, text: str) -> bool:
    """Whether the literal parts occur in `text` in order, with room for a
    character of each parameter between them: quick, and true of every match."""
    first, last = literals[0], literals[-1]
    if len(text) < len(first) + len(last) + params:
        return False
    if not (text.startswith(first) and text.endswith(last)):
        return False
    position, end = len(first), len(text) - len(last)
    for literal in literals[1:-1]:
        found = text.find(literal, position + 1, end)
        if found < 0:
            return False
        position = found + len(literal)
    return position < end


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
