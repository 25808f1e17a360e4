"""Python SDK of the Flux RESTful API.

The typed ``Client`` and ``AsyncClient``; upstream's JSON API as ``FluxRestfulClient`` (what
``get_client()`` returns) and ``AsyncFluxRestfulClient``, built on them.
"""

from __future__ import annotations

from ._async_client import AsyncClient, AsyncWebhooks
from ._async_upstream import AsyncFluxRestfulClient
from ._auth import FluxAuth
from ._base import DEFAULT_TIMEOUT
from ._client import Client, Webhooks
from ._exceptions import (
    ApiError,
    AuthError,
    FluxRestfulError,
    ForbiddenError,
    InsecureTransportError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    StreamClosedError,
    TransportError,
    UnexpectedAnswerError,
    UnsupportedByServer,
    WebhookVerificationError,
)
from ._version import __version__
from ._webhooks import verify_webhook
from .main import FluxRestfulClient, get_client
from .models import (
    BatchEntry,
    BatchResult,
    CancelResult,
    DryRun,
    Event,
    Frame,
    Identity,
    JobEvent,
    JobInfo,
    Node,
    OutputLine,
    PersonalToken,
    ServerInfo,
    SignalResult,
    UrgencyChange,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSecret,
)
from .settings import Settings, SettingsError

__all__ = [
    "ApiError",
    "AsyncClient",
    "AsyncFluxRestfulClient",
    "AsyncWebhooks",
    "AuthError",
    "BatchEntry",
    "BatchResult",
    "CancelResult",
    "Client",
    "DEFAULT_TIMEOUT",
    "DryRun",
    "Event",
    "FluxAuth",
    "FluxRestfulClient",
    "FluxRestfulError",
    "ForbiddenError",
    "Frame",
    "Identity",
    "InsecureTransportError",
    "InvalidRequestError",
    "JobEvent",
    "JobInfo",
    "Node",
    "NotFoundError",
    "OutputLine",
    "PersonalToken",
    "RateLimitedError",
    "ServerError",
    "ServerInfo",
    "Settings",
    "SettingsError",
    "SignalResult",
    "StreamClosedError",
    "TransportError",
    "UnexpectedAnswerError",
    "UnsupportedByServer",
    "UrgencyChange",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSecret",
    "WebhookVerificationError",
    "Webhooks",
    "__version__",
    "get_client",
    "verify_webhook",
]
