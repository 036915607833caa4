"""The demo's five changes to the example project, each with the outcome the
gate must give it: three good, one breaking a unit test, one conflicting with
an earlier one."""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoChange:
    subject: str
    files: dict[str, str]
    expected: str  # the gate's result: SUCCESS, FAILURE or MERGE_CONFLICT
    why: str


def _code(text: str) -> str:
    return textwrap.dedent(text).lstrip()


# The README change comes before the breaking one: the change conflicting with
# it then always has it in its tree. Behind the breaking change, it could fail
# first (its tree holds the breaking change) and the gate would rightly test
# the conflicting change without it.
CHANGES = (
    DemoChange(
        "Add subtract",
        {
            "calc/subtract.py": _code("""
                def subtract(a: int, b: int) -> int:
                    return a - b
                """),
            "tests/test_subtract.py": _code("""
                import unittest

                from calc.subtract import subtract


                class SubtractTest(unittest.TestCase):
                    def test_subtract(self) -> None:
                        self.assertEqual(subtract(5, 3), 2)
                """),
        },
        "SUCCESS",
        "good",
    ),
    DemoChange(
        "Add divide",
        {
            "calc/divide.py": _code("""
                def divide(a: int, b: int) -> float:
                    return a / b
                """),
            "tests/test_divide.py": _code("""
                import unittest

                from calc.divide import divide


                class DivideTest(unittest.TestCase):
                    def test_divide(self) -> None:
                        self.assertEqual(divide(6, 3), 2)
                """),
        },
        "SUCCESS",
        "good",
    ),
    DemoChange(
        "Describe calc in the README",
        {"README.md": "# calc\n\nA tiny calculator: add, multiply, subtract, divide.\n"},
        "SUCCESS",
        "good",
    ),
    DemoChange(
        "Make add faster",
        {
            "calc/__init__.py": _code('''
                """A tiny calculator, the project trunkgate's example gates."""


                def add(a: int, b: int) -> int:
                    return a - b


                def multiply(a: int, b: int) -> int:
                    return a * b
                '''),
        },
        "FAILURE",
        "breaks a unit test",
    ),
    DemoChange(
        "Say what calc is for in the README",
        {"README.md": "# calc\n\nThe calculator that trunkgate's demo gates.\n"},
        "MERGE_CONFLICT",
        "conflicts with the README change before it",
    ),
)


def commit_change(repo: Path, change: DemoChange) -> str:
    """Commit `change` on the branch tip of the working copy, off to the side; return the commit."""
    git = [
        "git",
        "-C",
        str(repo),
        "-c",
        "user.name=Demo Developer",
        "-c",
        "user.email=dev@example.org",
    ]
    subprocess.run([*git, "checkout", "-q", "--detach", "main"], check=True)
    for name, text in change.files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        subprocess.run([*git, "add", name], check=True)
    subprocess.run([*git, "commit", "-q", "-m", change.subject], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run([*git, "checkout", "-q", "main"], check=True)
    return commit
