"""Prometheus metrics of images: how long builds take and how they end, per
image; the age of each image's newest ready build; the bytes a build's tree
sent to its nodes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from trunkgate.images.records import ImageBuild, ImageBuildState


class ImageMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.builds = Counter(
            "trunkgate_image_builds",
            "Image builds by image and result (ready, failed).",
            ["image", "result"],
            registry=registry,
        )
        self.build_seconds = Histogram(
            "trunkgate_image_build_seconds",
            "How long an image's build took, whatever its result.",
            ["image"],
            buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 3600),
            registry=registry,
        )
        self.newest_age = Gauge(
            "trunkgate_image_newest_ready_age_seconds",
            "The age of each image's newest ready build.",
            ["image"],
            registry=registry,
        )
        self.tree_bytes = Histogram(
            "trunkgate_tree_bytes_sent",
            "Bytes a repository's copy sent to a node, by whether the image cached it.",
            ["cached"],
            buckets=(1 << 10, 16 << 10, 256 << 10, 1 << 20, 16 << 20, 256 << 20, 1 << 30),
            registry=registry,
        )

    def observe_ages(self, builds: Mapping[str, Iterable[ImageBuild]], now: float) -> None:
        for image, those in builds.items():
            ready = [b.created for b in those if b.state == ImageBuildState.READY]
            if ready:
                self.newest_age.labels(image).set(now - max(ready))


IMAGE_METRICS = ImageMetrics()
