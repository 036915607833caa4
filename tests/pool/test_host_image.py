"""The `host` image's own tree, built from a host made for the test: only
what every user may read comes in, secrets and hidden paths stay out, the
shadow files are fresh, and trees of earlier host states are pruned once no
node boots from them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trunkgate.pool.drivers.namespace.hostimage import (
    build_host_image,
    host_image_version,
    prune_host_images,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="keeping owners needs root")


def fake_host(root: Path) -> Path:
    etc = root / "etc"
    (etc / "ssh").mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/bash\n_apt:x:42:65534::/:/bin/false\n")
    (etc / "group").write_text("root:x:0:\n")
    (etc / "shadow").write_text("root:$6$host-hash:19000:0:99999:7:::\n")
    (etc / "shadow").chmod(0o640)
    (etc / "ssh" / "ssh_host_ed25519_key").write_text("PRIVATE\n")
    (etc / "ssh" / "ssh_host_ed25519_key").chmod(0o600)
    (etc / "ssh" / "sshd_config").write_text("Port 22\n")
    (etc / "site.yaml").write_text("the site's config\n")
    (etc / "tool").write_text("#!/bin/sh\n")
    (etc / "tool").chmod(0o4755)
    (etc / "alternatives").mkdir()
    os.symlink("/usr/bin/python3", etc / "alternatives" / "python")
    lists = root / "var/lib/apt/lists"
    (lists / "partial").mkdir(parents=True)
    (lists / "partial" / "half-downloaded").write_text("x")
    os.chown(lists / "partial", 42, 0)
    (lists / "partial").chmod(0o700)
    (root / "var/lib/dpkg").mkdir(parents=True)
    (root / "var/lib/dpkg/status").write_text("Package: x\n")
    os.symlink("usr/bin", root / "bin")
    return root


def test_only_what_all_may_read_comes_in(tmp_path: Path) -> None:
    host = fake_host(tmp_path / "host")
    image = tmp_path / "image"

    build_host_image(image, hidden=[host / "etc" / "site.yaml"], host_root=host)

    assert (image / "etc/ssh/sshd_config").read_text() == "Port 22\n"
    assert not (image / "etc/ssh/ssh_host_ed25519_key").exists()
    assert not (image / "etc/site.yaml").exists()
    assert (image / "etc/shadow").read_text() == "root:*:::::::\n_apt:*:::::::\n"
    assert (image / "etc/tool").stat().st_mode & 0o7777 == 0o755
    assert os.readlink(image / "etc/alternatives/python") == "/usr/bin/python3"
    partial = image / "var/lib/apt/lists/partial"
    assert os.listdir(partial) == []
    assert (partial.stat().st_uid, partial.stat().st_mode & 0o777) == (42, 0o700)
    assert os.readlink(image / "bin") == "usr/bin"
    assert os.listdir(image / "usr") == []
    assert os.listdir(image / "root") == [".ssh"]


def test_the_version_follows_whatever_the_image_copies(tmp_path: Path) -> None:
    host = fake_host(tmp_path / "host")
    versions = [host_image_version(host)]
    status = host / "var/lib/dpkg/status"
    os.utime(status, ns=(0, status.stat().st_mtime_ns + 10**9))
    versions.append(host_image_version(host))
    # A secret made private after the image was built must leave it.
    (host / "etc" / "ssh" / "sshd_config").chmod(0o600)
    versions.append(host_image_version(host))
    (host / "etc" / "alternatives" / "new").write_text("x")
    versions.append(host_image_version(host))

    assert len(set(versions)) == 4
    assert host_image_version(host) == versions[-1]


def test_earlier_trees_go_once_no_node_boots_from_them(tmp_path: Path) -> None:
    images = tmp_path / "host-image"
    old, booted, new = images / "old", images / "booted", images / "new"
    for tree in (old, booted, new):
        tree.mkdir(parents=True)

    removed = prune_host_images(images, keep=new, in_use=[str(booted), "/usr"])

    assert removed == [old]
    assert sorted(p.name for p in images.iterdir()) == ["booted", "new"]
