"""Upstream's client API, on top of the typed :class:`Client`: JSON in, JSON out.

``FluxRestfulClient`` is what ``get_client()`` returns: every method of upstream's 0.2.1 client
(``submit``, ``jobs``, ``search``, ``cancel``, ``output``, ``stream_output``, ``list_nodes``,
``stop_service``) returns the JSON as the server sent it, refusals included, so scripts written
for upstream run unchanged. It is a :class:`Client`, so the typed methods (``submit_job``,
``wait``, ``iter_lines``...) are there too for scripts that move over one call at a time; the
typed :class:`Client` itself has none of upstream's JSON methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Unpack

from ._client import Client
from ._types import JSON, CommandInput, JobId, SubmitFields

__all__ = ["FluxRestfulClient"]


class FluxRestfulClient(Client):
    """Upstream's ``FluxRestfulClient``: its methods return the server's JSON as it was sent.

    Authentication, permission and server failures raise :class:`ApiError` subclasses; other
    refusals (400, 404...) are returned as their JSON body, as upstream did. See
    :class:`BaseClient` for the arguments.
    """

    def list_nodes(self) -> JSON:
        """List the nodes that are up: ``{"nodes": [...]}``."""
        return self._compat(self._send(self._list_nodes_request()))

    def jobs(self, jobid: JobId | None = None, detail: bool = False, listing: bool = False) -> JSON:
        """List jobs, or return one job's info (``None`` and a notice when it does not exist)."""
        return self._compat(
            self._send(self._jobs_request(jobid, detail, listing)), none_on_404=jobid is not None
        )

    def search(
        self, query: str | None = None, start: int | None = None, length: int | None = None
    ) -> JSON:
        """Search jobs (DataTables shape: ``data``, ``draw``, ``recordsTotal``...)."""
        return self._compat(self._send(self._search_request(query, start, length)))

    def submit(self, command: CommandInput, **kwargs: Unpack[SubmitFields]) -> JSON:
        """Submit a job: ``{"Message": "Job submit.", "id": ...}`` (or the refusal's JSON)."""
        return self._compat(self._submit(command, kwargs))

    def cancel(self, jobid: JobId) -> JSON:
        """Ask for a job to be cancelled: ``{"Message": ..., "id": ...}``."""
        return self._compat(self._send(self._cancel_request(jobid)))

    def output(self, jobid: JobId) -> JSON:
        """A job's output so far: ``{"Output": [...]}`` (or a ``Message`` when there is none)."""
        return self._compat(self._send(self._output_request(jobid)))

    def stream_output(self, jobid: JobId) -> Iterator[str]:
        """Yield a job's output lines (without newlines) as they are written, until it ends."""
        with self._stream(self._output_stream_request(jobid)) as response:
            for line in response.iter_lines():
                if line:
                    yield line

    def stop_service(self) -> JSON:
        """Stop the server (superuser when auth is on)."""
        return self._compat(self._send(self._stop_service_request()))
