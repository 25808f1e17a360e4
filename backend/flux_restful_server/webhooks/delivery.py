"""Sending one delivery attempt, within every limit, and judging its outcome.

The one place the server makes outbound HTTP requests (httpx, as the SDK does). Each attempt
resolves the target itself and checks every address against the allowlist (``policy``), then
connects to the checked address with the ``Host`` header and the TLS server name set to the
URL's host, so certificates are verified against the name and no second DNS lookup can send
the request elsewhere. Redirects are not followed unless ``FLUX_WEBHOOK_REDIRECTS`` allows, and
then each location is checked the same way. The whole attempt (resolving, connecting, sending,
reading at most ``max_response`` bytes of the answer) has one deadline, so a receiver that
hangs or trickles bytes forever ends in a timeout, never a stuck worker.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from .._version import __version__
from .config import WebhookSettings
from .policy import Target, TargetRefused, resolve

__all__ = ["AttemptResult", "Sender", "Transport", "backoff", "classify"]

Transport = httpx.AsyncBaseTransport
"""What :class:`Sender` sends through (tests and benchmarks may pass their own)."""

USER_AGENT = f"flux-restful-webhooks/{__version__}"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt came to."""

    status: int | None
    """The receiver's status code (``None``: no answer)."""
    error: str | None
    """What went wrong, for the delivery log (``None`` for a plain answer)."""
    latency: float
    """Seconds the attempt took."""
    retry_after: float | None = None
    """Seconds the receiver asked us to wait (``Retry-After``), if it did."""
    retryable: bool = True
    """For failures without a status: whether trying again may help."""


RETRY, DONE, GIVE_UP = "retry", "done", "give-up"


def classify(result: AttemptResult) -> str:
    """``done`` (2xx), ``retry`` (no answer, 408, 429, 5xx) or ``give-up`` (anything else)."""
    status = result.status
    if status is None:
        return RETRY if result.retryable else GIVE_UP
    if 200 <= status < 300:
        return DONE  # even when its answer was cut off: the receiver took the delivery
    if status in (408, 429) or status >= 500:
        return RETRY
    return GIVE_UP


def backoff(attempt: int, settings: WebhookSettings, retry_after: float | None) -> float:
    """Seconds before attempt ``attempt + 1``: exponential with jitter, honouring Retry-After."""
    delay = min(settings.backoff_max, settings.backoff * 2.0 ** max(0, attempt - 1))
    delay *= 1 + random.random() * 0.25  # noqa: S311 - jitter, not a secret
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, settings.backoff_max)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from now (a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class Sender:
    """Sends attempts over one pooled httpx client."""

    def __init__(self, settings: WebhookSettings, transport: Transport | None = None) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # never through a proxy the environment names: the check is ours
            timeout=httpx.Timeout(settings.timeout),
            limits=httpx.Limits(
                max_connections=settings.workers * 2, max_keepalive_connections=settings.workers
            ),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        """Make one attempt at POSTing ``body`` to ``url``; never raises for the receiver's sake."""
        started = time.monotonic()
        status: int | None = None
        try:
            async with asyncio.timeout(self.settings.timeout):
                status, note, retry_after = await self._post(url, headers, body)
        except TargetRefused as exc:
            return AttemptResult(
                status, f"refused: {exc}", time.monotonic() - started, retryable=exc.retryable
            )
        except TimeoutError:
            error = f"no complete answer within {self.settings.timeout:g} s"
            return AttemptResult(None, error, time.monotonic() - started)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return AttemptResult(None, error, time.monotonic() - started)
        return AttemptResult(status, note, time.monotonic() - started, retry_after)

    async def _post(
        self, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str | None, float | None]:
        rules = self.settings.allow
        target: Target = await resolve(url, rules)
        hops = 0
        while True:
            request = self.client.build_request(
                "POST",
                target.connect_url,
                content=body,
                headers={
                    **headers,
                    "host": target.host_header,
                    "content-type": "application/json",
                    "user-agent": USER_AGENT,
                },
                extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
            )
            response = await self.client.send(request, stream=True)
            try:
                size = 0
                cut = False
                async for chunk in response.aiter_raw():
                    size += len(chunk)
                    if size > self.settings.max_response:
                        cut = True
                        break
            finally:
                await response.aclose()
            note = (
                f"answer longer than {self.settings.max_response} bytes: the rest was not read"
                if cut
                else None
            )
            location = response.headers.get("location")
            if response.is_redirect and location:
                where = urljoin(target.url, location)
                if hops >= self.settings.redirects:
                    raise TargetRefused(
                        f"answered {response.status_code} redirecting to {where}, which is not "
                        f"followed (FLUX_WEBHOOK_REDIRECTS={self.settings.redirects})",
                        retryable=False,
                    )
                hops += 1
                try:
                    target = await resolve(where, rules)
                except TargetRefused as exc:
                    raise TargetRefused(f"redirect to {where}: {exc}", retryable=False) from None
                continue
            retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
            return response.status_code, note, retry_after
