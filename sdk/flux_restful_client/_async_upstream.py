"""Upstream's client API on the asynchronous client: :class:`AsyncFluxRestfulClient`.

The same methods as :class:`FluxRestfulClient`, awaited, on top of :class:`AsyncClient`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Unpack

from ._async_client import AsyncClient
from ._types import JSON, CommandInput, JobId, SubmitFields

__all__ = ["AsyncFluxRestfulClient"]


class AsyncFluxRestfulClient(AsyncClient):
    """Upstream's methods, awaited: the server's JSON as it was sent (see ``FluxRestfulClient``)."""

    async def list_nodes(self) -> JSON:
        """List the nodes that are up: ``{"nodes": [...]}``."""
        return self._compat(await self._send(self._list_nodes_request()))

    async def jobs(
        self, jobid: JobId | None = None, detail: bool = False, listing: bool = False
    ) -> JSON:
        """List jobs, or return one job's info (``None`` and a notice when it does not exist)."""
        return self._compat(
            await self._send(self._jobs_request(jobid, detail, listing)),
            none_on_404=jobid is not None,
        )

    async def search(
        self, query: str | None = None, start: int | None = None, length: int | None = None
    ) -> JSON:
        """Search jobs (DataTables shape: ``data``, ``draw``, ``recordsTotal``...)."""
        return self._compat(await self._send(self._search_request(query, start, length)))

    async def submit(self, command: CommandInput, **kwargs: Unpack[SubmitFields]) -> JSON:
        """Submit a job: ``{"Message": "Job submit.", "id": ...}`` (or the refusal's JSON)."""
        return self._compat(await self._submit(command, kwargs))

    async def cancel(self, jobid: JobId) -> JSON:
        """Ask for a job to be cancelled: ``{"Message": ..., "id": ...}``."""
        return self._compat(await self._send(self._cancel_request(jobid)))

    async def output(self, jobid: JobId) -> JSON:
        """A job's output so far: ``{"Output": [...]}`` (or a ``Message`` when there is none)."""
        return self._compat(await self._send(self._output_request(jobid)))

    async def stream_output(self, jobid: JobId) -> AsyncIterator[str]:
        """Yield a job's output lines (without newlines) as they are written, until it ends."""
        async with self._stream(self._output_stream_request(jobid)) as response:
            async for line in response.aiter_lines():
                if line:
                    yield line

    async def stop_service(self) -> JSON:
        """Stop the server (superuser when auth is on)."""
        return self._compat(await self._send(self._stop_service_request()))
