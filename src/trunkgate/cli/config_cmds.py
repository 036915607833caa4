"""`trunkgate config check` and `trunkgate config jobs`."""

from __future__ import annotations

import argparse
from typing import Any

from trunkgate.cli.errors import CliError
from trunkgate.cli.output import print_rows
from trunkgate.config.expanded import ExpandedJob
from trunkgate.config.loader import load_config

JOB_COLUMNS = ("project", "pipeline", "job", "nodeset")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser("config", help="check the configuration and show its jobs")
    actions = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="exit 0 when valid, else print FILE:LINE:COL lines")
    check.set_defaults(run=run_check)
    jobs = actions.add_parser("jobs", help="every expanded job of every project")
    jobs.add_argument("--project", help="only this project's jobs")
    jobs.add_argument("--pipeline", help="only this pipeline's jobs")
    jobs.add_argument("--format", choices=("table", "json"), default="table")
    jobs.set_defaults(run=run_jobs)


def run_check(args: argparse.Namespace) -> int:
    config = load_config(args.config, check_secrets=True)
    projects, jobs = len(config.projects), len(config.expanded)
    print(
        f"configuration is valid: {projects} project{'' if projects == 1 else 's'}, "
        f"{jobs} job{'' if jobs == 1 else 's'} ({', '.join(config.files)})"
    )
    return 0


def run_jobs(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.project is not None and args.project not in config.projects:
        raise CliError(f"project {args.project!r} is not in the configuration")
    if args.pipeline is not None and args.pipeline not in config.pipelines:
        raise CliError(f"there is no pipeline {args.pipeline!r}")
    jobs = [
        job
        for job in config.expanded
        if (args.project is None or job.project == args.project)
        and (args.pipeline is None or job.pipeline == args.pipeline)
    ]
    print_rows([job_row(job) for job in jobs], JOB_COLUMNS, args.format)
    return 0


def job_row(job: ExpandedJob) -> dict[str, Any]:
    return {
        "project": job.project,
        "pipeline": job.pipeline,
        "job": job.name,
        "nodeset": job.nodeset.describe(),
        "nodes": [{"name": n.name, "label": n.label} for n in job.nodeset.nodes],
        "voting": job.voting,
        "timeout": job.timeout,
        "template": job.template,
        "parameters": job.parameters,
        "required_projects": [
            {"name": r.name, "override_checkout": r.override_checkout}
            for r in job.required_projects
        ],
    }
