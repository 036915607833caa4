"""The stored records of images: each build of a recipe, and its upload to
each provider that boots it. Plain dataclasses; the store serialises them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ImageBuildState(StrEnum):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"
    DELETING = "deleting"


class UploadState(StrEnum):
    UPLOADING = "uploading"
    READY = "ready"
    FAILED = "failed"
    DELETING = "deleting"


@dataclass
class ImageBuild:
    """One build of an image's recipe. `recipe` is the digest of the recipe
    (and of the files it copies) it was built from; `builder` the host that
    built it and keeps it, at `path`; `checksum` and `size` are of what was
    built; `reason` says why a build failed; `caches` holds, for each
    project the image caches, the objects its refs named when cloned;
    `answers`, the asks for a build it answers."""

    image: str
    id: str
    created: float
    builder: str
    recipe: str
    state: ImageBuildState = ImageBuildState.BUILDING
    state_time: float = 0.0
    path: str | None = None
    checksum: str | None = None
    size: int | None = None
    reason: str | None = None
    caches: dict[str, list[str]] = field(default_factory=dict)
    #: The image's count of asks for a build when this one began: it answers
    #: them all, for its host.
    answers: int = 0


@dataclass
class ImageUpload:
    """An image build handed to a provider: `path` is where that provider
    boots it from."""

    image: str
    build: str
    provider: str
    state: UploadState = UploadState.UPLOADING
    state_time: float = 0.0
    path: str | None = None
    reason: str | None = None
