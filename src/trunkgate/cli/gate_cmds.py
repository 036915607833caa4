"""`trunkgate status` and the queue commands `enqueue`, `dequeue`, `promote`."""

from __future__ import annotations

import argparse
import json

from trunkgate.cli.arguments import positive
from trunkgate.cli.errors import CliError
from trunkgate.cli.pool_cmds import with_store
from trunkgate.config.loader import Config
from trunkgate.gate.codec import state_from_dict
from trunkgate.gate.state import PipelineState
from trunkgate.listings import pipeline_status
from trunkgate.scheduler import layout
from trunkgate.scheduler.commands import CommandRefused, send_command
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
        sub.add_argument(
            "--project", help="the change's project (needed for a change of Gerrit or GitHub)"
        )
        sub.set_defaults(run=run_command, verb=verb)


def run_status(args: argparse.Namespace) -> int:
    async def work(config: Config, store: Store) -> tuple[list[PipelineState], list[str | None]]:
        states, keepers = [], []
        for name in config.pipelines:
            record = await store.get(layout.pipeline(name))
            if record is not None and isinstance(record.value, dict):
                states.append(state_from_dict(record.value))
            else:
                # No scheduler has stored it yet: an empty pipeline all the same.
                states.append(PipelineState(pipeline=name))
            keepers.append(await store.lock_owner(layout.keeper(name)))
        return states, keepers

    states, keepers = with_store(args, work)
    rows = [
        {**pipeline_status(state), "scheduler": keeper}
        for state, keeper in zip(states, keepers, strict=True)
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not any(keepers):
        print("no scheduler runs on this site now: `trunkgate serve` starts one")
    for row in rows:
        queues = [q for q in row["queues"] if q["items"]]
        kept = f", kept by scheduler {row['scheduler']}" if row["scheduler"] else ""
        print(f"{row['pipeline']}: {sum(len(q['items']) for q in queues)} item(s){kept}")
        for queue in queues:
            window = f", window {queue['window']}" if queue["window"] is not None else ""
            print(f"  queue {queue['name']}{window}")
            for item in queue["items"]:
                print(f"    {item['title']}  {item['phase']}  on {item['tree'] or '-'}")
                for job in item["jobs"]:
                    result = job["result"] or job["state"]
                    print(f"      {job['job']:<24} {result}{'' if job['voting'] else ' (nv)'}")
    return 0


def run_command(args: argparse.Namespace) -> int:
    async def work(config: Config, store: Store) -> None:
        try:
            await send_command(
                config, store, args.verb, args.pipeline, args.change, project=args.project
            )
        except CommandRefused as exc:
            raise CliError(str(exc)) from None

    with_store(args, work)
    print(f"{args.verb} of change {args.change} in {args.pipeline}: sent to the scheduler")
    return 0
