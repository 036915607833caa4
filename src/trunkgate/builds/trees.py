"""From a queue's tree to the merger's request. A change numbered BRANCH_TIP
stands for its branch's tip (periodic runs, pushes without a change): it adds
the project's branch but no change to merge."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from trunkgate.gate.changes import BRANCH_TIP
from trunkgate.merger.model import ChangeSpec, MergeRequest, RepoSpec
from trunkgate.review.code_urls import CodeUrls


class TreeEntry(Protocol):
    @property
    def project(self) -> str: ...
    @property
    def number(self) -> int: ...
    @property
    def patchset(self) -> int: ...
    @property
    def branch(self) -> str: ...


def merge_request(
    tree: Iterable[TreeEntry], code: CodeUrls, bases: tuple[tuple[str, str, str], ...] = ()
) -> MergeRequest:
    changes: list[ChangeSpec] = []
    repos: list[RepoSpec] = []
    for entry in tree:
        url = code.url(entry.project)
        if entry.number == BRANCH_TIP:
            repos.append(RepoSpec(project=entry.project, url=url, branch=entry.branch))
        else:
            changes.append(
                ChangeSpec(
                    project=entry.project,
                    url=url,
                    branch=entry.branch,
                    ref=code.ref(entry.project, entry.number, entry.patchset),
                    name=f"{entry.project}~{entry.number},{entry.patchset}",
                )
            )
    return MergeRequest(changes=tuple(changes), repos=tuple(repos), bases=bases)
