"""A bare Sanic websocket server sending pre-encoded stream frames: the streams' baseline.

Run as ``python -m bench._bare_ws <port> <lines>``. It encodes ``lines`` output frames of the
benchmark job's shape (``line <i>\\n``) once, before any client connects, then serves (the
first two with at most :data:`ADAPTER_LINES` of them):

* ``/send``: one ``ws.send()`` per frame (Sanic's public API);
* ``/fast``: the frames in slices, each slice one write through the streams' adapter
  (:func:`flux_restful_server.streams.sanic_ws.write_frames`), as the server sends them;
* ``/batch``: the frames as ``{"type": "batch"}`` frames of the server's size, one
  ``ws.send()`` each.

Every route ends with the job's ``end`` frame and closes, like a finished job's stream. What this
measures is Sanic and the socket with no per-line work at all: what a stream could reach.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from sanic import Request, Sanic
from sanic.response import text

from flux_restful_server.domain.events import OutputLine
from flux_restful_server.streams import sanic_ws
from flux_restful_server.streams.frames import encode
from flux_restful_server.streams.wire import TEXT, WS, batch_frames, encode_output, wire

SLICE = 2048
"""Frames per write on ``/fast`` (about what one ingested slice of short lines holds)."""
ADAPTER_LINES = 200_000
"""Lines sent one frame each by ``/send`` and ``/fast`` (at most)."""


def main() -> None:
    """Encode the frames, then serve until stopped."""
    port, lines = int(sys.argv[1]), int(sys.argv[2])
    now = time.time()
    entries = [
        OutputLine(1, seq, now, "stdout", 0, b"line %d\n" % (seq - 1))
        for seq in range(1, lines + 1)
    ]
    singles = [wire(encode_output(line), line.seq) for line in entries]
    grouped = batch_frames([f[TEXT] for f in singles], [line.seq for line in entries])
    batches = [frame[TEXT].decode() for frame in grouped]
    # The one-frame-per-line routes compare the adapter with ws.send(): fewer lines do.
    singles = singles[:ADAPTER_LINES]
    texts = [frame[TEXT].decode() for frame in singles]
    slices = [
        b"".join([f[WS] for f in singles[i : i + SLICE]]) for i in range(0, len(singles), SLICE)
    ]
    del entries
    end = encode({"seq": lines + 1, "type": "end", "state": "INACTIVE", "result": "COMPLETED"})
    end_single = encode(
        {"seq": len(singles) + 1, "type": "end", "state": "INACTIVE", "result": "COMPLETED"}
    )
    app = Sanic("bare_ws")
    app.config.WEBSOCKET_MAX_SIZE = 1 << 30

    @app.get("/ready")
    async def ready(request: Request) -> Any:
        return text("ok")

    async def send(request: Request, ws: Any) -> None:
        for message in texts:
            await ws.send(message)
        await ws.send(end_single)
        await ws.close()

    async def fast(request: Request, ws: Any) -> None:
        for data in slices:
            await sanic_ws.write_frames(ws, data)
        await ws.send(end_single)
        await ws.close()

    async def batch(request: Request, ws: Any) -> None:
        for message in batches:
            await ws.send(message)
        await ws.send(end)
        await ws.close()

    for handler in (send, fast, batch):  # the decorator form is untyped
        app.add_websocket_route(handler, f"/{handler.__name__}")

    app.run(host="127.0.0.1", port=port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
