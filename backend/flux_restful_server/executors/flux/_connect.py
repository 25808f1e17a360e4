"""Reaching a Flux instance: the bindings, imported lazily, and the reactor thread once started.

The ``flux`` package is imported only here, by :meth:`Connection.open` and
:func:`flux_available`, so the server runs without it when the local executor is chosen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

from ...domain.errors import SubmitRefused
from ...settings import SettingsError
from ._reactor import FluxFuture, Handle, ReactorThread

__all__ = [
    "INSTALL_HINT",
    "Connection",
    "FluxUnavailable",
    "flux_available",
    "quietly",
    "reason",
    "where",
]

T = TypeVar("T")

INSTALL_HINT = (
    "The flux executor needs flux-core's Python bindings and a running Flux instance: install "
    "flux-core (see docs/flux.md), put its site-packages on PYTHONPATH (for example "
    "PYTHONPATH=/opt/flux/lib/python3.11/site-packages), and run the server inside an instance "
    "(`flux start flux-restful serve --executor flux`) or set FLUX_URI to the instance's URI "
    "(`flux uri --local <jobid>`, or `flux getattr local-uri` inside it)."
)


class FluxUnavailable(SettingsError):
    """The flux executor cannot run here: no bindings, or no instance answers. Says what to do."""


def import_flux() -> Any:
    """The ``flux`` package with the submodules the executor uses.

    Raises:
        FluxUnavailable: The bindings do not import (with what to do).
    """
    try:
        import flux
        import flux.job
        import flux.job.journal
        import flux.resource.list
    except ImportError as exc:
        raise FluxUnavailable(
            f"cannot import the flux Python bindings ({exc}). {INSTALL_HINT}"
        ) from None
    return flux


def where() -> str:
    """Which instance the server talks to, for error messages."""
    uri = os.environ.get("FLUX_URI")
    return f"FLUX_URI={uri}" if uri else "the default URI (FLUX_URI is not set)"


def flux_available(timeout: float = 5.0) -> tuple[bool, str]:
    """Whether the flux executor can run here: the bindings import and an instance answers.

    Returns:
        ``(True, description of the instance)`` or ``(False, the reason and what to do)``.
    """
    try:
        flux = import_flux()
    except FluxUnavailable as exc:
        return False, str(exc)
    try:
        handle = flux.Flux()
        future = handle.rpc("job-list.job-stats")
        future.wait_for(timeout)
        future.get()
        size = handle.attr_get("size")
        uri = handle.attr_get("local-uri")
    except (OSError, TimeoutError) as exc:
        return False, f"no Flux instance answers at {where()}: {exc}. {INSTALL_HINT}"
    return True, f"Flux instance {uri} with {size} broker(s)"


class Connection:
    """The bindings and the reactor thread the executor's parts share.

    Args:
        uri: Instance to drive; ``None`` uses ``FLUX_URI`` or the enclosing instance.
    """

    def __init__(self, uri: str | None = None) -> None:
        self.uri = uri
        self.flux: Any = None
        """The ``flux`` package, once :meth:`open` imported it."""
        self.reactor: ReactorThread | None = None
        """The thread with the handle; ``None`` before :meth:`open` and after :meth:`close`."""
        self.stopping = False
        """Set when the server shuts down: new submits are refused."""

    async def open(self) -> ReactorThread:
        """Import the bindings and start the reactor thread.

        Raises:
            FluxUnavailable: No bindings, or no instance answers (with what to do).
        """
        self.flux = import_flux()
        reactor = ReactorThread(self.uri)
        try:
            await asyncio.to_thread(reactor.start, asyncio.get_running_loop())
        except OSError as exc:
            raise FluxUnavailable(
                f"cannot connect to Flux at {where()}: {exc}. {INSTALL_HINT}"
            ) from None
        self.reactor = reactor
        return reactor

    async def close(self) -> None:
        """Stop the reactor thread (once)."""
        reactor, self.reactor = self.reactor, None
        if reactor is not None:
            await asyncio.to_thread(reactor.stop)

    def r(self) -> ReactorThread:
        """The running reactor.

        Raises:
            SubmitRefused: The executor is not running.
        """
        if self.reactor is None:
            raise SubmitRefused("the flux executor is not running")
        return self.reactor

    def request(
        self, begin: Callable[[Handle], FluxFuture], finish: Callable[[FluxFuture], T]
    ) -> asyncio.Future[T]:
        """Start an RPC in the reactor (see :meth:`ReactorThread.request`)."""
        return self.r().request(begin, finish)

    async def lookup(
        self, job_id: int, key: str, *, decode: bool = False, quiet: bool = True
    ) -> Any:
        """One key of a job's KVS directory (``job_info_lookup``); ``None`` when unreadable.

        Args:
            job_id: The job.
            key: ``eventlog``, ``guest.output``, ``jobspec``...
            decode: Decode the value from JSON (``jobspec``); eventlogs stay text.
            quiet: Answer ``None`` when Flux refuses, rather than raise its ``OSError``.
        """
        flux = self.flux
        try:
            found = await self.request(
                lambda h: flux.job.job_info_lookup(h, job_id, keys=[key]),
                lambda f: f.get_decode() if decode else f.get(),
            )
        except OSError:
            if not quiet:
                raise
            return None
        return (found or {}).get(key) if isinstance(found, dict) else None


def quietly(fn: Any) -> None:
    """Call ``fn``, ignoring what it raises (stopping what may have stopped already)."""
    with contextlib.suppress(Exception):
        fn()


def reason(exc: OSError) -> str:
    """What Flux said, without the errno number."""
    return str(exc.strerror or exc)
