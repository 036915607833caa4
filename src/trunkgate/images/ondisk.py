"""A built image's directory, as the builder leaves it and the namespace
driver boots it: `root/`, the image's whole tree but for `/usr` when it
has the next; `usr/` (an image built on the host), the image's own layer
over the host's `/usr`, which is never copied."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = "root"
USR = "usr"

#: Where, in an image, each project it caches is: a bare clone at
#: `<REPO_CACHE_DIR>/<project>`.
REPO_CACHE_DIR = "/opt/trunkgate/git"

#: (path in the node, host directories stacked there, top first).
Layers = list[tuple[str, list[str]]]


def image_layers(directory: Path) -> Layers | None:
    """What a node of the image at `directory` mounts where; None when the
    directory holds no built image."""
    root, usr = directory / ROOT, directory / USR
    if not root.is_dir():
        return None
    if usr.is_dir():
        return [("/", [str(root)]), ("/usr", [str(usr), "/usr"])]
    return [("/", [str(root)])]


def find_in_layers(layers: Layers, path: str) -> bool:
    """Whether a node of these layers has the file `path` (an absolute path):
    the top layer of the deepest mount holding it that has the name decides."""
    target, lowers = max(
        ((t, ls) for t, ls in layers if path == t or path.startswith(t.rstrip("/") + "/")),
        key=lambda layer: len(layer[0]),
    )
    inside = path[len(target.rstrip("/")) :].lstrip("/")
    for lower in lowers:
        candidate = os.path.join(lower, inside)
        if os.path.lexists(candidate):
            return os.path.isfile(candidate)
    return False
