"""The server's link to the job supervisor: connect, handshake, read notifications, reconnect.

The supervisor (``supervisor.py``) names the jobs whose logs grew, one id a line; the link hands
those names to the executor and carries its ``run`` and ``cancel`` requests the other way. Any
end of the connection means the supervisor is gone: the link reports itself unready (submits
answer 503 with the reason), starts a new supervisor whenever none listens, retries with a
growing pause for ever, and tells the executor once it is connected again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ...domain.errors import ExecutorUnavailable
from ...settings import SettingsError
from .launch import socket_address, spawn_supervisor

log = logging.getLogger("flux_restful.local")

CONNECT_TIMEOUT = 15.0
"""Seconds to wait for a supervisor to answer before giving up (at start-up: refusing to start)."""

HANDSHAKE_TIMEOUT = 5.0
"""Seconds a supervisor that accepted a connection has to answer ``hello``."""


class SupervisorLink:
    """One connection to the state dir's supervisor, kept up for the executor's whole life.

    Args:
        state_dir: The state dir whose supervisor to talk to (its socket is named after it).
        on_named: Called with the job ids the supervisor named (bytes, one id a line).
        on_reconnected: Called after the link came back from a lost supervisor.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        on_named: Callable[[bytes], None],
        on_reconnected: Callable[[], None],
    ) -> None:
        self.state_dir = state_dir
        self._on_named = on_named
        self._on_reconnected = on_reconnected
        self._writer: asyncio.StreamWriter | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._cancels: set[int] = set()
        self.closing = False
        """Set when the executor stops: a connection that ends then is not replaced."""
        self.unready: str | None = "the executor has not started"
        """``None`` while a supervisor answers; otherwise why jobs cannot be run."""

    async def open(self) -> None:
        """Connect at start-up, starting a supervisor if none is running, and start reading.

        Raises:
            SettingsError: No supervisor answered within :data:`CONNECT_TIMEOUT` seconds.
        """
        try:
            reader = await self._connect(time.monotonic() + CONNECT_TIMEOUT)
        except ExecutorUnavailable as exc:
            raise SettingsError(str(exc)) from None
        self._reader = asyncio.get_running_loop().create_task(self._supervise(reader))

    async def close(self) -> None:
        """Stop reading and close the connection; the supervisor keeps running the jobs."""
        self.closing = True
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def send(self, message: dict[str, Any]) -> bool:
        """Send one request; ``False`` when no supervisor is connected.

        Written at once, not gathered for the end of the loop's turn: a job's start waits on
        this message, and a turn that ingests several finished jobs would hold the first one's
        successor back until the last was stored (0.4 ms of a 6 ms job cycle, in a batch of
        ``true`` jobs). The transport sends what it can and buffers the rest.
        """
        if self._writer is None or self._writer.is_closing():
            return False
        self._writer.write(orjson.dumps(message) + b"\n")
        return True

    def cancel(self, job_id: int) -> None:
        """Ask the supervisor to cancel a running job, now or as soon as one is connected."""
        if not self.send({"op": "cancel", "id": job_id}):
            self._cancels.add(job_id)

    def reap(self) -> None:
        """Collect the exit status of a supervisor this server started, if it has exited."""
        if self._proc is not None:
            self._proc.poll()

    async def _connect(self, deadline: float) -> asyncio.StreamReader:
        """Connect to a supervisor that answers, spawning one whenever none listens.

        A connection is only taken once the supervisor answers a ``hello``: a supervisor that
        is being killed can still accept a connection (its listening socket outlives its other
        descriptors for a moment), and would reset it at once.

        Raises:
            ExecutorUnavailable: None answered before ``deadline`` (monotonic seconds).
        """
        address = socket_address(str(self.state_dir))
        loop = asyncio.get_running_loop()
        why = "no supervisor answered"
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            sock.setblocking(False)
            try:
                # Abstract addresses go through a plain socket: uvloop takes only paths.
                await loop.sock_connect(sock, address)
            except (ConnectionRefusedError, FileNotFoundError):
                sock.close()
                proc = self._proc
                # Start one unless the one we started is still starting (or still dying); one
                # that found the address taken by a dying supervisor has exited: start again.
                if proc is None or proc.poll() is not None:
                    self._proc = spawn_supervisor(str(self.state_dir))
            except OSError as exc:
                sock.close()
                why = exc.strerror or str(exc)
            else:
                reader, writer = await asyncio.open_unix_connection(sock=sock)
                try:
                    early = await self._handshake(reader, writer)
                except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError) as exc:
                    writer.close()
                    why = f"a supervisor accepted but did not answer ({exc or type(exc).__name__})"
                else:
                    self._writer = writer
                    self.unready = None
                    for job_id in self._cancels:
                        self.send({"op": "cancel", "id": job_id})
                    self._cancels.clear()
                    self._on_named(early)
                    return reader
            if time.monotonic() > deadline:
                raise ExecutorUnavailable(
                    f"the job supervisor did not start ({why}); see {self.state_dir}/supervisor.log"
                )
            await asyncio.sleep(0.02)

    @staticmethod
    async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        """Say hello and wait for ``ready``; return the job ids named before it."""
        writer.write(b'{"op":"hello"}\n')
        await writer.drain()
        early = b""
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            while True:
                line = await reader.readline()
                if not line.endswith(b"\n"):
                    raise EOFError("connection closed")
                if line.startswith(b"ready"):
                    return early
                early += line  # a job named before our hello was read

    async def _supervise(self, reader: asyncio.StreamReader) -> None:
        """Read the supervisor's notifications; when it goes away, reconnect, for ever.

        Every way a connection can end (EOF, reset, any other error) means "the supervisor is
        gone". While none is reachable the executor is not ready: submits are refused (503).
        """
        while True:
            try:
                await self._read(reader)
                why = "it closed the connection"
            except asyncio.CancelledError:
                raise
            except OSError as exc:
                why = exc.strerror or type(exc).__name__
            except Exception as exc:  # never let the reconnect path die silently
                log.exception("reading from the job supervisor failed")
                why = str(exc) or type(exc).__name__
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            if self.closing:
                return
            self.unready = f"the job supervisor went away ({why}); a new one is starting"
            log.warning("the job supervisor went away (%s); starting a new one", why)
            reader = await self._reconnect()
            log.info("connected to a job supervisor again")
            self._on_reconnected()

    async def _reconnect(self) -> asyncio.StreamReader:
        """Connect again, retrying (with a growing pause) until it works."""
        pause = 0.1
        while True:
            try:
                return await self._connect(time.monotonic() + CONNECT_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.unready = str(exc)
                log.error("%s; trying again in %.1f s", exc, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Hand over the job ids the supervisor names, until the connection ends."""
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            while not data.endswith(b"\n"):
                more = await reader.read(1 << 16)
                if not more:
                    return
                data += more
            if self.closing:
                return
            self._on_named(data)
