"""Where images keep their records in the store."""

from __future__ import annotations

ROOT = "/images"
LOCKS = f"{ROOT}-locks"


def image(name: str) -> str:
    return f"{ROOT}/{name}"


def builds(name: str) -> str:
    return f"{ROOT}/{name}/builds"


def build(name: str, build_id: str) -> str:
    return f"{builds(name)}/{build_id}"


def uploads(name: str, build_id: str) -> str:
    return f"{build(name, build_id)}/uploads"


def upload(name: str, build_id: str, provider: str) -> str:
    return f"{uploads(name, build_id)}/{provider}"


def build_request(name: str) -> str:
    """Present while someone asked for a build of the image now."""
    return f"{ROOT}/{name}/requested"


def build_lock(name: str, host: str) -> str:
    """Held by the builder of `host` building the image (each host builds
    its own, for the providers there): a building record whose lock nobody
    holds was left by a builder that died."""
    return f"{LOCKS}/{name}/{host}"
