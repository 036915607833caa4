"""The merger's exceptions. A merge conflict is not one of them: it is an
ordinary result (`MergeConflict`), since the gate expects conflicts."""

from __future__ import annotations


class MergerError(Exception):
    """Something went wrong preparing or publishing a tree that is not the
    fault of a change: a repository that cannot be reached, a broken cache."""


class GitError(MergerError):
    """A git command failed."""

    def __init__(self, args: tuple[str, ...], returncode: int, output: str) -> None:
        self.git_args = args
        self.returncode = returncode
        self.output = output
        shown = " ".join(("git", *args))
        super().__init__(f"{shown} failed ({returncode}): {output.strip()}")


class StaleTree(MergerError):
    """The branch moved since the tree was tested, so publishing it would
    not make the branch equal to what was tested."""
