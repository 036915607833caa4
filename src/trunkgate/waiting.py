"""Small helpers for components that sleep until something happens: wake an
event whenever a store watch reports a change, wait for the first of
several awaitables, and finish clean-up work whatever cancels come."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wake_on_change(
    changed: Callable[[float | None], Awaitable[bool]], wake: asyncio.Event
) -> None:
    """Set `wake` on every change a watch reports; runs until cancelled."""
    while True:
        if await changed(None):
            wake.set()


async def first_of(*waits: Awaitable[object]) -> None:
    """Return when the first of `waits` is done; cancel the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def to_the_end(work: Awaitable[T]) -> T:
    """`work`'s result, `work` run to its end however often the caller is
    cancelled meanwhile; then the cancel goes on."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    result = task.result()
    if cancelled:
        raise asyncio.CancelledError
    return result
