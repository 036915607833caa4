"""A static host's reset method in the config: each method's settings, and
the mistakes refused where they are written."""

from __future__ import annotations

from pathlib import Path

from tests.config.helpers import LABELS, load, problems

PROVIDER = """\
        providers:
          - name: metal
            driver: static
            labels: [{name: default}]
            hosts:
"""


def test_each_method_is_read_with_its_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        LABELS
        + PROVIDER
        + """\
              - {name: m1, address: 10.9.0.1, labels: [default],
                 reset: {method: lvm-kexec, volume-group: vg0, snapshot-size: 20G}}
              - {name: m2, address: 10.9.0.2, labels: [default],
                 reset: {method: btrfs, device: /dev/sdb2}}
              - {name: m3, address: 10.9.0.3, labels: [default],
                 reset: {method: command, command: wipe-and-reboot}}
              - {name: m4, address: 10.9.0.4, labels: [default], reset-command: wipe}
        """,
    )
    m1, m2, m3, m4 = config.providers["metal"].hosts
    assert m1.reset is not None
    assert m1.reset.method == "lvm-kexec"
    assert (m1.reset.origin, m1.reset.slots, m1.reset.snapshot_size) == (
        "root-origin",
        ("root-a", "root-b"),
        20 << 30,
    )
    assert m2.reset is not None
    assert m2.reset.method == "btrfs"
    assert (m2.reset.origin, m2.reset.slots) == ("@origin", ("@root-a", "@root-b"))
    assert m3.reset is not None
    assert m3.reset.method == "command"
    assert (m4.reset, m4.reset_command) == (None, "wipe")


def test_mistakes_in_a_reset_are_named_where_they_are(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        LABELS
        + PROVIDER
        + """\
              - {name: m1, address: 10.9.0.1, labels: [default], reset-command: x,
                 reset: {method: command, command: y}}
              - {name: m2, address: 10.9.0.2, labels: [default],
                 reset: {method: lvm-kexec, volume-group: vg0, slots: [root-origin, b]}}
              - {name: m3, address: 10.9.0.3, labels: [default], reset: {method: zfs}}
              - {name: m4, address: 10.9.0.4, labels: [default],
                 reset: {method: lvm-kexec, volume-group: "vg0; reboot"}}
        """,
    )
    assert len(found) == 4
    assert "give reset-command or reset, not both" in found[0]
    assert "three different volumes" in found[1]
    assert "zfs" in found[2]
    assert "volume-group" in found[3]
    assert all(p.startswith("trunkgate.yaml:") for p in found)
