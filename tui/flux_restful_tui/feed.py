"""Keep the jobs up to date: the ``/v1/events`` feed, resumed after drops, else polling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import anyio
from textual.message import Message

from flux_restful_client import (
    ApiError,
    AsyncClient,
    FluxRestfulError,
    InvalidRequestError,
    NotFoundError,
    StreamClosedError,
    TransportError,
    UnsupportedByServer,
)

from .messages import ConnectionChanged, JobEventReceived, JobsListed

__all__ = ["FeedSettings", "follow_jobs"]


@dataclass
class FeedSettings:
    """Timings of the feed loop (shortened in tests)."""

    poll_min: float = 1.0
    """First delay between polls, and the delay after a poll that saw changes."""
    poll_max: float = 10.0
    """Longest delay between polls when nothing changes."""
    feed_retry: float = 30.0
    """While polling, how often to check whether the feed came back."""
    reconnect_max: float = 5.0
    """Longest delay between reconnection attempts when the server is down."""
    list_limit: int | None = None
    """Most jobs to list (``None``: all)."""


async def _list(client: AsyncClient, settings: FeedSettings) -> JobsListed:
    if settings.list_limit is None:
        return JobsListed(await client.list_jobs())
    return JobsListed(await client.list_jobs(limit=settings.list_limit))


async def _poll(
    client: AsyncClient,
    post: Callable[[Message], object],
    settings: FeedSettings,
    reason: str,
    *,
    forever: bool = False,
) -> None:
    """Poll with backoff until it is time to try the feed again (never, with ``forever``)."""
    post(ConnectionChanged("polling", reason))
    delay = settings.poll_min
    spent = 0.0
    previous: list[tuple[int, str]] = []
    while forever or spent < settings.feed_retry:
        await anyio.sleep(delay)
        spent += delay
        listed = await _list(client, settings)
        post(listed)
        current = [(job.id, job.state) for job in listed.jobs]
        delay = settings.poll_min if current != previous else min(delay * 1.5, settings.poll_max)
        previous = current


async def follow_jobs(
    client: AsyncClient, post: Callable[[Message], object], settings: FeedSettings | None = None
) -> None:
    """List the jobs, then follow the events feed forever; never raises ``FluxRestfulError``.

    Args:
        client: Connected client.
        post: Where to send ``JobsListed``, ``JobEventReceived`` and ``ConnectionChanged``.
        settings: Timings.
    """
    settings = settings or FeedSettings()
    since: int | None = None
    down_delay = 0.5
    while True:
        try:
            post(await _list(client, settings))
            down_delay = 0.5
            server = await client.server_info()
            if not server.supports("events"):
                # Upstream's server has no feed and never will: poll the listing for good.
                reason = str(UnsupportedByServer("the event feed", str(server)))
                await _poll(client, post, settings, reason, forever=True)
            post(ConnectionChanged("live"))
            try:
                async for event in client.iter_events(since=since):
                    since = event.seq  # the last seen: the server sends what comes after it
                    post(JobEventReceived(event))
            except (NotFoundError, InvalidRequestError) as exc:
                # No feed on this server (upstream's): poll instead.
                await _poll(client, post, settings, f"no event feed ({exc.status_code})")
                continue
            except StreamClosedError as exc:
                post(ConnectionChanged("reconnecting", str(exc)))
            else:
                post(ConnectionChanged("reconnecting", "the server closed the event feed"))
        except TransportError as exc:
            post(ConnectionChanged("reconnecting", str(exc)))
        except ApiError as exc:
            post(ConnectionChanged("reconnecting", f"{exc.status_code}: {exc}"))
        except FluxRestfulError as exc:
            post(ConnectionChanged("reconnecting", str(exc)))
        await anyio.sleep(down_delay)
        down_delay = min(down_delay * 2, settings.reconnect_max)
