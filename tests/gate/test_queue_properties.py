"""Random runs of a pipeline: changes enqueued, builds passing and failing,
merges conflicting or refused, changes dequeued, replaced, promoted and
rechecked, answers arriving in any order, late and twice. Whatever happens,
`SimulatedGate` checks on every step that nothing merges unless its exact
tree passed every voting job and that no change merges twice; at the end,
once every outstanding action is answered, every queue must be empty and
every item reported exactly once.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.gate.simulated import SimulatedGate
from trunkgate.gate import (
    Awaited,
    BuildResult,
    ChangeRef,
    Enqueue,
    JobSpec,
    Merge,
    PrepareMerge,
    StartJob,
    WindowPolicy,
)

QUEUE_OF = {"org/app": "integrated", "org/lib": "integrated", "org/docs": "docs"}
JOB_SETS = [
    (JobSpec("unit"),),
    (JobSpec("unit"), JobSpec("lint", voting=False)),
    (JobSpec("unit"), JobSpec("functional")),
    (),
]
RESULTS = [BuildResult.SUCCESS] * 5 + [
    BuildResult.FAILURE,
    BuildResult.TIMED_OUT,
    BuildResult.NODE_FAILURE,
    BuildResult.CANCELED,
]
WINDOWS = [
    None,  # the default
    WindowPolicy(start=2, floor=1, ceiling=4),
    WindowPolicy(
        start=2, floor=1, increase_type="exponential", increase_factor=3, decrease_type="linear"
    ),
]

picks = st.integers(min_value=0, max_value=1_000)


class RandomPipeline(RuleBasedStateMachine):
    gate: SimulatedGate

    def __init__(self) -> None:
        super().__init__()
        self.next_number = 1

    @initialize(
        manager=st.sampled_from(["dependent", "serial", "independent"]),
        window=st.sampled_from(WINDOWS),
        seed=st.integers(min_value=0, max_value=2**32),
    )
    def start(self, manager: str, window: WindowPolicy | None, seed: int) -> None:
        window = window if manager == "dependent" else None
        self.gate = SimulatedGate(manager=manager, window=window)
        self.rng = random.Random(seed)

    # -- helpers ---------------------------------------------------------

    def live(self) -> list[ChangeRef]:
        return [
            item.change for queue in self.gate.engine.state.queues.values() for item in queue.items
        ]

    def waiting(self, kind: type[Awaited]) -> list[Awaited]:
        return [a for a in self.gate.pending if isinstance(a, kind)]

    def enqueue(self, change: ChangeRef, jobs: tuple[JobSpec, ...]) -> None:
        self.gate.send(Enqueue(change=change, queue=QUEUE_OF[change.project], jobs=jobs))

    # -- the review source -----------------------------------------------

    @rule(project=st.sampled_from(sorted(QUEUE_OF)), jobs=st.sampled_from(JOB_SETS))
    def approve(self, project: str, jobs: tuple[JobSpec, ...]) -> None:
        change = ChangeRef(project, self.next_number, 1)
        self.next_number += 1
        self.enqueue(change, jobs)

    @rule(
        what=st.sampled_from(["abandon", "new patchset", "promote", "recheck", "answer again"]),
        pick=picks,
        approve_again=st.booleans(),
    )
    def disturb(self, what: str, pick: int, approve_again: bool) -> None:
        """Something other than a plain answer: one rule, so that it comes
        about as often as one kind of answer does."""
        live = self.live()
        if what == "recheck":
            self.recheck(pick)
        elif what == "answer again":
            # An answer delivered twice, late.
            if self.gate.answers:
                self.gate.send(self.gate.answers[pick % len(self.gate.answers)])
        elif live:
            change = live[pick % len(live)]
            if what == "abandon":
                self.gate.dequeue(change)
            elif what == "promote":
                self.gate.promote(change)
            else:
                new = self.gate.new_patchset(change)
                if approve_again:
                    self.enqueue(new, self.gate.jobs_of(change))

    def recheck(self, pick: int) -> None:
        """Enqueue again a change reported without merging, at its last patchset."""
        merged = {c.key for c in self.gate.merged}
        live = {c.key for c in self.live()}
        latest: dict[tuple[str, int], ChangeRef] = {}
        for report in self.gate.reports:
            if not report.merged:
                change = report.change
                if change.patchset >= latest.get(change.key, change).patchset:
                    latest[change.key] = change
        candidates = [c for k, c in sorted(latest.items()) if k not in merged | live]
        if candidates:
            change = candidates[pick % len(candidates)]
            self.enqueue(change, self.gate.jobs_of(change))

    # -- the merger and the executor, in any order -------------------------

    @precondition(lambda self: self.waiting(PrepareMerge))
    @rule(pick=picks, conflict=st.sampled_from([False, False, False, True]))
    def prepare(self, pick: int, conflict: bool) -> None:
        waiting = self.waiting(PrepareMerge)
        action = waiting[pick % len(waiting)]
        assert isinstance(action, PrepareMerge)
        self.gate.prepare(action, conflict=conflict)

    @precondition(lambda self: self.waiting(StartJob))
    @rule(pick=picks)
    def start_build(self, pick: int) -> None:
        waiting = self.waiting(StartJob)
        action = waiting[pick % len(waiting)]
        assert isinstance(action, StartJob)
        self.gate.start(action)

    @precondition(lambda self: self.waiting(StartJob))
    @rule(pick=picks, result=st.sampled_from(RESULTS))
    def finish_build(self, pick: int, result: BuildResult) -> None:
        waiting = self.waiting(StartJob)
        action = waiting[pick % len(waiting)]
        assert isinstance(action, StartJob)
        self.gate.finish(action, result)

    @precondition(lambda self: self.waiting(Merge))
    @rule(pick=picks, refuse=st.sampled_from([False, False, True]))
    def merge(self, pick: int, refuse: bool) -> None:
        waiting = self.waiting(Merge)
        action = waiting[pick % len(waiting)]
        assert isinstance(action, Merge)
        self.gate.merge_next(action.queue, refuse=refuse)

    # -- what must always hold ---------------------------------------------

    @invariant()
    def window_in_bounds_and_nothing_awaited_unasked(self) -> None:
        self.gate.check()

    def teardown(self) -> None:
        """No more changes come: answer what is pending, in a random order
        and with random outcomes for a while, then let everything pass."""
        if not hasattr(self, "gate"):
            return
        for _ in range(1_000):
            if not self.gate.pending:
                break
            self.answer_at_random(self.rng.choice(self.gate.pending))
        self.gate.settle()
        self.gate.check_done()

    def answer_at_random(self, action: Awaited) -> None:
        gate, rng = self.gate, self.rng
        match action:
            case PrepareMerge():
                gate.prepare(action, conflict=rng.random() < 0.1)
            case StartJob():
                if (action.buildset, action.job) not in gate.started and rng.random() < 0.3:
                    gate.start(action)
                else:
                    gate.finish(action, rng.choice(RESULTS))
            case Merge():
                gate.merge_next(action.queue, refuse=rng.random() < 0.1)


RandomPipeline.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_pipeline = RandomPipeline.TestCase
