"""A thread that owns a Flux handle and runs its reactor, bridged to asyncio.

Flux handles are not thread-safe and their futures complete from the reactor, so one dedicated
thread opens its own handle and runs the reactor forever. The event loop hands it work through a
queue and a wake-up pipe (an fd watcher in the reactor); every RPC is started asynchronously in the
reactor thread and its result is posted back to the event loop. Nothing ever blocks the event loop,
and many requests (submits, lookups) are in flight in Flux at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("flux_restful.flux")

T = TypeVar("T")

Handle = Any
"""A ``flux.Flux`` handle (the bindings ship no type information)."""
FluxFuture = Any
"""A ``flux.future.Future`` (or a subclass)."""


class ReactorThread:
    """Runs a Flux reactor in its own thread; see the module docstring.

    Args:
        uri: The instance to connect to; ``None`` uses ``FLUX_URI`` (or the enclosing instance).
    """

    def __init__(self, uri: str | None = None) -> None:
        self.uri = uri
        self._queue: deque[Callable[[Handle], None]] = deque()
        self._woken = False
        self._results: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._results_posted = False
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="flux-reactor", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the handle in the thread and start the reactor (blocks briefly).

        Raises:
            OSError: The instance could not be reached.
        """
        self.loop = loop
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._close_pipe()
            raise self._error

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the reactor and close the handle."""
        if not self._thread.is_alive():
            self._close_pipe()
            return
        self._stopping = True
        self.call(lambda h: h.reactor_stop())
        self._thread.join(timeout)
        self._close_pipe()

    def _close_pipe(self) -> None:
        for fd in (self._rfd, self._wfd):
            if fd >= 0:
                os.close(fd)
        self._rfd = self._wfd = -1

    def _run(self) -> None:
        try:
            import flux
            import flux.constants

            handle = flux.Flux(self.uri) if self.uri else flux.Flux()
            watcher = handle.fd_watcher_create(
                self._rfd, self._on_wake, events=flux.constants.FLUX_POLLIN
            )
            watcher.start()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        while not self._stopping:
            try:
                handle.reactor_run()
            except Exception:
                # A callback raised: the bindings stop the reactor. Log and keep serving.
                log.exception("error in a Flux reactor callback")
        watcher.stop()

    # -- work from the event loop ------------------------------------------------------------------
    def call(self, fn: Callable[[Handle], None]) -> None:
        """Run ``fn(handle)`` in the reactor thread (soon; never blocks)."""
        self._queue.append(fn)
        if not self._woken and self._wfd >= 0:
            self._woken = True  # one wake-up byte per batch of calls
            try:
                os.write(self._wfd, b"x")
            except BlockingIOError:
                pass  # the pipe is full of wake-ups already

    def _on_wake(self, handle: Handle, *_: Any) -> None:
        try:
            os.read(self._rfd, 4096)
        except BlockingIOError:
            pass
        self._woken = False
        while self._queue:
            fn = self._queue.popleft()
            try:
                fn(handle)
            except Exception:
                log.exception("error starting a Flux request")

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        """From the reactor thread: run ``fn(*args)`` on the event loop (in order, batched)."""
        self._results.append((fn, args))
        if self._results_posted:
            return
        loop = self.loop
        if loop is not None and not loop.is_closed():
            self._results_posted = True
            try:
                loop.call_soon_threadsafe(self._drain_results)
            except RuntimeError:
                pass  # the loop closed meanwhile

    def _drain_results(self) -> None:
        self._results_posted = False
        while self._results:
            fn, args = self._results.popleft()
            try:
                fn(*args)
            except Exception:
                log.exception("error handling a Flux result")

    def request(
        self, begin: Callable[[Handle], FluxFuture], finish: Callable[[FluxFuture], T]
    ) -> asyncio.Future[T]:
        """Start an RPC in the reactor and return an asyncio future of its result.

        Args:
            begin: Called in the reactor thread with the handle; returns a Flux future.
            finish: Called in the reactor thread once that future is fulfilled; its return
                value (or exception) becomes the asyncio future's.
        """
        assert self.loop is not None
        result: asyncio.Future[T] = self.loop.create_future()

        def deliver(value: Any, error: BaseException | None) -> None:
            if result.done():
                return
            if error is not None:
                result.set_exception(error)
            else:
                result.set_result(value)

        def on_done(fut: FluxFuture) -> None:
            try:
                value = finish(fut)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                self.post(deliver, None, exc)
            else:
                self.post(deliver, value, None)

        def run(handle: Handle) -> None:
            try:
                begin(handle).then(on_done)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                self.post(deliver, None, exc)

        self.call(run)
        return result
