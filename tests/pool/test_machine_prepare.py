"""`trunkgate machine prepare PROVIDER HOST`: the one-time preparation of a
host's reset method, printed; a host or provider that has none says so in
one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFIG = """\
labels:
  - name: metal
providers:
  - name: metal
    driver: static
    labels: [{name: metal}]
    hosts:
      - {name: m1, address: 192.0.2.1, labels: [metal],
         reset: {method: btrfs, device: /dev/sda2}}
      - {name: m2, address: 192.0.2.2, labels: [metal], reset-command: wipe}
"""


def trunkgate(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trunkgate.cli.main", "-c", str(config), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_the_preparation_is_printed_and_a_host_without_a_method_says_so(tmp_path: Path) -> None:
    config = tmp_path / "trunkgate.yaml"
    config.write_text(CONFIG)
    printed = trunkgate(config, "machine", "prepare", "metal", "m1")
    assert printed.returncode == 0, printed.stderr
    assert "btrfs subvolume snapshot -r / /mnt/top/@origin" in printed.stdout
    assert "mount -o subvolid=5 /dev/sda2 /mnt/top" in printed.stdout
    none = trunkgate(config, "machine", "prepare", "metal", "m2")
    assert none.returncode == 1
    assert none.stderr.strip().startswith("trunkgate: host m2 of provider metal declares no reset")
    missing = trunkgate(config, "machine", "prepare", "metal", "m9")
    assert missing.stderr.strip() == "trunkgate: provider metal has no host 'm9'"
