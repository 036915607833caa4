"""Leading one at a time: act only while holding a lock in the store, stop
as soon as it is lost, and wait to hold it again. Knows nothing of what the
leader does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from trunkgate.store import Store, StoreError
from trunkgate.waiting import first_of

log = logging.getLogger(__name__)

#: The pause before trying again when the store failed.
STORE_RETRY_S = 1.0

#: Acts as the leader until done or until the event it is given (the lock
#: lost) is set.
Lead = Callable[[asyncio.Event], Awaitable[None]]


async def lead_while_held(
    store: Store, path: str, identity: str, stop: asyncio.Event, lead: Lead
) -> None:
    """Run `lead` each time the lock at `path` is held, until `stop` is set."""
    # Lead while holding the leader lock; a standby waits for it. If the
    # lock is lost (our session ended), stop acting and wait for it again.
    while not stop.is_set():
        lock = store.lock(path, identity=identity, timeout=None)
        acquiring = asyncio.ensure_future(lock.acquire())
        await first_of(asyncio.shield(acquiring), stop.wait())
        if not acquiring.done():
            acquiring.cancel()
            await asyncio.gather(acquiring, return_exceptions=True)
            return
        try:
            held = acquiring.result()
        except StoreError as exc:
            log.warning("cannot take the lock %s now: %s", path, exc)
            await pause(stop)
            continue
        try:
            await lead(held.lost)
        except StoreError as exc:
            # Cut off from the store: whoever holds the lock once it answers leads.
            log.warning("stopped leading (%s): %s", path, exc)
            await pause(stop)
        finally:
            with contextlib.suppress(Exception):
                await lock.release()


async def pause(stop: asyncio.Event) -> None:
    """After the store failed: STORE_RETRY_S, or less if `stop` comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), STORE_RETRY_S)
