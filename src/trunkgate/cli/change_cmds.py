"""`trunkgate change propose|approve|comment|abandon|restore|show|list`: the
local review source from the command line."""

from __future__ import annotations

import argparse
import datetime
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trunkgate.cli.arguments import positive
from trunkgate.cli.errors import CliError
from trunkgate.cli.output import print_rows
from trunkgate.cli.pool_cmds import with_store
from trunkgate.config.loader import Config
from trunkgate.review.codec import change_listing
from trunkgate.review.errors import ReviewError, SourceUnavailable, UnknownProject
from trunkgate.review.model import Change
from trunkgate.site import open_review_sources, open_site_review
from trunkgate.store import Store
from trunkgate.untrusted import printable

CHANGE_COLUMNS = ("change", "project", "branch", "patchset", "status", "commit", "votes")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    project = commands.add_parser("project", help="the local source's project repositories")
    project_actions = project.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = project_actions.add_parser("create", help="make a project's repository")
    create.add_argument("project")
    create.add_argument(
        "--from",
        dest="source",
        type=Path,
        required=True,
        help="a working repository whose branch the project starts from",
    )
    create.add_argument("--rev", help="the commit to start from (default: the default branch)")
    create.add_argument(
        "--replace",
        action="store_true",
        help="remove the project's repository, if it has one, and start it anew",
    )
    create.set_defaults(run=run_project_create)

    change = commands.add_parser("change", help="propose and review changes (local source)")
    actions = change.add_subparsers(dest="action", metavar="ACTION", required=True)

    propose = actions.add_parser("propose", help="a commit of a working repository as a change")
    propose.add_argument("--project", required=True)
    propose.add_argument("--branch", help="target branch (default: the project's)")
    propose.add_argument("--repo", type=Path, default=Path(), help="working repository (.)")
    propose.add_argument("--rev", default="HEAD", help="the commit to propose (HEAD)")
    propose.add_argument("--change", type=positive, help="a new patchset of this change")
    propose.set_defaults(run=run_propose)

    for verb, help_text in (
        ("approve", "approve a change: it enters the gate"),
        ("abandon", "abandon a change: it leaves every queue"),
        ("restore", "restore an abandoned change"),
    ):
        sub = actions.add_parser(verb, help=help_text)
        sub.add_argument("number", type=positive, metavar="N")
        sub.set_defaults(run=run_review_action, verb=verb)
    comment = actions.add_parser("comment", help="comment on a change ('recheck' re-runs check)")
    comment.add_argument("number", type=positive, metavar="N")
    comment.add_argument("text")
    comment.set_defaults(run=run_review_action, verb="comment")

    show = actions.add_parser("show", help="one change")
    show.add_argument("number", type=positive, metavar="N")
    show.add_argument("--project", help="read it from this project's review source (Gerrit, say)")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.set_defaults(run=run_show)
    listing = actions.add_parser("list", help="every change")
    listing.add_argument("--project")
    listing.add_argument("--status", choices=("NEW", "MERGED", "ABANDONED"))
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(run=run_list)


def run_project_create(args: argparse.Namespace) -> int:
    async def work(config: Config, store: Store) -> Path:
        project = config.projects.get(args.project)
        if project is None:
            raise CliError(f"project {args.project!r} is not in the configuration")
        review = open_site_review(config, store)
        branch = project.default_branch
        if not args.replace:
            try:
                path = review.repo(args.project)
            except UnknownProject:
                pass
            else:
                raise CliError(
                    f"project {args.project} has a repository already ({path}); "
                    "--replace removes it, with its changes' commits, and starts anew"
                )
        return await review.create_project(
            args.project,
            branch,
            seed=args.source.resolve(),
            rev=args.rev or branch,
            replace=args.replace,
        )

    path = _reviewing(args, work)
    print(f"project {args.project}: repository {path}")
    return 0


