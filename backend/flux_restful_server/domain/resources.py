"""What an executor's resources are, and the one check of whether a request can ever fit them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import UnsatisfiableRequest
from .request import JobRequest


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """What the executor's resources can ever satisfy, for validating submissions."""

    nodes: int
    """Number of nodes."""
    cores_per_node: int
    """Cores per node."""
    gpus_per_node: int
    """GPUs per node."""

    def check(self, req: JobRequest) -> None:
        """Refuse a request that can never fit, whatever else is running.

        Both executors call this at submit, so a job that would wait for ever is refused with the
        same reason whichever runs it.

        Raises:
            UnsatisfiableRequest: It cannot fit; the message says what was asked and what there is.
        """
        n, c, g = self.nodes, self.cores_per_node, self.gpus_per_node
        cpt, gpt = req.cores_per_task, req.gpus_per_task
        if req.num_nodes is not None and req.num_nodes > n:
            raise UnsatisfiableRequest(
                f"The server only has {n} nodes, you requested {req.num_nodes}"
            )
        if cpt > c or gpt > g:
            raise UnsatisfiableRequest(
                f"A task needs {cpt} cores and {gpt} GPUs; nodes have {c} cores and {g} GPUs"
            )
        if req.num_nodes is not None:
            per_node = math.ceil(req.num_tasks / req.num_nodes)
            if per_node * cpt > c or per_node * gpt > g:
                raise UnsatisfiableRequest(
                    f"{per_node} tasks per node x {cpt} cores and {gpt} GPUs each do not fit on "
                    f"a node with {c} cores and {g} GPUs"
                )
            return
        per_node = c // cpt
        if gpt:
            per_node = min(per_node, g // gpt)
        if per_node * n < req.num_tasks:
            raise UnsatisfiableRequest(
                f"{req.num_tasks} tasks of {cpt} cores and {gpt} GPUs need more than the {n} "
                f"nodes x {c} cores x {g} GPUs of this server"
            )


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node and its resources."""

    name: str
    """Hostname."""
    cores: int
    """Cores on the node."""
    gpus: int
    """GPUs on the node."""
    cores_free: int
    """Cores not allocated to a job."""
    gpus_free: int
    """GPUs not allocated to a job."""
    up: bool = True
    """Whether the node is up (only nodes that are up are listed by ``/v1/nodes``)."""
