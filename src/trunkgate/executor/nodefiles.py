"""The files the executor writes on every node of a build, under
`~/trunkgate/`: the inventory (JSON and shell), the job's environment and
the wrapper every step runs in. Pure rendering; `remote` writes them."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from trunkgate.executor.decisions import job_variables
from trunkgate.executor.inventory import (
    NODE_DIR,
    build_variables,
    env_file,
    inventory_json,
    project_locations,
)
from trunkgate.executor.model import BuildNode, BuildSpec

STEP_WRAPPER = f"{NODE_DIR}/run-step"
STEP_PID = f"{NODE_DIR}/step.pid"

_WRAPPER = f"""\
# Runs one step of a trunkgate build: records the step's process group so
# the executor can stop it, loads the build's environment, runs the step in
# the project's source tree.
echo "$$" > "$HOME/{STEP_PID}"
set -a
. "$HOME/{NODE_DIR}/job.env"
. "$HOME/{NODE_DIR}/inventory.env"
set +a
cd "$TRUNKGATE_SRC"
exec bash -e -o pipefail -c "$1"
"""


def node_files(
    spec: BuildSpec, nodes: Sequence[BuildNode], node: BuildNode, home: str
) -> dict[str, str]:
    """Each file's path relative to the node's home, and its text."""
    variables = build_variables(spec, nodes, node, home)
    return {
        f"{NODE_DIR}/inventory.json": inventory_json(nodes, project_locations(spec, home)),
        f"{NODE_DIR}/inventory.env": env_file(
            variables, f"trunkgate build {spec.id}: the nodeset and the build"
        ),
        f"{NODE_DIR}/job.env": env_file(
            job_variables(spec.job.env), f"trunkgate build {spec.id}: env of job {spec.job.name}"
        ),
        STEP_WRAPPER: _WRAPPER,
    }


def step_command(shell: str) -> str:
    """The remote command of a step: the wrapper in a session (and process
    group) of its own, which `kill_command` can stop whole."""
    return f'exec setsid --wait bash "$HOME/{STEP_WRAPPER}" {shlex.quote(shell)}'


def kill_command() -> str:
    """Kills the process group of the step that runs now, if any."""
    return (
        f'pid=$(cat "$HOME/{STEP_PID}" 2>/dev/null) && [ -n "$pid" ] '
        '&& kill -KILL -- "-$pid" 2>/dev/null; true'
    )


SYSTEM_LOG_COMMAND = f"""\
if [ -r /var/log/syslog ]; then
  echo /var/log/syslog
elif [ -S /run/systemd/journal/socket ] && command -v journalctl >/dev/null; then
  journalctl --no-pager -b > "$HOME/{NODE_DIR}/journal.txt" 2>&1 && echo {NODE_DIR}/journal.txt
fi
true
"""
"""Prints the path of the node's system log to collect, if it has one: the
syslog file, else the journal when journald runs on the node."""
