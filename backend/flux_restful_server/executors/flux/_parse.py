"""Parsers of what Flux answers: eventlogs, ``guest.output`` events and resource lists.

Pure functions over Flux's data (RFC 18 eventlogs, RFC 24 output events, RFC 22 idsets, the
resource module's sets); the executor calls them on the answers its reactor thread gets.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from ...domain.resources import NodeInfo


def parse_ranks(text: Any) -> list[int]:
    """Expand an RFC 22 idset (``"0"``, ``"0-3,5"``) into task ranks."""
    ranks: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            ranks.extend(range(int(low), int(high or low) + 1))
        except ValueError:
            continue
    return ranks or [0]


_LEVELS = {0: "FATAL", 1: "FATAL", 2: "FATAL", 3: "ERROR", 4: "WARN", 6: "DEBUG", 7: "TRACE"}


def output_lines(name: str, context: Mapping[str, Any]) -> list[tuple[str, int, bytes]]:
    """Turn one ``guest.output`` event (RFC 24) into ``(stream, rank, line)`` triples.

    ``data`` events give their lines (split, newlines kept); shell ``log`` events become stderr
    lines as ``flux job attach`` prints them; headers, redirects and EOF markers give nothing.
    """
    if name == "data":
        data = context.get("data")
        if data is None:
            return []
        if context.get("encoding") == "base64":
            raw = base64.b64decode(data)
        else:
            raw = str(data).encode("utf-8", "surrogateescape")
        repeat = context.get("repeat")
        if isinstance(repeat, int) and repeat > 1:
            raw *= repeat
        stream = "stderr" if context.get("stream") == "stderr" else "stdout"
        lines = raw.splitlines(keepends=True)
        return [
            (stream, rank, line) for rank in parse_ranks(context.get("rank", 0)) for line in lines
        ]
    if name == "log":
        level = _LEVELS.get(int(context.get("level", 5)), "")
        prefix = f"flux-shell[{context.get('rank', 0)}]: " + (f"{level}: " if level else "")
        if context.get("component"):
            prefix += f"{context['component']}: "
        text = f"{prefix}{context.get('message', '')}\n".encode("utf-8", "surrogateescape")
        return [("stderr", parse_ranks(context.get("rank", 0))[0], text)]
    return []


def eventlog_entries(text: Any) -> list[dict[str, Any]]:
    """The entries of an eventlog as job-info returns it (one JSON object a line).

    Anything but text gives no entries, and a line that is not JSON is skipped.
    """
    if not isinstance(text, str):
        return []
    out = []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def node_info(resources: Any) -> list[NodeInfo]:
    """One :class:`NodeInfo` per broker rank of a ``resource_list`` answer.

    Args:
        resources: What ``flux.resource.list.resource_list(h).get()`` returns: resource sets
            ``all``, ``free`` and ``up`` (``ranks``, ``copy_ranks()``, ``nodelist``,
            ``ncores``, ``ngpus``).
    """
    every, free, up = resources.all, resources.free, resources.up
    up_ranks = {int(r) for r in up.ranks}
    nodes = []
    for rank in every.ranks:
        mine = every.copy_ranks(str(rank))
        spare = free.copy_ranks(str(rank))
        hosts = list(mine.nodelist)
        nodes.append(
            NodeInfo(
                name=str(hosts[0]) if hosts else f"rank{rank}",
                cores=int(mine.ncores),
                gpus=int(mine.ngpus),
                cores_free=int(spare.ncores),
                gpus_free=int(spare.ngpus),
                up=int(rank) in up_ranks,
            )  # fmt: skip
        )
    return nodes