def run_propose(args: argparse.Namespace) -> int:
    async def work(config: Config, store: Store) -> dict[str, int]:
        project = config.projects.get(args.project)
        if project is None:
            raise CliError(f"project {args.project!r} is not in the configuration")
        review = open_site_review(config, store)
        repo = args.repo.resolve()
        if not repo.is_dir():
            raise CliError(f"--repo {args.repo}: not a directory (a working repository is asked)")
        try:
            review.repo(args.project)
        except UnknownProject:
            raise CliError(
                f"project {args.project!r} has no repository yet; make it from the branch "
                f"it starts with: trunkgate project create {args.project} --from DIR"
            ) from None
        proposed = await review.propose(
            args.project,
            args.branch or project.default_branch,
            repo,
            args.rev,
            change=args.change,
        )
        return proposed.to_json()

    print(json.dumps(_reviewing(args, work)))
    return 0


def run_review_action(args: argparse.Namespace) -> int:
    if args.verb == "comment" and not args.text.strip():
        raise CliError("the comment is empty: say something")

    async def work(config: Config, store: Store) -> Change:
        review = open_site_review(config, store)
        if args.verb == "approve":
            return await review.approve(args.number)
        if args.verb == "abandon":
            return await review.abandon(args.number)
        if args.verb == "restore":
            return await review.restore(args.number)
        return await review.comment(args.number, args.text)

    change = _reviewing(args, work)
    print(f"change {change.number}: {args.verb} done; status {change.status}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    async def work(config: Config, store: Store) -> Change:
        if args.project is None:
            return await open_site_review(config, store).get(args.number)
        if args.project not in config.projects:
            raise CliError(f"project {args.project!r} is not in the configuration")
        source = open_review_sources(config, store).for_project(args.project)
        return await source.change(args.project, args.number)

    change = _reviewing(args, work)
    if args.format == "json":
        detail = change_listing(change)
        detail["vote_history"] = [asdict(vote) for vote in change.votes]
        detail["comments"] = [asdict(comment) for comment in change.comments]
        print(json.dumps(detail, indent=2))
        return 0
    print_rows([_row(change)], CHANGE_COLUMNS, "table")
    print(f"subject: {printable(change.subject, newlines=False)}")
    if change.votes:
        print("votes:")
        for vote in change.votes:
            print(
                f"  {_when(vote.at)}  patchset {vote.patchset}  "
                f"{printable(vote.label, newlines=False)} {vote.value:+d}  "
                f"by {printable(vote.by, newlines=False)}"
            )
    if change.comments:
        print("comments:")
        for comment in change.comments:
            # A report may quote a job's output: shown, never obeyed.
            print(
                f"  {_when(comment.at)}  patchset {comment.patchset}  "
                f"{printable(comment.author, newlines=False)}:"
            )
            for line in printable(comment.text).splitlines():
                print(f"    {line}".rstrip())
    return 0


def _when(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, tz=datetime.UTC).isoformat(timespec="seconds")


def run_list(args: argparse.Namespace) -> int:
    async def work(config: Config, store: Store) -> list[Change]:
        return await open_site_review(config, store).changes()

    async def listed(config: Config, store: Store) -> list[Change]:
        if args.project is not None and args.project not in config.projects:
            raise CliError(f"project {args.project!r} is not in the configuration")
        return await work(config, store)

    changes = [
        c
        for c in _reviewing(args, listed)
        if (args.project is None or c.project == args.project)
        and (args.status is None or str(c.status) == args.status)
    ]
    if args.format == "json":
        print(json.dumps([change_listing(c) for c in changes], indent=2))
        return 0
    print_rows([_row(c) for c in changes], CHANGE_COLUMNS, "table")
    return 0


def _row(change: Change) -> dict[str, Any]:
    row = change_listing(change)
    row["commit"] = str(row["commit"])[:12]
    row["votes"] = " ".join(f"{k}{v:+d}" for k, v in sorted(change.votes_on().items()))
    return row


def _reviewing(args: argparse.Namespace, work: Any) -> Any:
    """`with_store`, with the review source's errors as messages."""
    try:
        return with_store(args, work)
    except (ReviewError, SourceUnavailable) as exc:
        raise CliError(str(exc)) from None
