"""The scheduler tests' site: opened fresh for each test, closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.scheduler.harness import SchedulerSite


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[SchedulerSite]:
    site = SchedulerSite(tmp_path)
    await site.open()
    yield site
    await site.close()
