"""A whole Gerrit for the gate's scenario tests, from Gerrit's documentation:
projects in bare repositories served by a real `git daemon` on the
loopback, changes under `refs/changes/NN/N/P`, the SSH commands
(`FakeGerritSsh`: stream-events, query) and the REST API (`FakeGerrit`:
change, review, submit) answering from one model of changes, votes and
messages. A submit merges for real as Gerrit's MERGE_IF_NECESSARY does
(fast-forward, else a merge commit), once the change holds Code-Review +2
and Verified +1 or more, and Gerrit's events follow each step."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh

from tests.review.fakes.gerrit_rest import FakeGerrit
from tests.review.fakes.gerrit_ssh import FakeGerritSsh
from trunkgate.review.model import change_ref

REQUIRED = {"Code-Review": 2, "Verified": 1}
#: Each label's lowest value, which blocks a submit (Gerrit's MaxWithBlock).
BLOCKING = {"Code-Review": -2, "Verified": -1, "Workflow": -1}


def git(repo: Path, *args: str, check: bool = True) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Gerrit", "-c", "user.email=g@example.org", *args],
        capture_output=True,
        text=True,
        check=check,
    ).stdout.strip()


def stamp(at: float) -> str:
    """A time as Gerrit's REST API writes it."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f000")


def account(name: str) -> dict[str, Any]:
    return {"name": name.title(), "email": f"{name}@example.org", "username": name}


