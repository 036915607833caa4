"""Prometheus metrics of the pool: nodes by state, provider and label;
launches by outcome; how long requests wait; held nodes."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from trunkgate.pool.records import Node
from trunkgate.pool.states import NodeState


class PoolMetrics:
    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.nodes = Gauge(
            "trunkgate_nodes",
            "Nodes by state, provider and label.",
            ["state", "provider", "label"],
            registry=registry,
        )
        self.held = Gauge(
            "trunkgate_held_nodes",
            "Nodes held for a person to look at.",
            ["provider"],
            registry=registry,
        )
        self.launches = Counter(
            "trunkgate_launches",
            "Node launches by provider and outcome (success, failure, quota).",
            ["provider", "outcome"],
            registry=registry,
        )
        self.launch_seconds = Histogram(
            "trunkgate_launch_seconds",
            "From create to ready.",
            buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
            registry=registry,
        )
        self.request_wait = Histogram(
            "trunkgate_request_wait_seconds",
            "From a node request to its fulfilment.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.resets = Counter(
            "trunkgate_resets",
            "Resets of reusable machines by provider and outcome (done, failed).",
            ["provider", "outcome"],
            registry=registry,
        )
        self.reset_seconds = Histogram(
            "trunkgate_reset_seconds",
            "From a reusable machine's release to it being back, clean and ready.",
            ["provider"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
            registry=registry,
        )
        self._seen: set[tuple[str, str, str]] = set()

    def observe_nodes(self, nodes: Iterable[Node]) -> None:
        counts = Tally((n.state.value, n.provider, n.label) for n in nodes)
        for key in self._seen - set(counts):
            self.nodes.labels(*key).set(0)
        for key, count in counts.items():
            self.nodes.labels(*key).set(count)
        self._seen |= set(counts)
        held = Tally(
            p
            for (state, p, _), c in counts.items()
            for _ in range(c)
            if state == NodeState.HOLD.value
        )
        for provider in {p for _, p, _ in self._seen}:
            self.held.labels(provider).set(held.get(provider, 0))


POOL_METRICS = PoolMetrics()
