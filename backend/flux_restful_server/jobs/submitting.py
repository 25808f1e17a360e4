"""The submit path behind the routes: one job, a batch, or a Flux jobspec.

Each answers in its route's shape (docs/api.md "Submit"): a single submit keeps upstream's
``{"Message", "id"}``; a batch answers one result per entry, in order; any of them can be a dry
run (validated, nothing created) and carry an ``Idempotency-Key`` (``idempotency``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sanic.response import HTTPResponse, json

from ..auth import Principal
from ..domain.errors import ExecutorUnavailable, SubmitRefused, UnsatisfiableRequest
from ..domain.request import JobRequest, SubmitKey, Submitted
from ..errors import AppError
from ..http import AppRequest, check_dependencies, check_urgency, submit_policy
from ..settings import SettingsError, parse_bool
from .batch import BatchError, Entry, parse_batch
from .idempotency import REPLAYED, fingerprint, request_key, reused
from .submit import (
    MISSING_COMMAND,
    SubmitError,
    check_queue,
    request_json,
)

INVALID = "Invalid submit request"
REFUSED = "There was an issue submitting that job."
DRY_RUN = "Dry run: the job is valid and was not submitted."


def dry_run_flag(request: AppRequest, fields: Mapping[str, Any]) -> bool:
    """``dry_run`` from the query string or the body (a 400 when it is not a boolean)."""
    value = request.args.get("dry_run", fields.get("dry_run"))
    if value is None or isinstance(value, bool):
        return bool(value)
    try:
        return parse_bool(str(value), name="dry_run")
    except SettingsError as exc:
        raise SubmitError([str(exc)]) from None


def submit_key(request: AppRequest, principal: Principal) -> SubmitKey | None:
    """The request's ``Idempotency-Key`` with the fingerprint of the request (400 if malformed)."""
    key = request_key(request.headers)
    if key is None:
        return None
    print_ = fingerprint(
        request.path, {k: list(v) for k, v in request.args.items()},
        request.content_type or "", request.body or b"",
    )  # fmt: skip
    return SubmitKey(principal.name, key, print_)


async def earlier(request: AppRequest, key: SubmitKey | None) -> Submitted | None:
    """What a previous request with the same key created (a 409 when it was another request)."""
    if key is None:
        return None
    found = await request.app.ctx.jobs.submitted(key.user, key.key)
    if found is not None and found.fingerprint != key.fingerprint:
        raise reused()
    return found


def checked(request: AppRequest, job: JobRequest) -> JobRequest:
    """``job`` once its queue is known to the executor (else :class:`SubmitError`)."""
    executor = request.app.ctx.jobs
    check_queue(job, executor.queues(), executor.name)
    return job


def submit_refusal(exc: SubmitError) -> HTTPResponse:
    """Upstream's 400 for an invalid single submit."""
    if exc.missing_command:
        return json({"Message": MISSING_COMMAND}, status=400)
    return json({"Message": INVALID, "Errors": exc.errors}, status=400)


def unavailable(exc: ExecutorUnavailable) -> HTTPResponse:
    """503 (never accept work that will not run), with a hint to retry."""
    return json({"Message": REFUSED, "Error": str(exc)}, status=503, headers={"Retry-After": "1"})


async def submit_one(
    request: AppRequest, principal: Principal, job: JobRequest, *, dry_run: bool
) -> HTTPResponse:
    """Submit (or dry-run) one validated job, honouring the request's ``Idempotency-Key``."""
    executor = request.app.ctx.jobs
    try:
        job = checked(request, job)
        check_urgency(principal, job.urgency)  # 403 above 16 unless a superuser
        await check_dependencies(request, principal, job.dependencies)  # 404 for unseen jobs
        if dry_run:
            jobspec = await executor.dry_run(job, principal.owner)
            return json(_dry_run_body(job, jobspec))
        key = submit_key(request, principal)
        if key is None:
            job_id = await executor.submit(job, principal.owner)
        else:
            async with request.app.ctx.submit_keys.hold(key.user, key.key):
                found = await earlier(request, key)
                if found is not None and 0 in found.ids:
                    return json(_submitted(job, found.ids[0]), headers={REPLAYED: "true"})
                (outcome,) = await executor.submit_many([(0, job)], principal.owner, key)
                if isinstance(outcome, SubmitRefused):
                    raise outcome
                job_id = outcome
    except SubmitError as exc:
        return submit_refusal(exc)
    except UnsatisfiableRequest as exc:
        return json({"Message": INVALID, "Errors": [str(exc)]}, status=400)
    except SubmitRefused as exc:
        return json({"Message": REFUSED, "Error": str(exc)}, status=400)
    except ExecutorUnavailable as exc:
        return unavailable(exc)
    return json(_submitted(job, job_id))


