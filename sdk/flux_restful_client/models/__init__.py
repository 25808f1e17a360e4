"""Typed views of the API's JSON: job info, stream frames, events, nodes, the server.

Every model keeps the JSON it was built from in ``raw``, so nothing the server sends is lost.

One private module per resource: ``_job`` (a job, its eventlog and nodes, the answers of job
control and submits), ``_stream`` (frames, output lines, the event feed), ``_server_info`` (the
server, who the client is on it, personal tokens), ``_webhook`` (subscriptions and deliveries).
Import them from here.
"""

from __future__ import annotations

from ._job import (
    TERMINAL_STATE,
    BatchEntry,
    BatchResult,
    CancelResult,
    DryRun,
    JobEvent,
    JobInfo,
    Node,
    SignalResult,
    UrgencyChange,
)
from ._server_info import (
    FEATURES,
    OURS,
    UPSTREAM,
    Identity,
    PersonalToken,
    ServerInfo,
)
from ._stream import (
    Event,
    Frame,
    OutputLine,
)
from ._webhook import (
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSecret,
)

__all__ = [
    "BatchEntry",
    "BatchResult",
    "CancelResult",
    "DryRun",
    "Event",
    "FEATURES",
    "Frame",
    "Identity",
    "JobEvent",
    "JobInfo",
    "Node",
    "OURS",
    "OutputLine",
    "PersonalToken",
    "ServerInfo",
    "SignalResult",
    "TERMINAL_STATE",
    "UPSTREAM",
    "UrgencyChange",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSecret",
]
