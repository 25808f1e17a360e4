"""The scheduler: which queued jobs start now, given the free resources.

Strict first come, first served by (priority, id): nothing overtakes the head of the queue, so a
wide job is never starved; a held job (priority 0, urgency 0 as in Flux) sorts last and holds
nobody back. Pure: it reads the queue and allocates on the cluster model, nothing else.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator

from ...domain.request import JobRequest
from .resources import Allocation, Cluster


class JobQueue:
    """Jobs waiting for resources: a heap of ``(-priority, id)``, cleaned lazily."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, job_id: int, priority: int) -> None:
        """Queue a job that now waits for resources."""
        heapq.heappush(self._heap, (-priority, job_id))

    def starts(
        self,
        cluster: Cluster,
        priority_of: Callable[[int], int | None],
        request_of: Callable[[int], JobRequest],
    ) -> Iterator[tuple[int, JobRequest, Allocation]]:
        """Yield the jobs that start now, head of the queue first, each with its allocation.

        Each allocation is taken on ``cluster`` before it is yielded, so the next pick sees the
        resources that are left; the caller starts each job before asking for the next.

        Args:
            cluster: Free resources; allocated from.
            priority_of: A queued job's current priority, or ``None`` when it no longer waits
                (cancelled, or started): its entry is dropped, as is one with an old priority.
            request_of: What a job asks for (read only for the head of the queue).
        """
        heap = self._heap
        while heap:
            negative, job_id = heap[0]
            priority = priority_of(job_id)
            if priority is None or priority != -negative:
                heapq.heappop(heap)  # cancelled, already started, or queued again (new priority)
                continue
            if priority == 0:
                return  # held (urgency 0), as in Flux; held jobs sort last
            request = request_of(job_id)
            alloc = cluster.try_allocate(request)
            if alloc is None:
                return  # first come, first served: nothing overtakes the head of the queue
            heapq.heappop(heap)
            yield job_id, request, alloc
