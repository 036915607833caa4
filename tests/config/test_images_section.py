"""The `images` section: recipes read whole, and every mistake in one
refused at its place."""

from __future__ import annotations

from pathlib import Path

from tests.config.helpers import LABELS, load, problems
from trunkgate.config.sections import CopyStep, PackagesStep, ScriptStep

PROVIDERS = """\
        providers:
          - name: east
            driver: namespace
            labels: [{name: default, image: tools}]
          - name: west
            driver: namespace
            labels: [{name: default, image: host}]
        projects:
          - name: app
          - name: lib
"""


def test_a_recipe_reads_whole_with_its_steps_in_order(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "motd").write_text("welcome\n")
    config = load(
        tmp_path,
        LABELS
        + PROVIDERS
        + """\
        images:
          - name: tools
            steps:
              - packages: [git, python3-venv, "libc6:amd64", "curl=7.88.1-10+deb12u5"]
              - script: echo built > /etc/built
              - copy: {source: files/motd, dest: /etc/motd}
              - script: pip download nothing
                network: true
            cache: [app]
            providers: [east]
            rebuild-age: 12h
            keep-builds: 3
        """,
    )
    image = config.images["tools"]
    assert image.base == "host"
    assert [type(s) for s in image.steps] == [PackagesStep, ScriptStep, CopyStep, ScriptStep]
    packages, script, copy, online = image.steps
    assert isinstance(packages, PackagesStep)
    assert packages.packages[1] == "python3-venv"
    assert isinstance(script, ScriptStep)
    assert not script.network
    assert isinstance(copy, CopyStep)
    assert copy.copy_.dest == "/etc/motd"
    assert isinstance(online, ScriptStep)
    assert online.network
    assert image.cache == ["app"]
    assert image.providers == ["east"]
    assert (image.rebuild_age, image.keep_builds) == (12 * 3600.0, 3)


def test_defaults_cache_every_project_and_rebuild_daily(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        LABELS
        + PROVIDERS
        + """\
        images:
          - name: tools
          - name: debian
            base: debootstrap
            release: trixie
            variant: buildd
            packages: [python3]
        """,
    )
    tools, debian = config.images["tools"], config.images["debian"]
    assert (tools.cache, tools.providers, tools.steps) == ("all", [], [])
    assert (tools.rebuild_age, tools.keep_builds) == (24 * 3600.0, 2)
    assert (debian.release, debian.variant, debian.packages) == ("trixie", "buildd", ["python3"])
    assert debian.mirror == "http://deb.debian.org/debian"


def test_each_bad_step_is_refused_where_it_is_written(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + PROVIDERS
        + """\
        images:
          - name: tools
            steps:
              - packages: [git, Python3, "rm -rf /"]
              - pkgs: [git]
              - copy: {source: motd, dest: etc/motd}
              - copy: {source: motd, dest: /etc/../motd}
              - script: ""
              - packages: []
        """,
    )
    assert found == [
        "trunkgate.yaml:16:25: item 2 of 'packages': 'Python3' is not a package name: "
        "lower-case letters, digits and + - . (optionally :ARCH or =VERSION)",
        "trunkgate.yaml:16:34: item 3 of 'packages': 'rm -rf /' is not a package name: "
        "lower-case letters, digits and + - . (optionally :ARCH or =VERSION)",
        "trunkgate.yaml:17:9: item 2 of 'steps': a step is one of 'packages: [names]', "
        "'script: TEXT' or 'copy: {source: PATH, dest: /PATH}'",
        "trunkgate.yaml:18:30: 'dest': 'etc/motd' is not an absolute path in the image "
        "(no '.' or '..' parts)",
        "trunkgate.yaml:19:30: 'dest': '/etc/../motd' is not an absolute path in the image "
        "(no '.' or '..' parts)",
        "trunkgate.yaml:20:9: 'script' must not be empty",
        "trunkgate.yaml:21:9: 'packages' must not be empty",
    ]


def test_references_and_base_mismatches_are_located(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        providers:
          - name: east
            driver: namespace
            labels: [{name: default, image: tools}]
          - name: west
            driver: namespace
            labels: [{name: default, image: tools}]
        projects:
          - name: app
        images:
          - name: tools
            release: trixie
            mirror: http://deb.debian.org/debian
            steps:
              - copy: {source: missing.txt, dest: /etc/x}
            cache: [app, ap]
            providers: [east, wset]
          - name: host
          - name: org/tools
        """,
    )
    assert found == [
        "trunkgate.yaml:9:14: label 'default' of provider 'west' boots image 'tools', which "
        "goes only to providers 'east', 'wset'",
        "trunkgate.yaml:14:5: 'release' is for base 'debootstrap'; image 'tools' is built on "
        "the host",
        "trunkgate.yaml:15:5: 'mirror' is for base 'debootstrap'; image 'tools' is built on "
        "the host",
        "trunkgate.yaml:17:16: image 'tools' copies missing.txt, which does not exist",
        "trunkgate.yaml:18:18: image 'tools' caches project 'ap', which is not defined in "
        "projects (did you mean 'app'?)",
        "trunkgate.yaml:19:23: image 'tools' goes to provider 'wset', which is not defined in "
        "providers (did you mean 'west'?)",
        "trunkgate.yaml:20:5: 'host' is the host's own system, not a recipe: name the image "
        "otherwise",
        "trunkgate.yaml:21:5: 'name': 'org/tools' is not a valid image name: use letters, "
        "digits and . _ + - (no slash)",
    ]


def test_a_debootstrap_mirror_must_be_a_web_url(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        images:
          - name: debian
            base: debootstrap
            mirror: ftp://example.invalid/debian
            release: "Bookworm"
        """,
    )
    assert found == [
        "trunkgate.yaml:6:5: 'mirror': 'ftp://example.invalid/debian' is not an http:// or "
        "https:// URL",
        "trunkgate.yaml:7:5: 'release': 'Bookworm' is not a release name (like bookworm or trixie)",
    ]


def test_a_static_provider_boots_no_image(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        providers:
          - name: lab
            driver: static
            hosts: [{name: box, address: 127.0.0.1, labels: [default]}]
            labels: [{name: default, image: tools}]
        images:
          - name: tools
        """,
    )
    assert found == [
        "trunkgate.yaml:7:14: provider 'lab' runs jobs on its hosts as they are: its label "
        "'default' cannot boot image 'tools'"
    ]


def test_a_cloud_provider_gets_no_image_builds_yet(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + """\
        providers:
          - name: cloud
            driver: openstack
            cloud: mycloud
            labels: [{name: default, image: tools}]
        images:
          - name: tools
        """,
    )
    assert found == [
        "trunkgate.yaml:7:14: provider 'cloud' (driver openstack) gets no image builds yet: "
        "only namespace providers boot image 'tools'"
    ]