@dataclass
class FakeChange:
    number: int
    project: str
    branch: str
    owner: str
    subject: str
    message: str
    revisions: list[str] = field(default_factory=list)
    status: str = "NEW"
    votes: dict[str, dict[str, int]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def ref(self, patchset: int | None = None) -> str:
        return change_ref(self.number, patchset or len(self.revisions))

    topic: str | None = None

    def standing(self, label: str) -> int:
        """The label as Gerrit's MaxWithBlock reads it: its lowest value
        from anyone blocks, else the highest vote counts."""
        values = [v for v in self.votes.get(label, {}).values() if v]
        if not values:
            return 0
        if label in BLOCKING and min(values) <= BLOCKING[label]:
            return min(values)
        return max(values)


class FakeGerritServer:
    def __init__(self, root: Path, client_key: asyncssh.SSHKey) -> None:
        self.root = root
        self.ssh = FakeGerritSsh(client_key, git_root=root)
        self.rest = FakeGerrit()
        self.rest.on_review = self._rest_review
        self.rest.on_submit = self._rest_submit
        self.changes: dict[int, FakeChange] = {}
        self.lock = threading.RLock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.daemon: asyncio.subprocess.Process | None = None
        self.git_port = 0
        self.submits: list[int] = []

    # -- running ---------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.ssh.start()
        self.rest.start()
        self.root.mkdir(parents=True, exist_ok=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.git_port = probe.getsockname()[1]
        self.daemon = await asyncio.create_subprocess_exec(
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--informative-errors",
            "--listen=127.0.0.1",
            f"--port={self.git_port}",
            f"--base-path={self.root}",
            str(self.root),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.git_port), 0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "git daemon did not start"
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.daemon is not None:
            os.killpg(self.daemon.pid, signal.SIGTERM)
            await asyncio.wait_for(self.daemon.wait(), 10)
        self.rest.stop()
        await self.ssh.stop()

    @property
    def git_url(self) -> str:
        return f"git://127.0.0.1:{self.git_port}"

    @property
    def ssh_git_url(self) -> str:
        return f"ssh://trunkgate@127.0.0.1:{self.ssh.port}"

    def repo(self, project: str) -> Path:
        return self.root / f"{project}.git"

    # -- what people do on Gerrit -----------------------------------------

    def create_project(self, project: str, seed: Path, branch: str = "main") -> None:
        repo = self.repo(project)
        repo.parent.mkdir(parents=True, exist_ok=True)
        git(self.root, "init", "-q", "--bare", "-b", branch, str(repo))
        git(seed, "push", "-q", str(repo), f"HEAD:refs/heads/{branch}")

    def upload(self, project: str, work: Path, commit: str, branch: str = "main") -> int:
        """A new change of `commit` (pushed from the working repository `work`)."""
        with self.lock:
            number = max(self.changes, default=0) + 1
            subject = git(work, "log", "-1", "--format=%s", commit)
            message = git(work, "log", "-1", "--format=%B", commit) + "\n"
            change = FakeChange(number, project, branch, "dev", subject, message)
            git(work, "push", "-q", str(self.repo(project)), f"{commit}:{change.ref(1)}")
            change.revisions.append(commit)
            self.changes[number] = change
            self._changed(change)
            self._publish("patchset-created", change, uploader=account("dev"))
            return number

    def review(self, number: int, user: str, labels: dict[str, int], message: str = "") -> None:
        """A person's review: votes and a comment, as the web UI posts it."""
        with self.lock:
            self._review(self.changes[number], user, labels, message, tag=None)

    # -- the model ---------------------------------------------------------

    def _review(
        self,
        change: FakeChange,
        user: str,
        labels: dict[str, int],
        message: str,
        tag: str | None,
    ) -> None:
        approvals = []
        for label, value in labels.items():
            old = change.votes.setdefault(label, {}).get(user, 0)
            change.votes[label][user] = value
            approvals.append({"type": label, "value": str(value), "oldValue": str(old)})
        patchset = len(change.revisions)
        said = ", ".join(f"{label}{value:+d}" for label, value in labels.items())
        text = f"Patch Set {patchset}:" + (f" {said}" if said else "")
        if message:
            text += f"\n\n{message}"
        now = time.time()
        change.messages.append(
            {
                "id": f"m{len(change.messages) + 1}",
                "author": account(user),
                "date": stamp(now),
                "message": text,
                "_revision_number": patchset,
                **({"tag": tag} if tag else {}),
            }
        )
        change.updated = now
        self._changed(change)
        self._publish(
            "comment-added", change, author=account(user), approvals=approvals, comment=text
        )

    def _rest_review(self, project: str, number: int, body: dict[str, Any]) -> tuple[int, bytes]:
        with self.lock:
            change = self.changes[number]
            if change.status != "NEW" and body.get("labels"):
                return 409, b"change is closed"
            self._review(
                change,
                self.rest.user,
                dict(body.get("labels") or {}),
                str(body.get("message") or ""),
                tag=body.get("tag"),
            )
            return 200, json.dumps({"labels": body.get("labels", {})}).encode()

    def _rest_submit(self, project: str, number: int) -> tuple[int, bytes]:
        with self.lock:
            change = self.changes[number]
            if change.status == "MERGED":
                return 409, b"change is merged"
            if change.status != "NEW":
                return 409, f"change is {change.status.lower()}".encode()
            lacking = [
                f"{label} {value:+d}"
                for label, value in REQUIRED.items()
                if change.standing(label) < value
            ]
            if lacking:
                return 409, f"Change {number}: needs {', '.join(lacking)}".encode()
            repo = self.repo(project)
            branch = f"refs/heads/{change.branch}"
            tip = git(repo, "rev-parse", branch)
            commit = change.revisions[-1]
            ancestor = subprocess.run(
                ["git", "-C", str(repo), "merge-base", "--is-ancestor", tip, commit],
                check=False,
            )
            if ancestor.returncode == 0:
                new = commit
            else:
                merged = subprocess.run(
                    ["git", "-C", str(repo), "merge-tree", "--write-tree", tip, commit],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if merged.returncode != 0:
                    return 409, f"Change {number}: merge conflict".encode()
                tree = merged.stdout.split()[0]
                new = git(
                    repo,
                    "commit-tree",
                    tree,
                    "-p",
                    tip,
                    "-p",
                    commit,
                    "-m",
                    f'Merge "{change.subject}"',
                )
            git(repo, "update-ref", branch, new, tip)
            change.status = "MERGED"
            change.updated = time.time()
            self.submits.append(number)
            self._changed(change)
            self._publish("change-merged", change, submitter=account(self.rest.user), newRev=new)
            self._send(
                {
                    "type": "ref-updated",
                    "submitter": account(self.rest.user),
                    "refUpdate": {
                        "oldRev": tip,
                        "newRev": new,
                        "refName": branch,
                        "project": project,
                    },
                    "eventCreatedOn": int(time.time()),
                }
            )
            return 200, json.dumps(self.change_info(change)).encode()

    def set_topic(self, number: int, topic: str) -> None:
        with self.lock:
            self.changes[number].topic = topic
            for change in self.changes.values():
                self._changed(change)

    def _changed(self, change: FakeChange) -> None:
        self.rest.changes[(change.project, change.number)] = self.change_info(change)
        self.rest.together[(change.project, change.number)] = [
            other.number
            for other in self.changes.values()
            if change.topic
            and other.topic == change.topic
            and other.number != change.number
            and other.status == "NEW"
        ]
        self.ssh.rows[(change.project, change.number)] = self.query_row(change)

    def _publish(self, kind: str, change: FakeChange, **fields: Any) -> None:
        patchset = len(change.revisions)
        self._send(
            {
                "type": kind,
                "change": {
                    "project": change.project,
                    "branch": change.branch,
                    "id": f"I{change.number:040d}",
                    "number": change.number,
                    "subject": change.subject,
                    "owner": account(change.owner),
                    "url": f"{self.rest.url}/c/{change.project}/+/{change.number}",
                    "status": change.status,
                },
                "patchSet": {
                    "number": patchset,
                    "revision": change.revisions[-1],
                    "ref": change.ref(patchset),
                    "uploader": account(change.owner),
                    "createdOn": int(change.created),
                },
                "eventCreatedOn": int(time.time()),
                **fields,
            }
        )

    def _send(self, event: dict[str, Any]) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.ssh.publish, event)

    def change_info(self, change: FakeChange) -> dict[str, Any]:
        """The change as `GET /a/changes/{id}` with ALL_REVISIONS, ALL_COMMITS,
        DETAILED_LABELS, MESSAGES and DETAILED_ACCOUNTS gives it."""
        return {
            "id": f"{change.project}~{change.branch}~I{change.number:040d}",
            "_number": change.number,
            "project": change.project,
            "branch": change.branch,
            "status": change.status,
            "subject": change.subject,
            "owner": account(change.owner),
            "created": stamp(change.created),
            "updated": stamp(change.updated),
            "current_revision": change.revisions[-1],
            "revisions": {
                sha: {
                    "_number": index + 1,
                    "ref": change.ref(index + 1),
                    "created": stamp(change.created),
                    "uploader": account(change.owner),
                    "commit": {
                        "subject": change.subject,
                        "message": change.message,
                        "author": {"name": "Dev", "email": "dev@example.org"},
                    },
                }
                for index, sha in enumerate(change.revisions)
            },
            "labels": {
                label: {
                    "all": [
                        {**account(user), "value": value, "date": stamp(change.updated)}
                        for user, value in by.items()
                    ]
                }
                for label, by in change.votes.items()
            },
            "messages": list(change.messages),
        }

    def query_row(self, change: FakeChange) -> dict[str, Any]:
        """The change as `gerrit query --format=JSON --patch-sets --all-approvals --comments`."""
        patchset = len(change.revisions)
        return {
            "project": change.project,
            "branch": change.branch,
            "number": change.number,
            "subject": change.subject,
            "commitMessage": change.message,
            "owner": account(change.owner),
            "status": change.status,
            "createdOn": int(change.created),
            "lastUpdated": int(change.updated),
            "patchSets": [
                {
                    "number": index + 1,
                    "revision": sha,
                    "ref": change.ref(index + 1),
                    "uploader": account(change.owner),
                    "createdOn": int(change.created),
                    "approvals": [
                        {
                            "type": label,
                            "value": str(value),
                            "by": account(user),
                            "grantedOn": int(change.updated),
                        }
                        for label, by in change.votes.items()
                        for user, value in by.items()
                    ]
                    if index + 1 == patchset
                    else [],
                }
                for index, sha in enumerate(change.revisions)
            ],
            "comments": [
                {
                    "timestamp": int(
                        datetime.strptime(m["date"][:19], "%Y-%m-%d %H:%M:%S")
                        .replace(tzinfo=UTC)
                        .timestamp()
                    ),
                    "reviewer": m["author"],
                    "message": m["message"],
                }
                for m in change.messages
            ],
        }
