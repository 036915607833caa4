"""The escape suite: an attacker's change in the `check` pipeline tries, from
a job step on a real sandboxed node, every way out that an unsandboxed node
offered. Each attempt must fail, and the host must be as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.escape.attacks import ATTACKS
from tests.escape.site import SECRET, EscapeSite, Outcome, canary_alive


def ran(site: EscapeSite, name: str) -> Outcome:
    """The change's build, which must have run its script on a node."""
    outcome = site.outcomes[name]
    assert outcome.result, f"{name}: no build in the history; report: {outcome.report}"
    assert "blocked: " in outcome.console or name.endswith("bomb") or name == "disk-fill", (
        f"{name}: the attack did not run:\n{outcome.console[-3000:]}"
    )
    return outcome


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_no_attack_escapes(escape_site: EscapeSite, name: str) -> None:
    outcome = ran(escape_site, name)
    said = [line.split(" | ", 2)[-1] for line in outcome.console.splitlines()]
    # bash quotes a killed command's text, so only what a script printed counts.
    assert [text for text in said if text.startswith("ESCAPED")] == []


def test_the_release_agent_never_runs_on_the_host(escape_site: EscapeSite) -> None:
    console = ran(escape_site, "release-agent").console
    assert "blocked: release_agent" in console or "blocked: mount cgroup" in console
    assert "blocked: mount cgroup none,name=escape" in console
    assert not (escape_site.directory / "escaped").exists()


def test_no_host_secret_reaches_a_node(escape_site: EscapeSite) -> None:
    console = ran(escape_site, "read-secrets").console
    assert SECRET not in console
    host_shadow = Path("/etc/shadow").read_text().splitlines()[0]
    assert "shadow says: root:*:" in console
    assert host_shadow not in console
    for line in ("blocked: read /etc/ssh/ssh_host_ed25519_key", "blocked: read /root/.pyenv"):
        assert line in console


def test_the_hosts_dev_and_kernel_settings_are_untouched(escape_site: EscapeSite) -> None:
    console = ran(escape_site, "write-host-kernel").console
    assert not Path("/dev/trunkgate-escape").exists()
    for what in ("mknod", "/proc/sys/kernel/core_pattern", "sysrq", "clock", "kernel log"):
        assert f"blocked: {what}" in console


def test_kernel_filesystems_and_new_namespaces_are_refused(escape_site: EscapeSite) -> None:
    console = ran(escape_site, "mount-kernel-filesystems").console
    for what in ("mount debugfs", "mount bpf", "new user namespace", "bpf", "io_uring"):
        assert f"blocked: {what}" in console


def test_a_node_cannot_kill_host_processes(escape_site: EscapeSite) -> None:
    console = ran(escape_site, "kill-host-processes").console
    assert f"blocked: kill {escape_site.canary.pid}" in console
    assert canary_alive(escape_site)
    assert escape_site.serve_survived
    seen = int(console.split("processes seen: ", 1)[1].split()[0])
    assert seen < 20, "a node sees only its own processes"


def test_a_node_cannot_write_trunkgates_state(escape_site: EscapeSite) -> None:
    ran(escape_site, "forge-the-verdict")
    assert not (escape_site.data_dir / "forged").exists()
    assert not (escape_site.data_dir / "logs" / "forged").exists()


def test_a_node_cannot_take_addresses_or_forge_frames(escape_site: EscapeSite) -> None:
    console = ran(escape_site, "network-takeover").console
    assert "blocked: ip addr add" in console
    assert "blocked: MAC" in console
    assert console.count("blocked: raw socket") == 2


def test_nothing_found_on_a_node_opens_another(escape_site: EscapeSite) -> None:
    console = ran(escape_site, "ssh-to-other-nodes").console
    assert "reachable on port 22: none" in console
    assert "blocked: no login" in console


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("process-bomb", "limit of 200 processes"),
        ("memory-bomb", "memory limit of 384 MiB"),
        ("disk-fill", "disk (its writable layer, 128 MiB) is full"),
    ],
)
def test_a_bomb_fails_its_job_on_the_limit_it_reached(
    escape_site: EscapeSite, name: str, limit: str
) -> None:
    outcome = ran(escape_site, name)
    assert outcome.result == "FAILURE"
    assert limit in outcome.console


def test_the_site_leaves_nothing_on_the_host(escape_site: EscapeSite) -> None:
    namespace_dir = escape_site.data_dir / "namespace" / "jail" / "nodes"
    assert not namespace_dir.exists() or os.listdir(namespace_dir) == []
