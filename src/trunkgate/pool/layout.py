"""Where the pool keeps its records in the store. One place, so every
component reads and writes the same paths."""

from __future__ import annotations

ROOT = "/pool"
NODES = f"{ROOT}/nodes"
NODE_KEYS = f"{ROOT}/node-keys"
REQUESTS = f"{ROOT}/requests"
AUTOHOLDS = f"{ROOT}/autoholds"
LAUNCHERS = f"{ROOT}/launchers"
LOCKS = f"{ROOT}/locks"
REAPER = f"{ROOT}/reaper"
USERS = f"{ROOT}/users"
PROVIDERS = f"{ROOT}/providers"


def node(node_id: str) -> str:
    return f"{NODES}/{node_id}"


def node_key(node_id: str) -> str:
    """A node's client key: beside its record, not in it, so that nothing
    that reads or lists nodes ever holds the key's private half."""
    return f"{NODE_KEYS}/{node_id}"


def request(request_id: str) -> str:
    return f"{REQUESTS}/{request_id}"


def autohold(autohold_id: str) -> str:
    return f"{AUTOHOLDS}/{autohold_id}"


def request_lock(request_id: str) -> str:
    return f"{LOCKS}/requests/{request_id}"


def node_lock(node_id: str) -> str:
    return f"{LOCKS}/nodes/{node_id}"


def min_ready_lock() -> str:
    return f"{LOCKS}/min-ready"


def provider_status(provider: str) -> str:
    """What a provider's launcher says of its health: backoffs, quota pause."""
    return f"{PROVIDERS}/{provider}"


def launcher(provider: str) -> str:
    return f"{LAUNCHERS}/{provider}"


def reaper_suspects(provider: str) -> str:
    return f"{REAPER}/{provider}-suspects"


def user(build: str) -> str:
    """An ephemeral claim of a build on its nodes, gone when its process dies."""
    return f"{USERS}/{build}"


def last(path: str) -> str:
    return path.rsplit("/", 1)[-1]
