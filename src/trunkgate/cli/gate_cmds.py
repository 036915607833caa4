"""`trunkgate status` and the queue commands `enqueue`, `dequeue`, `promote`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from trunkgate.cli.arguments import positive
from trunkgate.cli.errors import CliError
from trunkgate.cli.pool_cmds import with_store
from trunkgate.config.loader import Config
from trunkgate.gate.changes import ChangeRef, format_tree
from trunkgate.gate.codec import state_from_dict
from trunkgate.gate.state import PipelineState
from trunkgate.review.errors import ReviewError
from trunkgate.review.model import ChangeStatus
from trunkgate.scheduler import layout
from trunkgate.scheduler.records import Command
from trunkgate.site import open_site_review
from trunkgate.store import Store


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser("status", help="pipelines, queues, items and their jobs")
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.set_defaults(run=run_status)
    for verb, help_text in (
        ("enqueue", "put a change into a pipeline by hand"),
        ("dequeue", "take a change out of a pipeline"),
        ("promote", "move a change to the head of its queue"),
    ):
        sub = commands.add_parser(verb, help=help_text)
        sub.add_argument("--pipeline", required=True)
        sub.add_argument("--change", type=positive, required=True)
        sub.set_defaults(run=run_command, verb=verb)


def run_status(args: argparse.Namespace) -> int:
    async def work(config: Config, store: Store) -> tuple[list[PipelineState], bool]:
        states, scheduled = [], False
        for name in config.pipelines:
            record = await store.get(layout.pipeline(name))
            if record is not None and isinstance(record.value, dict):
                states.append(state_from_dict(record.value))
                scheduled = True
            else:
                # No scheduler has stored it yet: an empty pipeline all the same.
                states.append(PipelineState(pipeline=name))
        return states, scheduled

    states, scheduled = with_store(args, work)
    rows = [pipeline_status(state) for state in states]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not scheduled:
        print("no scheduler has run on this site yet: `trunkgate serve` starts one")
    for row in rows:
        queues = [q for q in row["queues"] if q["items"]]
        print(f"{row['pipeline']}: {sum(len(q['items']) for q in queues)} item(s)")
        for queue in queues:
            window = f", window {queue['window']}" if queue["window"] is not None else ""
            print(f"  queue {queue['name']}{window}")
            for item in queue["items"]:
                print(f"    {item['title']}  {item['phase']}  on {item['tree'] or '-'}")
                for job in item["jobs"]:
                    result = job["result"] or job["state"]
                    print(f"      {job['job']:<24} {result}{'' if job['voting'] else ' (nv)'}")
    return 0


def item_title(change: ChangeRef) -> str:
    """How `status` names an item: a change and its patchset, or a branch's
    tip and the commit pushed (a tip has no change number to show)."""
    if change.tip:
        return str(change)
    return f"{change.project} change {change.number},{change.patchset}"


def pipeline_status(state: PipelineState) -> dict[str, Any]:
    return {
        "pipeline": state.pipeline,
        "queues": [
            {
                "name": queue.name,
                "window": queue.window,
                "items": [
                    {
                        "title": item_title(item.change),
                        "project": item.change.project,
                        "change": item.change.number,
                        "patchset": item.change.patchset,
                        "branch": item.change.branch,
                        "phase": str(item.phase),
                        "tree": format_tree(item.prepared_tree) if item.prepared_tree else None,
                        "buildset": item.buildset,
                        "jobs": [
                            {
                                "job": job.name,
                                "voting": job.voting,
                                "state": str(item.builds[job.name].state)
                                if job.name in item.builds
                                else "waiting",
                                "result": str(item.builds[job.name].result)
                                if job.name in item.builds and item.builds[job.name].result
                                else None,
                                "url": item.builds[job.name].url
                                if job.name in item.builds
                                else None,
                            }
                            for job in item.jobs
                        ],
                    }
                    for item in queue.items
                ],
            }
            for queue in state.queues.values()
        ],
    }


def run_command(args: argparse.Namespace) -> int:
    async def work(config: Config, store: Store) -> None:
        if args.pipeline not in config.pipelines:
            raise CliError(f"there is no pipeline {args.pipeline!r}")
        try:
            change = await open_site_review(config, store).get(args.change)
        except ReviewError as exc:
            raise CliError(str(exc)) from None
        if args.verb == "enqueue" and change.status is not ChangeStatus.NEW:
            raise CliError(
                f"change {change.number} is {change.status.lower()}: only an open change"
                " can be enqueued"
            )
        if args.verb in ("dequeue", "promote") and not await _queued(
            store, args.pipeline, change.number
        ):
            state = "" if change.status is ChangeStatus.NEW else f" (it is {change.status.lower()})"
            raise CliError(f"change {change.number} is not in pipeline {args.pipeline}{state}")
        command = Command(args.verb, args.pipeline, change.project, change.number)
        await store.create(f"{layout.COMMANDS}/", command, sequential=True)

    with_store(args, work)
    print(f"{args.verb} of change {args.change} in {args.pipeline}: sent to the scheduler")
    return 0


async def _queued(store: Store, pipeline: str, number: int) -> bool:
    """Whether change `number` is in a queue of `pipeline`, as the scheduler stored it."""
    record = await store.get(layout.pipeline(pipeline))
    if record is None or not isinstance(record.value, dict):
        return False
    state = state_from_dict(record.value)
    return any(item.change.number == number for q in state.queues.values() for item in q.items)
