"""Building a `host` image for real: steps run in a chroot of the image with
namespaces of their own, changes to /usr land in the image's own layer,
files are copied in through the image's eyes, repositories are cached, and
a failing step fails the build with its output in the log. Needs root."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from trunkgate.config.sections import ImageSection
from trunkgate.images.build import ImageBuildFailed, build_image, tree_checksum
from trunkgate.images.ondisk import REPO_CACHE_DIR, image_layers

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="building images needs root")


def recipe(**fields: object) -> ImageSection:
    return ImageSection.model_validate({"name": "tools", **fields})


def has_object(repo: Path, sha: str) -> bool:
    found = subprocess.run(["git", "-C", str(repo), "cat-file", "-e", sha], check=False)
    return found.returncode == 0


def on_host(path: str) -> bool:
    return os.path.lexists(path)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@localhost", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def change_under_review(repo: Path) -> str:
    """A commit only a change ref reaches, as a review source keeps it."""
    git(repo, "checkout", "-q", "-b", "review")
    (repo / "private.txt").write_text("not merged\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Under review")
    secret = git(repo, "rev-parse", "HEAD")
    git(repo, "update-ref", "refs/changes/01/1/1", secret)
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "review")
    return secret


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    """A project's repository and its one commit."""
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("app\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Initial")
    return repo, git(repo, "rev-parse", "HEAD")


async def test_steps_copies_and_caches_make_the_image(
    tmp_path: Path, project: tuple[Path, str]
) -> None:
    files = tmp_path / "config"
    (files / "motd.d").mkdir(parents=True)
    (files / "motd").write_text("welcome\n")
    (files / "motd.d" / "a").write_text("a\n")
    upstream, commit = project
    secret = change_under_review(upstream)
    image = recipe(
        steps=[
            {
                "script": "echo built > /etc/built\n"
                "printf '#!/bin/sh\\necho tool\\n' > /usr/local/bin/tool\n"
                "chmod 755 /usr/local/bin/tool"
            },
            {"copy": {"source": "motd", "dest": "/etc/motd"}},
            {"copy": {"source": "motd.d", "dest": "/etc/motd.d"}},
            # No network for a script unless it asks: only a loopback, down.
            {"script": "ip -o link | cut -d' ' -f2,9 > /etc/interfaces"},
            # Its own PID namespace: the step's shell is the first process.
            {"script": "tr '\\0' ' ' < /proc/1/cmdline > /etc/pid1"},
            # The kernel's settings are not the step's to change.
            {"script": "awk '$2 == \"/proc/sys\" {print $4}' /proc/mounts > /etc/proc-sys"},
        ]
    )
    built = await build_image(
        image,
        tmp_path / "build",
        resolve=lambda source: files / source,
        repositories={"org/app": str(upstream)},
    )

    root, usr = built.root, built.usr
    assert usr is not None
    assert (root / "etc/built").read_text() == "built\n"
    # What a step writes under /usr goes to the image's /usr layer, never
    # to the host's /usr.
    assert (usr / "local/bin/tool").read_text().startswith("#!/bin/sh")
    assert not on_host("/usr/local/bin/tool")
    assert not (root / "usr/local").exists()
    assert (root / "etc/motd").read_text() == "welcome\n"
    assert (root / "etc/motd.d/a").read_text() == "a\n"
    # No network: a loopback of its own, and nothing else.
    assert (root / "etc/interfaces").read_text() == "lo: UNKNOWN\n"
    assert (root / "etc/pid1").read_text().startswith("/bin/sh -e -c ")
    assert (root / "etc/proc-sys").read_text().startswith("ro,")
    cache = root / REPO_CACHE_DIR.lstrip("/") / "org/app"
    assert git(cache, "rev-parse", "refs/heads/main") == commit
    assert git(cache, "rev-parse", "--is-bare-repository") == "true"
    # Only what branches reach is cached: not a change under review.
    assert git(cache, "cat-file", "-t", commit) == "commit"
    assert not has_object(cache, secret)
    log = (tmp_path / "build" / "build.log").read_text()
    for line in ("== Step 1: script", "== Step 2: copy", f"== Caching org/app from {upstream}"):
        assert line in log
    assert not (tmp_path / "build" / "usr.work").exists()
    assert (built.checksum, built.size) == tree_checksum([root, usr])
    assert image_layers(tmp_path / "build") == [("/", [str(root)]), ("/usr", [str(usr), "/usr"])]


async def test_a_copy_cannot_follow_an_image_link_out_to_the_host(tmp_path: Path) -> None:
    files = tmp_path / "config"
    files.mkdir()
    (files / "x").write_text("x\n")
    # /root is on the host and in the image: the copy must land in the image's.
    name = f"trunkgate-test-{os.getpid()}-{tmp_path.name}"
    image = recipe(
        steps=[
            {"script": "ln -s /root /etc/escape"},
            {"copy": {"source": "x", "dest": f"/etc/escape/{name}"}},
        ]
    )
    try:
        built = await build_image(
            image, tmp_path / "build", resolve=lambda source: files / source, repositories={}
        )
        assert not on_host(f"/root/{name}")
        assert (built.root / "root" / name).read_text() == "x\n"
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"/root/{name}")


async def test_a_failing_step_fails_the_build_with_its_output_in_the_log(tmp_path: Path) -> None:
    image = recipe(steps=[{"script": "echo first"}, {"script": "echo about to fail >&2; exit 3"}])
    with pytest.raises(ImageBuildFailed, match=r"step 2 failed \(exit status 3\)"):
        await build_image(
            image, tmp_path / "build", resolve=lambda source: tmp_path / source, repositories={}
        )
    log = (tmp_path / "build" / "build.log").read_text()
    assert "first\n" in log
    assert "about to fail\n" in log


async def test_a_step_that_outlives_its_limit_is_stopped(tmp_path: Path) -> None:
    image = recipe(steps=[{"script": "sleep 60 & sleep 60"}])
    with pytest.raises(ImageBuildFailed, match=r"step 1 failed"):
        await build_image(
            image,
            tmp_path / "build",
            resolve=lambda source: tmp_path / source,
            repositories={},
            step_limit_s=0.5,
        )
    assert "Stopped after 0.5 s" in (tmp_path / "build" / "build.log").read_text()


async def test_a_repository_that_cannot_be_cloned_fails_the_build(tmp_path: Path) -> None:
    with pytest.raises(
        ImageBuildFailed, match=r"cannot cache org/app: .*/nowhere is not a repository here"
    ):
        await build_image(
            recipe(),
            tmp_path / "build",
            resolve=lambda source: tmp_path / source,
            repositories={"org/app": str(tmp_path / "nowhere")},
        )
