"""Which pipelines a review event concerns and what it means for each:
enqueue, dequeue, a new patchset. Pure: config and event in, queue events out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from trunkgate.config.loader import Config
from trunkgate.config.sections import PipelineSection, Trigger
from trunkgate.gate.changes import BRANCH_TIP, ChangeRef, JobSpec
from trunkgate.gate.events import Dequeue, Enqueue, Event, NewPatchset
from trunkgate.review.events import ReviewEvent


@dataclass(frozen=True)
class Routed:
    pipeline: str
    event: Event


def queue_name(config: Config, project: str) -> str:
    """Projects naming the same queue are gated together; else each has its own."""
    section = config.projects.get(project)
    return section.queue if section is not None and section.queue else project


def route(config: Config, event: ReviewEvent) -> list[Routed]:
    """The queue events a review event leads to, pipeline by pipeline, in order."""
    if event.project not in config.projects:
        return []
    routed: list[Routed] = []
    if event.change is not None and event.kind == "change-abandoned":
        routed += [
            Routed(name, Dequeue(project=event.project, number=event.change, reason="abandoned"))
            for name in config.pipelines
        ]
        return routed
    if event.change is not None and event.patchset is not None and event.kind == "patchset-created":
        routed += [
            Routed(
                name,
                NewPatchset(project=event.project, number=event.change, patchset=event.patchset),
            )
            for name in config.pipelines
        ]
    for name, pipeline in config.pipelines.items():
        if not any(_matches(trigger, event) for trigger in pipeline.trigger):
            continue
        enqueue = _enqueue(config, pipeline, event)
        if enqueue is not None:
            routed.append(Routed(name, enqueue))
    return routed


def enqueue_for(config: Config, pipeline: str, change: ChangeRef) -> Enqueue | None:
    """An Enqueue of the change with the project's jobs there; None when it has none."""
    jobs = tuple(JobSpec.of(job) for job in config.jobs_for(change.project, pipeline))
    if not jobs:
        return None
    return Enqueue(change=change, queue=queue_name(config, change.project), jobs=jobs)


def _enqueue(config: Config, pipeline: PipelineSection, event: ReviewEvent) -> Enqueue | None:
    if event.kind == "ref-updated" and (event.change is None or event.patchset is None):
        # A push that was no change: the branch's new tip.
        tip = ChangeRef(event.project, BRANCH_TIP, BRANCH_TIP, event.branch, event.commit or "")
        return enqueue_for(config, pipeline.name, tip)
    if event.change is None or event.patchset is None:
        return None
    change = ChangeRef(event.project, event.change, event.patchset, event.branch)
    return enqueue_for(config, pipeline.name, change)


def meets(wanted: Mapping[str, int], votes: Iterable[tuple[str, int]]) -> bool:
    """Whether, for each wanted label, some vote is at its value or beyond
    (at or below, for a negative one); a wanted 0 means nobody voted it.
    A -1 beside a +2 does not undo the +2: the review system's own rules
    decide whether it blocks the merge."""
    given = list(votes)
    for label, value in wanted.items():
        values = [v for name, v in given if name == label and v != 0]
        if value > 0 and not any(v >= value for v in values):
            return False
        if value < 0 and not any(v <= value for v in values):
            return False
        if value == 0 and values:
            return False
    return True


def _matches(trigger: Trigger, event: ReviewEvent) -> bool:
    if trigger.event != event.kind:
        return False
    if trigger.branch is not None and not re.fullmatch(trigger.branch, event.branch):
        return False
    if trigger.source is not None and trigger.source != event.source:
        return False
    if trigger.approval and not meets(trigger.approval, event.approvals):
        return False
    return trigger.comment is None or (
        event.comment is not None and re.search(trigger.comment, event.comment) is not None
    )
