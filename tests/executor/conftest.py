"""A live site for executor tests: a pool of namespace nodes, jobs from a
real config, a real git project whose change the real merger prepares, and a
job runner that holds the nodes of failed builds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.merger.gitrepo import make_upstream, push_change
from tests.pool.site import PoolSite
from trunkgate.config.expanded import ExpandedJob
from trunkgate.executor import BuildSpec, ExecutorSettings, JobRunner
from trunkgate.merger import ChangeSpec, Merger, MergeRequest, PreparedTree
from trunkgate.pool.holding import HoldPolicy
from trunkgate.pool.records import Node

PROJECT = "example/calc"

SITE = """\
labels:
  - name: default
providers:
  - name: east
    driver: namespace
    max-servers: 6
    labels: [{name: default}]
jobs:
  - name: passes
    timeout: 60s
    env: {GREETING: "hello, 'quoted' world"}
    pre-run:
      - mkdir -p ~/out && echo pre-run ran > ~/out/pre.txt
    run:
      - echo "env project=$TRUNKGATE_PROJECT change=$TRUNKGATE_CHANGE patchset=$TRUNKGATE_PATCHSET"
      - echo "env pipeline=$TRUNKGATE_PIPELINE job=$TRUNKGATE_JOB build=$TRUNKGATE_BUILD"
      - echo "env greeting=$GREETING node=$TRUNKGATE_NODE nodes=$TRUNKGATE_NODES"
      - echo "env src=$TRUNKGATE_SRC primary-address=$TRUNKGATE_NODE_PRIMARY_ADDRESS"
      # Steps start in the project's source tree.
      - name: source
        shell: |
          echo "source: $(git rev-parse HEAD) $(cat change.txt)"
          echo "report of $(git log -1 --format=%s)" > ~/out/report.txt
      - |
        python3 -c '
        import json, os
        inventory = json.load(open(os.environ["TRUNKGATE_INVENTORY"]))
        print("inventory", inventory["nodes"][0]["address"])'
    post-run:
      - echo post-run ran
    artifacts: [out/report.txt, out/pre.txt, out/missing.txt]

  - name: fails
    timeout: 60s
    run:
      - echo before the failure
      - exit 3
      - echo never reached
    post-run:
      - echo post-run ran after the failure

  - name: missing-command
    timeout: 60s
    run:
      - no-such-command-here --with-args

  - name: times-out
    timeout: 2s
    run:
      - echo started; sleep 60; echo slept
    post-run:
      - if pgrep -x sleep >/dev/null; then echo STILL RUNNING; else echo nothing left running; fi

  - name: two-nodes
    timeout: 60s
    nodeset:
      nodes:
        - {name: controller, label: default}
        - {name: worker, label: default}
    run:
      - shell: echo "worker $(hostname) has $(git -C "$TRUNKGATE_SRC" rev-parse --short HEAD)"
        node: worker
      - shell: |
          addr=$(python3 -c '
          import json, os
          inventory = json.load(open(os.environ["TRUNKGATE_INVENTORY"]))
          print([n["address"] for n in inventory["nodes"] if n["name"] == "worker"][0])')
          test "$addr" = "$TRUNKGATE_NODE_WORKER_ADDRESS"
          exec 3<>"/dev/tcp/$addr/22"
          echo "controller reached worker: $(head -c 7 <&3)"
        node: controller

  - name: slow
    timeout: 60s
    run:
      - echo STEP-STARTED; sleep 3; echo STEP-DONE

  - name: two-nodes-slow
    timeout: 60s
    nodeset:
      nodes:
        - {name: controller, label: default}
        - {name: worker, label: default}
    run:
      - shell: echo STEP-STARTED; sleep 3; echo STEP-DONE
        node: controller

  - name: bad-env
    timeout: 60s
    env: {"NOT A NAME": x}
    run:
      - "true"

  - name: system-log
    timeout: 60s
    run:
      - echo "a line for the system log" >> /var/log/syslog

  - name: loses-rsync
    timeout: 60s
    run:
      - mkdir -p ~/out && echo kept > ~/out/a.txt && rm "$(command -v rsync)"
    artifacts: [out/a.txt]

  # What an attacker's change leaves for the executor to collect.
  - name: sends-back-dangers
    timeout: 60s
    run:
      - |
        cd ~
        mkdir -p out/sub
        echo plain > out/plain.txt
        cp /bin/true out/setuid-root && chmod 4755 out/setuid-root
        cp /bin/true out/setgid && chmod 2755 out/setgid
        chmod 3777 out/sub
        mkfifo out/fifo
        python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("out/socket")'
        mknod out/disk b 8 0 || echo "mknod refused"
        ln -s /etc/shadow out/shadow
        ln -s /root/.ssh/id_ed25519 out/pool-key
        ln -s ../../../../etc/passwd out/up
        ln -s ../.. out/sub/back
        ln -s sub/back/../../x out/chain
        ln -s plain.txt out/inside
        ln out/plain.txt out/hard
        head -c 3M /dev/zero > out/big
        chown 1234:1234 out/plain.txt
    artifacts: [out]

  - name: sends-back-too-much
    timeout: 60s
    run:
      - cd ~ && mkdir -p out && for n in 1 2 3 4 5 6; do head -c 1M /dev/urandom > out/part-$n; done
    artifacts: [out]

  - name: floods-the-console
    timeout: 60s
    run:
      - python3 -c "import sys; w = sys.stdout.write; w('x'*300000 + '\\n'); w('a line\\n'*400000)"

  - name: rsync-shouts
    timeout: 60s
    run:
      - |
        mv /usr/bin/rsync /usr/bin/rsync.real
        echo '#!/bin/sh' > /usr/bin/rsync
        echo 'python3 -c "import sys; sys.stderr.write(chr(27) * 3000000)"' >> /usr/bin/rsync
        echo 'exec /usr/bin/rsync.real "$@"' >> /usr/bin/rsync
        chmod +x /usr/bin/rsync
        mkdir -p ~/out && echo kept > ~/out/a.txt
    artifacts: [out]

  - name: sends-back-many-files
    timeout: 60s
    run:
      - mkdir -p ~/out && cd ~/out && seq 5000 | xargs touch
    artifacts: [out]

  - name: prints-escapes
    timeout: 60s
    run:
      - >-
        printf 'title \\033]0;pwned\\007 clear \\033[2J
        bidi \\342\\200\\256gnp.exe bad \\377 end\\n'

projects:
  - name: example/calc
    check:
      - passes
      - fails
      - missing-command
      - times-out
      - two-nodes
      - slow
      - two-nodes-slow
      - bad-env
      - system-log
      - loses-rsync
      - sends-back-dangers
      - sends-back-too-much
      - prints-escapes
      - floods-the-console
      - rsync-shouts
      - sends-back-many-files
"""


@dataclass
class ExecutorSite:
    pool: PoolSite
    runner: JobRunner
    tree: PreparedTree
    logs: Path
    count: int = 0

    def job(self, name: str) -> ExpandedJob:
        (job,) = [j for j in self.pool.config.jobs_for(PROJECT, "check") if j.name == name]
        return job

    def spec(self, name: str) -> BuildSpec:
        self.count += 1
        build = f"build-{self.count}-{name}"
        return BuildSpec(
            id=build,
            job=self.job(name),
            tree=self.tree,
            console_path=self.logs / build / "console.log",
            buildset="bs-1",
            change=7,
            patchset=1,
        )

    async def nodes_of(self, build: str) -> list[Node]:
        return [n for n in await self.pool.nodes() if n.build == build]

    async def wait_for_console(self, spec: BuildSpec, text: str, count: int = 1) -> None:
        deadline = time.monotonic() + 60
        while True:
            if spec.console_path.exists() and spec.console_path.read_text().count(text) >= count:
                return
            assert time.monotonic() < deadline, f"{text!r} never appeared {count} times"
            await asyncio.sleep(0.02)

    async def kill_nodes(self, build: str, only: str | None = None) -> list[Node]:
        """Deletes the build's nodes under it (or only the node with id
        `only`), through their driver."""
        nodes = [
            n
            for n in await self.nodes_of(build)
            if n.state.value == "in-use" and only in (None, n.id)
        ]
        for node in nodes:
            assert node.external_id is not None
            await self.pool.drivers[node.provider].delete(node.external_id)
        return nodes


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[ExecutorSite]:
    bare, work = make_upstream(tmp_path)
    work.branch_from(work.head(), "change-7")
    work.commit("Add the change file", {"change.txt": "change seven\n"})
    ref = push_change(work, bare, 7)
    change = ChangeSpec(PROJECT, str(bare), "main", ref, "7,1")
    tree = await Merger(tmp_path / "merger").prepare(MergeRequest((change,)), tmp_path / "tree")
    assert isinstance(tree, PreparedTree)

    pool = PoolSite(tmp_path / "site", SITE)
    await pool.open()
    try:
        pool.start("east")
        settings = ExecutorSettings(
            hold=HoldPolicy(hold_failed_for=3600, max_held_nodes=4),
            keepalive_interval=1.0,
            keepalive_count_max=3,
            kill_grace=2.0,
        )
        runner = JobRunner(pool.client, settings)
        yield ExecutorSite(pool, runner, tree, tmp_path / "logs")
    finally:
        await pool.close()
