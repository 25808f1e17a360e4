"""The local executor's resource model: N nodes x C cores x G GPUs, and first-fit allocation."""

from __future__ import annotations

import math
import re
import socket
from dataclasses import dataclass, field

from ...domain.request import JobRequest
from ...domain.resources import NodeInfo, ResourceLimits


@dataclass(slots=True)
class Allocation:
    """What one job holds: cores and GPUs per node index, and each task rank's node."""

    cores: dict[int, int]
    gpus: dict[int, int]
    ranks_nodes: list[int]
    exclusive: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "cores": {str(k): v for k, v in self.cores.items()},
            "gpus": {str(k): v for k, v in self.gpus.items()},
            "ranks_nodes": self.ranks_nodes,
            "exclusive": self.exclusive,
        }

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> Allocation:
        cores = obj["cores"]
        gpus = obj["gpus"]
        assert isinstance(cores, dict) and isinstance(gpus, dict)
        ranks = obj["ranks_nodes"]
        assert isinstance(ranks, list)
        return cls(
            {int(k): int(v) for k, v in cores.items()},
            {int(k): int(v) for k, v in gpus.items()},
            [int(r) for r in ranks],
            bool(obj.get("exclusive")),
        )

    @property
    def nodes(self) -> list[int]:
        return sorted(self.cores)


@dataclass(slots=True)
class Cluster:
    """Free and total resources of the emulated nodes."""

    nodes: int
    cores_per_node: int
    gpus_per_node: int
    names: list[str] = field(default_factory=list)
    free_cores: list[int] = field(default_factory=list)
    free_gpus: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.names:
            host = socket.gethostname().split(".")[0] or "localhost"
            self.names = [host] if self.nodes == 1 else [f"{host}{i}" for i in range(self.nodes)]
        self.free_cores = [self.cores_per_node] * self.nodes
        self.free_gpus = [self.gpus_per_node] * self.nodes

    def limits(self) -> ResourceLimits:
        return ResourceLimits(self.nodes, self.cores_per_node, self.gpus_per_node)

    def try_allocate(self, req: JobRequest) -> Allocation | None:
        """Allocate first-fit, or return ``None`` when the request does not fit right now."""
        cpt, gpt = req.cores_per_task, req.gpus_per_task
        if req.num_nodes is not None:
            per_node = math.ceil(req.num_tasks / req.num_nodes)
            chosen = []
            for i in range(self.nodes):
                if req.exclusive:
                    ok = (
                        self.free_cores[i] == self.cores_per_node
                        and self.free_gpus[i] == self.gpus_per_node
                    )
                else:
                    ok = (
                        self.free_cores[i] >= per_node * cpt and self.free_gpus[i] >= per_node * gpt
                    )
                if ok:
                    chosen.append(i)
                    if len(chosen) == req.num_nodes:
                        break
            if len(chosen) < req.num_nodes:
                return None
            ranks: list[int] = []
            remaining = req.num_tasks
            for n, node in enumerate(chosen):
                share = math.ceil(remaining / (len(chosen) - n))
                ranks += [node] * share
                remaining -= share
            cores = {
                node: (self.cores_per_node if req.exclusive else ranks.count(node) * cpt)
                for node in chosen
            }
            gpus = {
                node: (self.gpus_per_node if req.exclusive else ranks.count(node) * gpt)
                for node in chosen
            }
            alloc = Allocation(cores, gpus, ranks, req.exclusive)
        else:
            ranks = []
            cores = {}
            gpus = {}
            free_c = list(self.free_cores)
            free_g = list(self.free_gpus)
            for node in range(self.nodes):
                while len(ranks) < req.num_tasks and free_c[node] >= cpt and free_g[node] >= gpt:
                    free_c[node] -= cpt
                    free_g[node] -= gpt
                    ranks.append(node)
                    cores[node] = cores.get(node, 0) + cpt
                    gpus[node] = gpus.get(node, 0) + gpt
            if len(ranks) < req.num_tasks:
                return None
            alloc = Allocation(cores, gpus, ranks)
        self.take(alloc)
        return alloc

    def take(self, alloc: Allocation) -> None:
        for node, n in alloc.cores.items():
            self.free_cores[node] -= n
        for node, n in alloc.gpus.items():
            self.free_gpus[node] -= n

    def release(self, alloc: Allocation) -> None:
        for node, n in alloc.cores.items():
            self.free_cores[node] += n
        for node, n in alloc.gpus.items():
            self.free_gpus[node] += n

    def node_info(self) -> list[NodeInfo]:
        return [
            NodeInfo(
                self.names[i],
                self.cores_per_node,
                self.gpus_per_node,
                self.free_cores[i],
                self.free_gpus[i],
            )
            for i in range(self.nodes)
        ]


