"""Pipelines shared among the schedulers that run. Each pipeline is kept by
one scheduler at a time, the holder of its keeper lock; every scheduler
waits in line for every pipeline, so when a holder dies (its session ends)
the next in line keeps the pipeline within the session timeout. A scheduler
keeping more than its fair share lets go of pipelines whose next in line
keeps less than its own, so that the pipelines spread over the schedulers
that run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence

from trunkgate.scheduler import layout
from trunkgate.scheduler.leadership import lead_while_held, pause
from trunkgate.store import Store, StoreError
from trunkgate.store.locking import contenders
from trunkgate.store.paths import join
from trunkgate.waiting import first_of, wake_on_change

log = logging.getLogger(__name__)


def fair_share(pipelines: int, schedulers: int) -> int:
    """How many pipelines one of `schedulers` keeps at most."""
    return -(-pipelines // max(1, schedulers))


def to_let_go(
    held: Sequence[str], share: int, next_in_line: Mapping[str, str], holding: Mapping[str, int]
) -> list[str]:
    """Which of the pipelines kept to let go to keep no more than `share`:
    only those whose next in line (`next_in_line`, by pipeline) keeps fewer
    than `share` (`holding`, by scheduler), so none is left unkept and none
    passed on to be let go again."""
    extra = len(held) - share
    counts = Counter(holding)
    chosen: list[str] = []
    for name in sorted(held):
        if len(chosen) >= extra:
            break
        taker = next_in_line.get(name)
        if taker is not None and counts[taker] < share:
            counts[taker] += 1
            chosen.append(name)
    return chosen


class Keeping:
    """Which pipelines this scheduler keeps. `kept(name)` is told when one is
    taken; `dropped(name)` is awaited before one is let go or after it was
    lost, and must stop every act on it."""

    def __init__(
        self,
        store: Store,
        identity: str,
        names: Sequence[str],
        *,
        kept: Callable[[str], None],
        dropped: Callable[[str], Awaitable[None]],
    ) -> None:
        self.store = store
        self.identity = identity
        self.names = list(names)
        self.kept = kept
        self.dropped = dropped
        self.held: set[str] = set()
        self._let_go: dict[str, asyncio.Event] = {}
        self._look = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Wait in line for every pipeline, keep those held, until `stop`."""
        for name in self.names:
            await self.store.ensure_path(layout.keeper(name))

        def hold(name: str) -> Callable[[asyncio.Event], Awaitable[None]]:
            return lambda lost: self._hold(name, stop, lost)

        await asyncio.gather(
            self._balance(stop),
            *(
                lead_while_held(self.store, layout.keeper(n), self.identity, stop, hold(n))
                for n in self.names
            ),
        )

    async def _hold(self, name: str, stop: asyncio.Event, lost: asyncio.Event) -> None:
        let_go = self._let_go[name] = asyncio.Event()
        self.held.add(name)
        log.info("scheduler: keeps pipeline %s", name)
        self.kept(name)
        self._look.set()
        try:
            await first_of(stop.wait(), lost.wait(), let_go.wait())
        finally:
            self.held.discard(name)
            self._let_go.pop(name, None)
            await self.dropped(name)
            if lost.is_set():
                log.warning("scheduler: lost pipeline %s", name)
            elif let_go.is_set():
                log.info("scheduler: let another scheduler keep pipeline %s", name)

    async def _balance(self, stop: asyncio.Event) -> None:
        """Let go of pipelines beyond the fair share whenever the lines change."""
        async with contextlib.AsyncExitStack() as stack:
            watches = [
                await stack.enter_async_context(self.store.watch(layout.keeper(n)))
                for n in self.names
            ]
            waiters = [
                asyncio.ensure_future(wake_on_change(w.changed, self._look)) for w in watches
            ]
            try:
                while not stop.is_set():
                    self._look.clear()
                    try:
                        await self._even_out()
                    except StoreError as exc:
                        log.warning("scheduler: cannot see the other schedulers: %s", exc)
                        await pause(stop)
                        continue
                    await first_of(self._look.wait(), stop.wait())
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)

    async def _even_out(self) -> None:
        seen = {self.identity}
        holding: Counter[str] = Counter()
        next_in_line: dict[str, str] = {}
        for name in self.names:
            line = [
                identity
                for contender in await contenders(self.store, layout.keeper(name))
                if (identity := await self._identity(name, contender)) is not None
            ]
            seen.update(line)
            if line:
                holding[line[0]] += 1
            if len(line) > 1:
                next_in_line[name] = line[1]
        share = fair_share(len(self.names), len(seen))
        for name in to_let_go(sorted(self.held), share, next_in_line, holding):
            event = self._let_go.get(name)
            if event is not None:
                event.set()

    async def _identity(self, name: str, contender: str) -> str | None:
        record = await self.store.get(join(layout.keeper(name), contender))
        value = record.value if record is not None else None
        identity = value.get("identity") if isinstance(value, dict) else None
        return identity if isinstance(identity, str) else None
