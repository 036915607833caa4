"""Cross-project dependencies: `Depends-On: <change URL>` lines in a
change's commit message (a pull request's description, on GitHub) name the
changes it needs, in any project and any review source of the site. They
are followed, transitively, to the open changes the change needs, those it
needs first; a change that needs itself through others (a cycle), one
abandoned, or a URL that names nothing of this site refuse it, saying so."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trunkgate.review.errors import ReviewError
from trunkgate.review.model import Change, ChangeStatus
from trunkgate.review.sources import ReviewSources

DEPENDS_ON = re.compile(r"^[ \t]*Depends-On:[ \t]*(\S+)[ \t]*$", re.IGNORECASE | re.MULTILINE)
#: Changes one change may need, all told; and URLs read from one message.
MOST_NEEDED = 20


@dataclass(frozen=True)
class Dependencies:
    """The open changes a change needs, each after those it needs; or why
    it may not be tested at all."""

    needs: tuple[Change, ...] = ()
    refused: str = ""


def depends_on(message: str) -> list[str]:
    """The URLs of a message's Depends-On lines, in order, each once (a
    description written in GitHub's page ends its lines with CR LF)."""
    lines = message.replace("\r\n", "\n").replace("\r", "\n")
    return list(dict.fromkeys(DEPENDS_ON.findall(lines)))[:MOST_NEEDED]


def _name(change: Change) -> str:
    return f"{change.project}~{change.number}"


class _Refused(Exception):
    pass


async def resolve(change: Change, sources: ReviewSources, projects: set[str]) -> Dependencies:
    """What `change` needs, followed through `sources`; `projects` are the
    site's (a change of another is not one it gates)."""
    order: list[Change] = []
    done: set[tuple[str, int]] = set()

    async def visit(current: Change, path: list[Change]) -> None:
        for url in depends_on(current.message):
            found = await _find(url, sources, current)
            key = (found.project, found.number)
            keys = [(p.project, p.number) for p in path]
            if key in keys:
                loop = [_name(p) for p in path[keys.index(key) :]] + [_name(found)]
                raise _Refused("dependency cycle: " + " -> ".join(loop))
            if key in done:
                continue
            if found.project not in projects:
                raise _Refused(
                    f"{_name(current)} depends on {url}, a change of {found.project}, "
                    "which this site does not gate"
                )
            if found.status is ChangeStatus.ABANDONED:
                raise _Refused(f"{_name(current)} depends on {_name(found)}, which is abandoned")
            if found.status is ChangeStatus.MERGED:
                done.add(key)
                continue
            if len(done) + len(path) > MOST_NEEDED:
                raise _Refused(f"it depends on more than {MOST_NEEDED} changes")
            await visit(found, [*path, found])
            done.add(key)
            order.append(found)

    try:
        await visit(change, [change])
    except _Refused as refusal:
        return Dependencies(refused=str(refusal))
    return Dependencies(needs=tuple(order))


async def _find(url: str, sources: ReviewSources, current: Change) -> Change:
    named = sources.change_for_url(url)
    if named is None:
        raise _Refused(
            f"{_name(current)} depends on {url}, which names no change of this site's "
            "review sources"
        )
    project, number = named
    try:
        if not project:
            return await sources.local.get(number)
        return await sources.for_project(project).change(project, number)
    except ReviewError as exc:
        raise _Refused(f"{_name(current)} depends on {url}: {exc}") from None
