"""Jobspec submit: a Flux jobspec (RFC 25, version 1) as the request body, JSON or YAML.

The document is checked for the shape of V1 (one task, a resource tree of slots of cores and
GPUs, optionally under nodes) and translated into a :class:`JobRequest` as far as its fields
go, so both executors validate it like any submit (resources that can never fit, unknown queue).
The flux executor then submits the document itself; the local executor runs the translation,
and refuses a jobspec that uses anything the translation cannot express (``unsupported``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import yaml

from ..domain.request import JobRequest
from ..limits import show
from ..media import media_type
from .submit import SubmitError, SubmitPolicy, parse_submit

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
SYSTEM_KEYS = frozenset(
    {"duration", "cwd", "environment", "shell", "job", "queue", "constraints", "user"}
)
"""``attributes.system`` keys the translation reads (the local executor refuses the others;
``user`` is always replaced by the API user)."""
MAX_DEPTH = 64
"""Deepest nesting of a jobspec document accepted."""


def load_jobspec(body: bytes, content_type: str) -> dict[str, Any]:
    """Decode the body as JSON or YAML, by its content type (JSON when it has none).

    Raises:
        SubmitError: Not JSON or YAML, malformed, or not an object.
    """
    kind = media_type(content_type)
    if not body.strip():
        raise SubmitError(["The request body must be a Flux jobspec (JSON or YAML)"])
    if kind in YAML_TYPES:
        document = _load_yaml(body)
    elif kind in JSON_TYPES or not kind:
        import orjson

        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SubmitError([f"The jobspec is not valid JSON: {exc}"]) from None
    else:
        raise SubmitError(
            [f"A jobspec is sent as application/json or application/yaml, not {show(kind)}"]
        )
    if not isinstance(document, dict):
        raise SubmitError(["A jobspec must be a JSON/YAML object (mapping)"])
    if _depth(document) > MAX_DEPTH:
        raise SubmitError([f"The jobspec is nested deeper than {MAX_DEPTH} levels"])
    return document


def _load_yaml(body: bytes) -> Any:
    try:
        for event in yaml.parse(body, Loader=yaml.CSafeLoader if _has_c() else yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                # Aliases would let a few bytes stand for an exponentially large document.
                raise SubmitError(["YAML aliases (*name) are not accepted in a jobspec"])
        return yaml.load(body, Loader=yaml.CSafeLoader if _has_c() else yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise SubmitError([f"The jobspec is not valid YAML: {exc}".replace("\n", " ")]) from None
    except RecursionError:
        raise SubmitError([f"The jobspec is nested deeper than {MAX_DEPTH} levels"]) from None


def _has_c() -> bool:
    return hasattr(yaml, "CSafeLoader")


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _count(node: Mapping[str, Any], where: str, errors: list[str]) -> int:
    count = node.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        errors.append(
            f"{where}.count must be an integer >= 1 (V1 has no ranges), not {show(count)}"
        )
        return 1
    return count


def _slot(
    slot: Any, where: str, errors: list[str], unsupported: list[str]
) -> tuple[int, int, int, str]:
    """``(count, cores, gpus, label)`` of a slot vertex."""
    if not isinstance(slot, dict) or slot.get("type") != "slot":
        errors.append(f"{where} must be a slot ({{type: slot, count, label, with}})")
        return 1, 1, 0, "task"
    count = _count(slot, where, errors)
    label = slot.get("label", "task")
    if not isinstance(label, str):
        errors.append(f"{where}.label must be a string")
        label = "task"
    cores, gpus = 0, 0
    children = slot.get("with")
    if not isinstance(children, list) or not children:
        errors.append(f"{where}.with must list the slot's cores (and GPUs)")
        return count, 1, 0, label
    for i, child in enumerate(children):
        at = f"{where}.with[{i}]"
        kind = child.get("type") if isinstance(child, dict) else None
        if kind == "core":
            cores = _count(child, at, errors)
        elif kind == "gpu":
            gpus = _count(child, at, errors)
        else:
            unsupported.append(f"{at} is a {show(kind)} vertex (only core and gpu are run here)")
    if cores == 0:
        errors.append(f"{where} must hold at least one core")
        cores = 1
    return count, cores, gpus, label


def jobspec_request(document: Mapping[str, Any], policy: SubmitPolicy) -> JobRequest:
    """Check a V1 jobspec and translate it into a job request that carries the document.

    Raises:
        SubmitError: Not a V1 jobspec, or its values fail a submit's validation.
    """
    errors: list[str] = []
    unsupported: list[str] = []
    if document.get("version") != 1:
        raise SubmitError(
            [f"Only jobspec version 1 is accepted, not {show(document.get('version'))}"]
        )
    resources = document.get("resources")
    tasks = document.get("tasks")
    attributes = document.get("attributes", {})
    if not isinstance(resources, list) or len(resources) != 1:
        raise SubmitError(["jobspec resources must be a list of one vertex (a node or a slot)"])
    if not isinstance(tasks, list) or len(tasks) != 1 or not isinstance(tasks[0], dict):
        raise SubmitError(["jobspec tasks must be a list of one task (V1)"])
    if not isinstance(attributes, dict):
        raise SubmitError(["jobspec attributes must be a mapping"])
    top = resources[0]
    nodes = None
    exclusive = False
    if isinstance(top, dict) and top.get("type") == "node":
        nodes = _count(top, "resources[0]", errors)
        exclusive = bool(top.get("exclusive", False))
        children = top.get("with")
        if not isinstance(children, list) or len(children) != 1:
            raise SubmitError(["resources[0].with must hold one slot"])
        slots, cores, gpus, label = _slot(children[0], "resources[0].with[0]", errors, unsupported)
        slots *= nodes
    else:
        slots, cores, gpus, label = _slot(top, "resources[0]", errors, unsupported)
    task = tasks[0]
    command = task.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        errors.append("tasks[0].command must be a non-empty list of strings")
        command = ["?"]
    if task.get("slot", label) != label:
        errors.append(
            f"tasks[0].slot {show(task.get('slot'))} names no slot (the slot is {label!r})"
        )
    num_tasks = slots
    count = task.get("count", {"per_slot": 1})
    if isinstance(count, dict) and set(count) == {"per_slot"} and count["per_slot"] == 1:
        pass
    elif isinstance(count, dict) and set(count) == {"total"} and isinstance(count["total"], int):
        if count["total"] < 1:
            errors.append("tasks[0].count.total must be >= 1")
        elif count["total"] != slots:
            if nodes is None:
                unsupported.append("tasks[0].count.total differs from the slot count")
            num_tasks = count["total"]
    else:
        unsupported.append(f"tasks[0].count {show(count)} (only per_slot: 1 or total is run here)")
    system = attributes.get("system", {})
    if not isinstance(system, dict):
        raise SubmitError(["jobspec attributes.system must be a mapping"])
    for key in sorted(set(system) - SYSTEM_KEYS):
        unsupported.append(f"attributes.system.{key}")
    if system.get("constraints"):
        unsupported.append("attributes.system.constraints")
    shell = system.get("shell", {})
    options = shell.get("options", {}) if isinstance(shell, dict) else None
    if not isinstance(options, dict):
        errors.append("attributes.system.shell.options must be a mapping")
        options = {}
    job = system.get("job", {})
    name = job.get("name") if isinstance(job, dict) else None
    fields: dict[str, Any] = {
        "command": command,
        "num_tasks": num_tasks,
        "cores_per_task": cores,
        "gpus_per_task": gpus or None,
        "num_nodes": nodes,
        "exclusive": exclusive or None,
        "option_flags": {k: v if isinstance(v, str) else _json(v) for k, v in options.items()},
        "envars": system.get("environment"),
        "workdir": system.get("cwd"),
        "runtime": system.get("duration"),
        "name": name,
        "queue": system.get("queue"),
    }
    try:
        request = parse_submit(fields, policy)
    except SubmitError as exc:
        errors.extend(exc.errors)
        request = None
    if errors or request is None:
        raise SubmitError(errors)
    return replace(request, jobspec=dict(document), unsupported=tuple(unsupported))


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


def with_queue(request: JobRequest, queue: str) -> JobRequest:
    """``request`` sent to ``queue`` (the ``queue`` query parameter over the jobspec's own).

    Raises:
        SubmitError: Not a queue name.
    """
    from .submit import QUEUE_NAME

    if not QUEUE_NAME.fullmatch(queue):
        raise SubmitError([f"queue must be a queue name, not {show(queue)}"])
    jobspec = dict(request.jobspec or {})
    attributes = dict(jobspec.get("attributes", {}))
    attributes["system"] = {**attributes.get("system", {}), "queue": queue}
    jobspec["attributes"] = attributes
    return replace(request, queue=queue, jobspec=jobspec)