def _submitted(job: JobRequest, job_id: int) -> dict[str, Any]:
    message = "Job submit, see jobs table for spawned jobs." if job.is_launcher else "Job submit."
    return {"Message": message, "id": job_id}


def _dry_run_body(job: JobRequest, jobspec: Mapping[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"Message": DRY_RUN, "dry_run": True, "request": request_json(job)}
    if jobspec is not None:
        body["jobspec"] = jobspec
    return body


def _entry_error(index: int, exc: Exception) -> dict[str, Any]:
    if isinstance(exc, SubmitError):
        errors = exc.errors
        code = "invalid_request"
    else:
        errors = [str(exc)]
        code = "unsatisfiable" if isinstance(exc, UnsatisfiableRequest) else "refused"
    return {"index": index, "status": 400, "code": code, "detail": "; ".join(errors),
            "errors": errors}  # fmt: skip


async def submit_batch(request: AppRequest, principal: Principal, body: Any) -> HTTPResponse:
    """Submit (or dry-run) a batch; one result per entry, in order (docs/api.md "Batch")."""
    settings = request.app.ctx.settings
    query = {k: v[0] for k, v in request.args.items()}
    options = body if isinstance(body, dict) else {}
    try:
        dry_run = dry_run_flag(request, options)
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "dry_run"}
        entries = parse_batch(body, query, submit_policy(request), settings.max_batch)
    except BatchError as exc:
        return json({"detail": str(exc), "code": "invalid_request"}, status=400)
    except SubmitError as exc:  # the one job a cc batch copies is invalid
        detail = "; ".join(exc.errors)
        return json({"detail": detail, "code": "invalid_request", "errors": exc.errors}, 400)
    key = None if dry_run else submit_key(request, principal)
    try:
        if key is None:
            results = await _run_batch(request, principal, entries, None, None, dry_run=dry_run)
            replayed = False
        else:
            async with request.app.ctx.submit_keys.hold(key.user, key.key):
                found = await earlier(request, key)
                results = await _run_batch(request, principal, entries, key, found, dry_run=False)
                replayed = found is not None and all(
                    "id" not in r or r["index"] in found.ids for r in results
                )
    except ExecutorUnavailable as exc:
        return unavailable(exc)
    return _batch_answer(results, dry_run=dry_run, replayed=replayed)


async def _run_batch(
    request: AppRequest,
    principal: Principal,
    entries: list[Entry],
    key: SubmitKey | None,
    found: Submitted | None,
    *,
    dry_run: bool,
) -> list[dict[str, Any]]:
    executor = request.app.ctx.jobs
    results: dict[int, dict[str, Any]] = {}
    todo: list[tuple[int, JobRequest]] = []
    for entry in entries:
        if found is not None and entry.index in found.ids:
            results[entry.index] = {"index": entry.index, "id": found.ids[entry.index]}
            continue
        if entry.request is None:
            assert entry.error is not None
            results[entry.index] = _entry_error(entry.index, entry.error)
            continue
        try:
            job = checked(request, entry.request)
            try:
                check_urgency(principal, job.urgency)
                await check_dependencies(request, principal, job.dependencies)
            except AppError as exc:  # this entry fails alone, with the reason
                raise SubmitRefused(str(exc.body.get("detail") or exc)) from None
            if dry_run:
                jobspec = await executor.dry_run(job, principal.owner)
                results[entry.index] = {"index": entry.index, **_dry_run_body(job, jobspec)}
                del results[entry.index]["Message"], results[entry.index]["dry_run"]
                continue
        except (SubmitError, SubmitRefused) as exc:
            results[entry.index] = _entry_error(entry.index, exc)
            continue
        todo.append((entry.index, job))
    if todo:
        outcomes = await executor.submit_many(todo, principal.owner, key)
        for (index, _), outcome in zip(todo, outcomes, strict=True):
            results[index] = (
                _entry_error(index, outcome)
                if isinstance(outcome, Exception)
                else {"index": index, "id": outcome}
            )
    return [results[e.index] for e in entries]


def _batch_answer(results: list[dict[str, Any]], *, dry_run: bool, replayed: bool) -> HTTPResponse:
    failed = sum(1 for r in results if "errors" in r)
    good = len(results) - failed
    total = len(results)
    if dry_run:
        message = f"Dry run: {good} of {total} jobs are valid; nothing was submitted."
    else:
        message = f"Submitted {good} of {total} jobs."
    body: dict[str, Any] = {
        "Message": message,
        "ids": [r.get("id") for r in results],
        "accepted": 0 if dry_run else good,
        "failed": failed,
        "dry_run": dry_run,
        "results": results,
    }
    if good:
        return json(body, headers={REPLAYED: "true"} if replayed else None)
    body["detail"] = f"No job was accepted: every entry of the batch ({total}) is invalid"
    body["code"] = "invalid_request"
    return json(body, status=400)
