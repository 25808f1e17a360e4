"""Fixtures of the dashboard tests: a client of the real test server, short feed timings."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from flux_restful_client import AsyncClient
from flux_restful_tui.feed import FeedSettings
from tests.conftest import Server

FAST = FeedSettings(poll_min=0.1, poll_max=0.5, feed_retry=2.0, reconnect_max=0.5)


@pytest.fixture
def utc() -> Iterator[None]:
    """Format times in UTC (snapshots must not depend on the machine's zone)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
async def aclient(server: Server) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(host=server.url, backoff=0.1, attempts=3) as client:
        yield client


async def until(pilot, predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app run until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await pilot.pause(0.05)
