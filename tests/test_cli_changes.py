"""The change commands as a user runs them on a site made by `trunkgate init`:
real git, the shared store, and the push hook."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, check=False)


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    result = run(sys.executable, "-m", "trunkgate.cli.main", "init", str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    return tmp_path / "site" / "trunkgate.yaml", tmp_path / "site" / "src" / "example" / "calc"


def trunkgate(
    config: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "trunkgate.cli.main", "-c", str(config), *args, cwd=cwd)


def commit(repo: Path, name: str, text: str, message: str) -> None:
    (repo / name).write_text(text)
    git = ["git", "-C", str(repo), "-c", "user.name=Dev", "-c", "user.email=dev@example.org"]
    assert run(*git, "add", name).returncode == 0
    assert run(*git, "commit", "-q", "-m", message).returncode == 0


def test_propose_review_and_list(site: tuple[Path, Path]) -> None:
    config, repo = site
    commit(repo, "x.py", "x = 1\n", "Add x")
    proposed = trunkgate(
        config, "change", "propose", "--project", "example/calc", "--repo", str(repo)
    )
    assert proposed.returncode == 0, proposed.stderr
    assert json.loads(proposed.stdout) == {"change": 1, "patchset": 1}
    assert trunkgate(config, "change", "approve", "1").returncode == 0
    assert trunkgate(config, "change", "comment", "1", "recheck").returncode == 0
    shown = json.loads(trunkgate(config, "change", "show", "1", "--format", "json").stdout)
    assert shown["status"] == "NEW"
    assert shown["votes"] == {"Approved": 1}
    assert shown["subject"] == "Add x"
    head = run("git", "-C", str(repo), "rev-parse", "HEAD").stdout.strip()
    assert shown["commit"] == head
    # The patchset is kept under Gerrit's ref in the project's repository.
    bare = config.parent / "data" / "git" / "example" / "calc.git"
    ref = run("git", "-C", str(bare), "rev-parse", "refs/changes/01/1/1").stdout.strip()
    assert ref == head

    commit(repo, "x.py", "x = 2\n", "Change x")
    again = trunkgate(
        config,
        "change",
        "propose",
        "--project",
        "example/calc",
        "--repo",
        str(repo),
        "--change",
        "1",
    )
    assert json.loads(again.stdout) == {"change": 1, "patchset": 2}
    assert trunkgate(config, "change", "abandon", "1").returncode == 0
    rows = json.loads(trunkgate(config, "change", "list", "--format", "json").stdout)
    assert [(r["change"], r["patchset"], r["status"]) for r in rows] == [(1, 2, "ABANDONED")]


def test_git_push_to_refs_for_creates_a_change(site: tuple[Path, Path]) -> None:
    config, repo = site
    commit(repo, "y.py", "y = 1\n", "Add y")
    # The first proposal creates the project's repository; then push like a Gerrit user.
    assert (
        trunkgate(
            config, "change", "propose", "--project", "example/calc", "--repo", str(repo)
        ).returncode
        == 0
    )
    commit(repo, "z.py", "z = 1\n", "Add z")
    bare = config.parent / "data" / "git" / "example" / "calc.git"
    pushed = run("git", "-C", str(repo), "push", str(bare), "HEAD:refs/for/main")
    assert pushed.returncode == 0, pushed.stderr
    assert "trunkgate: change 2 created" in pushed.stderr
    rows = json.loads(trunkgate(config, "change", "list", "--format", "json").stdout)
    assert [(r["change"], r["subject"]) for r in rows] == [(1, "Add y"), (2, "Add z")]


def test_bad_requests_say_what_is_wrong(site: tuple[Path, Path], tmp_path: Path) -> None:
    config, repo = site
    unknown = trunkgate(config, "change", "propose", "--project", "nope", "--repo", str(repo))
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "trunkgate: project 'nope' is not in the configuration"
    merged = trunkgate(
        config, "change", "propose", "--project", "example/calc", "--repo", str(repo)
    )
    assert merged.returncode == 1
    assert "is already merged into example/calc main" in merged.stderr
    config.write_text(config.read_text() + "  - name: other\n")
    norepo = trunkgate(config, "change", "propose", "--project", "other", "--repo", str(repo))
    assert norepo.returncode == 1
    assert "project 'other' has no repository yet" in norepo.stderr
    created = trunkgate(config, "project", "create", "other", "--from", str(repo))
    assert created.returncode == 0, created.stderr
    missing = trunkgate(config, "change", "approve", "7")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "trunkgate: there is no change 7"
    assert "Traceback" not in missing.stderr + merged.stderr + unknown.stderr


def test_show_tells_the_comments_and_votes_of_a_change(site: tuple[Path, Path]) -> None:
    config, repo = site
    commit(repo, "x.py", "x = 1\n", "Add x")
    proposed = trunkgate(
        config, "change", "propose", "--project", "example/calc", "--repo", str(repo)
    )
    assert proposed.returncode == 0, proposed.stderr
    assert trunkgate(config, "change", "approve", "1").returncode == 0
    report = "Build failed.\n\nMERGE_CONFLICT: \x1b[31mcannot merge\x1b[0m onto main"
    assert trunkgate(config, "change", "comment", "1", report).returncode == 0
    shown = trunkgate(config, "change", "show", "1")
    assert shown.returncode == 0, shown.stderr
    assert "Approved +1" in shown.stdout
    assert "MERGE_CONFLICT: \\x1b[31mcannot merge\\x1b[0m onto main" in shown.stdout
    assert "\x1b" not in shown.stdout
    assert shown.stdout.index("Build failed.") < shown.stdout.index("MERGE_CONFLICT")
    data = json.loads(trunkgate(config, "change", "show", "1", "--format", "json").stdout)
    assert [c["text"] for c in data["comments"]] == [report]
    assert [(v["label"], v["value"], v["patchset"]) for v in data["vote_history"]] == [
        ("Approved", 1, 1)
    ]
