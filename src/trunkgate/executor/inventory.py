"""A build's inventory as its nodes see it: the nodeset's nodes with their
names, labels and addresses, as JSON, as `TRUNKGATE_*` variables and as a
shell-sourceable file. Pure: records in, text out."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence

from trunkgate.executor.model import BuildNode, BuildSpec

#: Where the build's files live on a node, relative to its home.
NODE_DIR = "trunkgate"
SRC_DIR = "src"


def env_name(node_name: str) -> str:
    """A nodeset node's name as it appears in variable names: `compute-1` is `COMPUTE_1`."""
    return re.sub(r"[^A-Z0-9]", "_", node_name.upper())


def project_locations(spec: BuildSpec, home: str) -> dict[str, dict[str, str]]:
    """Where each project of the build's tree is on a node (`home` is the node
    user's home), and its checked-out branch and commit."""
    base = f"{home.rstrip('/')}/"
    return {
        repo.project: {
            "src": base + src_path(repo.project),
            "branch": repo.branch,
            "commit": repo.commit,
        }
        for repo in spec.tree.repos
    }


def inventory(
    nodes: Sequence[BuildNode], projects: Mapping[str, Mapping[str, str]] | None = None
) -> dict[str, object]:
    """The nodeset as a mapping, the first node being the primary, and where
    each project of the tree is."""
    return {
        "projects": {name: dict(where) for name, where in (projects or {}).items()},
        "primary": nodes[0].name if nodes else None,
        "nodes": [
            {
                "name": n.name,
                "label": n.label,
                "address": n.address,
                "hostname": n.hostname,
                "provider": n.provider,
                "image": n.image,
                "image_build": n.image_build,
                "id": n.id,
            }
            for n in nodes
        ],
    }


def inventory_json(
    nodes: Sequence[BuildNode], projects: Mapping[str, Mapping[str, str]] | None = None
) -> str:
    return json.dumps(inventory(nodes, projects), indent=2, sort_keys=True) + "\n"


def build_variables(
    spec: BuildSpec, nodes: Sequence[BuildNode], node: BuildNode, home: str
) -> dict[str, str]:
    """Every `TRUNKGATE_*` variable a step on `node` sees.

    `home` is the node user's home directory, so that paths are absolute.
    """
    base = f"{home.rstrip('/')}/"
    variables = {
        "TRUNKGATE_BUILD": spec.id,
        "TRUNKGATE_BUILDSET": spec.buildset,
        "TRUNKGATE_JOB": spec.job.name,
        "TRUNKGATE_PIPELINE": spec.pipeline,
        "TRUNKGATE_PROJECT": spec.project,
        "TRUNKGATE_CHANGE": "" if spec.change is None else str(spec.change),
        "TRUNKGATE_PATCHSET": "" if spec.patchset is None else str(spec.patchset),
        "TRUNKGATE_SRC_ROOT": base + SRC_DIR,
        "TRUNKGATE_SRC": f"{base}{SRC_DIR}/{spec.project}",
        "TRUNKGATE_INVENTORY": f"{base}{NODE_DIR}/inventory.json",
        "TRUNKGATE_NODE": node.name,
        "TRUNKGATE_NODES": " ".join(n.name for n in nodes),
        "TRUNKGATE_PRIMARY": nodes[0].name,
        "TRUNKGATE_NODE_PROVIDER": node.provider,
    }
    for n in nodes:
        key = f"TRUNKGATE_NODE_{env_name(n.name)}"
        variables[f"{key}_ADDRESS"] = n.address
        variables[f"{key}_LABEL"] = n.label
        variables[f"{key}_HOSTNAME"] = n.hostname
    return variables


def env_file(variables: Mapping[str, str], comment: str) -> str:
    """`variables` as a file that `. FILE` (or `set -a; . FILE`) loads."""
    lines = [f"# {comment}"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    return "\n".join(lines) + "\n"


def src_path(project: str) -> str:
    """Where a project's repository goes on a node, relative to its home."""
    return f"{SRC_DIR}/{project}"
