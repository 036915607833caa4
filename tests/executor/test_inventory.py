"""The inventory and environment every node of a build gets, and the console
header: pure rendering, checked by sourcing the env file with a real bash."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from trunkgate.config.expanded import ExpandedJob, Node, Nodeset, Step
from trunkgate.executor import BuildNode, BuildSpec
from trunkgate.executor.console import header_lines, node_lines
from trunkgate.executor.inventory import build_variables, env_file, env_name
from trunkgate.executor.nodefiles import node_files
from trunkgate.merger import PreparedTree

NODES = [
    BuildNode("controller", "big", "0007", "east", "debian", "0003", "tg-0007", "169.254.0.7"),
    BuildNode("compute-1", "small", "0008", "east", "debian", None, "tg-0008", "169.254.0.8"),
]


def job(env: dict[str, str] | None = None) -> ExpandedJob:
    return ExpandedJob(
        project="org/app",
        pipeline="gate",
        name="integration",
        template="integration",
        description="",
        nodeset=Nodeset(None, (Node("controller", "big"), Node("compute-1", "small"))),
        pre_run=(),
        run=(Step("true", "controller"),),
        post_run=(),
        timeout=600.0,
        env=env or {},
        artifacts=(),
        voting=True,
        parameters={},
    )


def spec(env: dict[str, str] | None = None, change: int | None = 12) -> BuildSpec:
    return BuildSpec(
        id="b-1",
        job=job(env),
        tree=PreparedTree(()),
        console_path=Path("/logs/bs/integration/console.log"),
        buildset="bs",
        change=change,
        patchset=3 if change else None,
    )


def sourced(text: str, tmp_path: Path, names: list[str]) -> dict[str, str]:
    """What bash sees after sourcing `text` with `set -a`."""
    path = tmp_path / "vars.env"
    path.write_text(text)
    script = f"set -a; . {path}; " + "; ".join(f'printf "%s\\0" "${name}"' for name in names)
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout
    return dict(zip(names, out.decode().split("\0")[:-1], strict=True))


def test_every_node_learns_every_nodes_name_label_and_address() -> None:
    variables = build_variables(spec(), NODES, NODES[1], "/root")
    assert variables["TRUNKGATE_NODE"] == "compute-1"
    assert variables["TRUNKGATE_NODES"] == "controller compute-1"
    assert variables["TRUNKGATE_PRIMARY"] == "controller"
    assert variables["TRUNKGATE_NODE_CONTROLLER_ADDRESS"] == "169.254.0.7"
    assert variables["TRUNKGATE_NODE_COMPUTE_1_ADDRESS"] == "169.254.0.8"
    assert variables["TRUNKGATE_NODE_COMPUTE_1_LABEL"] == "small"
    assert variables["TRUNKGATE_SRC"] == "/root/src/org/app"
    assert variables["TRUNKGATE_CHANGE"] == "12"
    assert variables["TRUNKGATE_PATCHSET"] == "3"
    assert variables["TRUNKGATE_PIPELINE"] == "gate"
    assert env_name("compute-1") == "COMPUTE_1"


def test_a_build_without_a_change_has_empty_change_variables() -> None:
    variables = build_variables(spec(change=None), NODES, NODES[0], "/home/zuul/")
    assert variables["TRUNKGATE_CHANGE"] == ""
    assert variables["TRUNKGATE_PATCHSET"] == ""
    assert variables["TRUNKGATE_SRC_ROOT"] == "/home/zuul/src"


def test_the_env_file_gives_bash_every_value_exactly(tmp_path: Path) -> None:
    values = {
        "PLAIN": "x",
        "QUOTES": 'it\'s "quoted" $HOME `date` \\ ; rm -rf /',
        "LINES": "one\ntwo",
        "EMPTY": "",
    }
    text = env_file(values, "test")
    assert sourced(text, tmp_path, list(values)) == values


def test_the_node_files_hold_the_inventory_and_the_jobs_env(tmp_path: Path) -> None:
    files = node_files(spec({"GREETING": "hi there"}), NODES, NODES[0], "/root")
    inventory = json.loads(files["trunkgate/inventory.json"])
    assert inventory["primary"] == "controller"
    assert [(n["name"], n["label"], n["address"]) for n in inventory["nodes"]] == [
        ("controller", "big", "169.254.0.7"),
        ("compute-1", "small", "169.254.0.8"),
    ]
    assert sourced(files["trunkgate/job.env"], tmp_path, ["GREETING"]) == {"GREETING": "hi there"}
    got = sourced(files["trunkgate/inventory.env"], tmp_path, ["TRUNKGATE_NODE", "TRUNKGATE_JOB"])
    assert got == {"TRUNKGATE_NODE": "controller", "TRUNKGATE_JOB": "integration"}


def test_the_console_header_names_the_build_and_its_nodes() -> None:
    started = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    header = list(header_lines(spec(), started))
    assert header[0] == "Build b-1 of job integration started at 2024-05-06 07:08:09.000000 UTC"
    assert "Pipeline: gate" in header
    assert "Project: org/app" in header
    assert "Change: 12" in header
    assert "Patchset: 3" in header
    nodes = list(node_lines(NODES, attempt=1))
    assert nodes[0] == "NODE_PROVIDER=east"
    assert nodes[1].startswith("Node controller: label big, image debian build 0003,")
    assert nodes[2].startswith("Node compute-1: label small, image debian build -,")
    assert next(node_lines(NODES, attempt=2)) == "Attempt 2, on new nodes"