def idset(values: list[int]) -> str:
    """Format integers as a Flux idset (``0-3,5``)."""
    out: list[str] = []
    items = sorted(set(values))
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(str(items[i]) if i == j else f"{items[i]}-{items[j]}")
        i = j + 1
    return ",".join(out)


def hostlist(names: list[str]) -> str:
    """Compress host names as Flux does (``node[0-3],login``)."""
    groups: dict[str, list[int]] = {}
    plain: list[str] = []
    for name in names:
        m = re.fullmatch(r"(.*?)(\d+)", name)
        if m:
            groups.setdefault(m.group(1), []).append(int(m.group(2)))
        else:
            plain.append(name)
    out = []
    for prefix, nums in groups.items():
        out.append(f"{prefix}{nums[0]}" if len(nums) == 1 else f"{prefix}[{idset(nums)}]")
    return ",".join(out + plain)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def shortfall(cluster: Cluster, req: JobRequest) -> str | None:
    """Why ``req`` does not fit right now, in plain words; ``None`` when it fits.

    For the pending reason of a queued job: ``waiting for 4 cores (2 free of 8)``.
    """
    alloc = cluster.try_allocate(req)
    if alloc is not None:
        cluster.release(alloc)
        return None
    total_cores = cluster.nodes * cluster.cores_per_node
    free_cores = sum(cluster.free_cores)
    if req.num_nodes is not None:
        if req.exclusive:
            idle = sum(
                1
                for i in range(cluster.nodes)
                if cluster.free_cores[i] == cluster.cores_per_node
                and cluster.free_gpus[i] == cluster.gpus_per_node
            )
            nodes = _plural(req.num_nodes, "whole node")
            return f"waiting for {nodes} ({idle} idle of {cluster.nodes})"
        per_node = math.ceil(req.num_tasks / req.num_nodes)
        cores, gpus = per_node * req.cores_per_task, per_node * req.gpus_per_task
        roomy = sum(
            1
            for i in range(cluster.nodes)
            if cluster.free_cores[i] >= cores and cluster.free_gpus[i] >= gpus
        )
        what = _plural(cores, "free core") + (f" and {_plural(gpus, 'GPU')}" if gpus else "")
        return (
            f"waiting for {_plural(req.num_nodes, 'node')} with {what} each "
            f"({roomy} such of {cluster.nodes})"
        )
    cores = req.num_tasks * req.cores_per_task
    parts = []
    if cores > free_cores:
        parts.append(f"{_plural(cores, 'core')} ({free_cores} free of {total_cores})")
    gpus = req.num_tasks * req.gpus_per_task
    free_gpus = sum(cluster.free_gpus)
    if gpus > free_gpus:
        parts.append(
            f"{_plural(gpus, 'GPU')} ({free_gpus} free of {cluster.nodes * cluster.gpus_per_node})"
        )
    if parts:
        return "waiting for " + " and ".join(parts)
    # Enough in total, but no node has room for a whole task.
    return (
        f"waiting for room for {_plural(req.num_tasks, 'task')} of "
        f"{_plural(req.cores_per_task, 'core')} ({free_cores} cores free of {total_cores}, "
        "but not a task's worth on enough nodes)"
    )
