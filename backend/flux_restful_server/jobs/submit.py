"""Parse and validate submit requests, in every encoding upstream's clients send.

Fields come from the query string, a form, or JSON; the result is a :class:`JobRequest`, and
problems are reported in upstream's words.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..domain.request import JobRequest
from ..domain.resources import ResourceLimits
from ..limits import (
    MAX_COMMAND,
    MAX_FIELD,
    MAX_INT,
    MAX_NAME,
    MAX_WORKDIR,
    LimitError,
    bounded_int,
    show,
)
from ..media import media_type
from ..settings import FALSE_WORDS, TRUE_WORDS
from .dependencies import parse_dependencies

MISSING_COMMAND = "A 'command' is minimally required."
INT_FIELDS = ("num_tasks", "cores_per_task", "gpus_per_task", "num_nodes", "urgency")
BOOL_FIELDS = ("exclusive", "is_launcher")
MAX_COUNT = 2**31 - 1
"""Largest task, core, GPU or node count (Flux counts in C ints)."""
MAX_RUNTIME = float(2**31)
"""Longest time limit in seconds (68 years)."""
SCALAR = (str, int, float, bool)
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A queue name as Flux's configuration allows it."""


class SubmitError(ValueError):
    """The request is invalid. ``errors`` holds one message per problem."""

    def __init__(self, errors: list[str], *, missing_command: bool = False) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
        self.missing_command = missing_command


@dataclass(frozen=True, slots=True)
class SubmitPolicy:
    """What the server allows, for validation."""

    limits: ResourceLimits
    has_gpus: bool
    number_nodes: int | None
    default_option_flags: Mapping[str, str]


def collect_fields(
    query: Mapping[str, str], form: Mapping[str, str] | None, body: Any
) -> dict[str, Any]:
    """Merge the places upstream's clients put submit fields.

    A JSON object with ``command`` is the whole payload; a JSON object without it (while the
    query has ``command``) is the envars mapping, as upstream's server reads it.
    """
    fields: dict[str, Any] = dict(query)
    if form:
        fields.update(form)
    if isinstance(body, dict):
        if "command" in body:
            fields.update(body)
        elif body:
            fields["envars"] = body
    elif body is not None:
        raise SubmitError(["The JSON body must be an object"])
    return fields


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_json(content_type: str) -> bool:
    """Whether a body of this ``Content-Type`` is read as JSON."""
    return media_type(content_type).startswith("application/json")


def unread_body(content_type: str, body: bytes) -> str | None:
    """Why submit would not read this body, or None when it reads it (JSON, a form, nothing).

    A body submit skips would leave its fields unseen and answer "command is required", which
    names the wrong problem: a YAML jobspec posted here, or JSON sent as curl -d's default form.
    """
    if not body.strip():
        return None
    if is_json(content_type):
        return None
    kind = media_type(content_type)
    if kind in FORM_TYPES:
        if kind == FORM_TYPES[0] and body.lstrip()[:1] in (b"{", b"["):
            return (
                "The body looks like JSON but is sent as a form (Content-Type: "
                "application/x-www-form-urlencoded, curl -d's default): send it with "
                "Content-Type: application/json"
            )
        return None
    return (
        f"A body of type '{kind or 'application/octet-stream'}' is not read here: send the "
        "fields as JSON (Content-Type: application/json), as a form or in the query string; a "
        "Flux jobspec (JSON or YAML) goes to POST /v1/jobs/jobspec"
    )


def parse_submit(fields: Mapping[str, Any], policy: SubmitPolicy) -> JobRequest:
    """Validate submit fields into a job request.

    Raises:
        SubmitError: With every problem found, in upstream's words where upstream has them.
    """
    command = fields.get("command")
    if command is None or command == "" or command == []:
        raise SubmitError([MISSING_COMMAND], missing_command=True)
    errors: list[str] = []
    argv = _argv(command, errors)
    ints = {key: _int(fields, key, errors) for key in INT_FIELDS}
    bools = {key: _bool(fields, key, errors) for key in BOOL_FIELDS}
    runtime = _runtime(fields.get("runtime"), errors)
    num_tasks = 1 if ints["num_tasks"] is None else ints["num_tasks"]
    cores = 1 if ints["cores_per_task"] is None else ints["cores_per_task"]
    gpus = ints["gpus_per_task"]
    nodes = ints["num_nodes"]
    urgency = 16 if ints["urgency"] is None else ints["urgency"]
    if num_tasks < 1:
        errors.append(f"num_tasks must be >= 1, found {num_tasks}")
    if cores < 1:
        errors.append(f"cores_per_task must be >= 1, found {cores}")
    if gpus is not None and gpus != 0:
        if not policy.has_gpus:
            errors.append("This server does not support gpus: gpus_per_task cannot be set.")
        elif gpus < 1:
            errors.append("Parameter gpus_per_task must be >= 1")
    if nodes is not None:
        max_nodes = policy.number_nodes or policy.limits.nodes
        if nodes < 1:
            errors.append(f"num_nodes must be >= 1, found {nodes}")
        elif nodes > max_nodes:
            errors.append(f"The server only has {max_nodes} nodes, you requested {nodes}")
        elif nodes > num_tasks:
            errors.append(f"num_nodes ({nodes}) cannot exceed num_tasks ({num_tasks})")
    if bools["exclusive"] and nodes is None:
        errors.append("exclusive can only be set with a node count (num_nodes)")
    if not 0 <= urgency <= 31:
        errors.append(f"urgency must be between 0 and 31, found {urgency}")
    options = _option_flags(fields.get("option_flags"), errors)
    envars = _envars(fields.get("envars"), errors)
    workdir = _optional_str(fields, "workdir", errors)
    if workdir is not None:
        if len(workdir) > MAX_WORKDIR:
            errors.append(f"workdir must be at most {MAX_WORKDIR} characters")
        elif not workdir.startswith("/"):
            # Relative to what? The server's own directory means nothing to a client.
            errors.append(f"workdir must be an absolute path, not {show(workdir)}")
    name = _optional_str(fields, "name", errors)
    if name is not None and len(name) > MAX_NAME:
        errors.append(f"name must be at most {MAX_NAME} characters")
    queue = _optional_str(fields, "queue", errors)
    if queue is not None and not QUEUE_NAME.fullmatch(queue):
        errors.append(
            f"queue must be a queue name (letters, digits, '.', '_', '-'; at most 64), "
            f"not {show(queue)}"
        )
    dependencies = parse_dependencies(fields.get("dependency"), errors)
    if errors:
        raise SubmitError(errors)
    return JobRequest(
        command=tuple(argv),
        num_tasks=num_tasks,
        cores_per_task=cores,
        gpus_per_task=gpus or 0,
        num_nodes=nodes,
        exclusive=bool(bools["exclusive"]),
        option_flags={**policy.default_option_flags, **options},
        envars=envars,
        workdir=workdir or None,
        runtime=runtime,
        is_launcher=bool(bools["is_launcher"]),
        name=name or None,
        urgency=urgency,
        queue=queue or None,
        dependencies=dependencies,
    )


def check_queue(request: JobRequest, queues: tuple[str, ...], executor: str) -> None:
    """Refuse a queue the executor does not have, naming the ones it has.

    Raises:
        SubmitError: An unknown queue.
    """
    if request.queue is None or request.queue in queues:
        return
    if executor == "local":
        raise SubmitError(
            [f"Unknown queue {show(request.queue)}: the local executor has one queue, 'default'"]
        )
    known = ", ".join(repr(q) for q in queues) or "none (the instance has no named queues)"
    raise SubmitError([f"Unknown queue {show(request.queue)}: the known queues are {known}"])


def request_json(request: JobRequest) -> dict[str, Any]:
    """The normalised request, as a dry run shows it (what the executor would be given)."""
    return {
        "command": list(request.command),
        "name": request.job_name,
        "num_tasks": request.num_tasks,
        "cores_per_task": request.cores_per_task,
        "gpus_per_task": request.gpus_per_task,
        "num_nodes": request.num_nodes,
        "exclusive": request.exclusive,
        "option_flags": dict(request.option_flags),
        "envars": dict(request.envars),
        "workdir": request.workdir,
        "runtime": request.runtime,
        "is_launcher": request.is_launcher,
        "urgency": request.urgency,
        "queue": request.queue,
    }


def _argv(command: Any, errors: list[str]) -> list[str]:
    if isinstance(command, str):
        if len(command) > MAX_COMMAND:
            errors.append(f"command must be at most {MAX_COMMAND} characters, not {len(command)}")
            return ["?"]
        try:
            argv = split_command(command)
        except ValueError as exc:
            errors.append(f"command could not be split into arguments: {exc}")
            return ["?"]
    elif isinstance(command, list) and all(
        isinstance(a, str | int | float) and not isinstance(a, bool) for a in command
    ):
        argv = [str(a) for a in command]
        size = sum(len(a) for a in argv)
        if size > MAX_COMMAND:
            errors.append(f"command must be at most {MAX_COMMAND} characters, not {size}")
            return ["?"]
    else:
        errors.append("command must be a string or a list of strings")
        return ["?"]
    if not argv or not argv[0]:
        errors.append("command must name a program to run")
        return ["?"]
    if any("\0" in a for a in argv):
        errors.append("command must not contain NUL characters")
    return argv


_TOKEN = re.compile(
    r"""(?P<space>[ \t\r\n]+)
    | '(?P<single>[^']*)(?P<single_end>'?)
    | "(?P<double>[^"\\]*(?:\\[\s\S][^"\\]*)*)(?P<double_end>"?)
    | \\(?P<escaped>[\s\S]?)
    | (?P<plain>[^ \t\r\n'"\\]+)""",
    re.VERBOSE,
)
_DOUBLE_ESCAPE = re.compile(r'\\(["\\])')


def split_command(text: str) -> list[str]:
    """Split a command line exactly as ``shlex.split`` does, in linear time.

    ``shlex`` grows each token a character at a time, so its cost is quadratic in the length
    of a token (a 1 MB command took 13 s, on the event loop). This reads whole runs at once.

    Raises:
        ValueError: An unterminated quote (``No closing quotation``) or a trailing backslash
            (``No escaped character``), with shlex's messages.
    """
    words: list[str] = []
    parts: list[str] = []
    in_word = False
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "space":
            if in_word:
                words.append("".join(parts))
                parts, in_word = [], False
            continue
        in_word = True
        if kind == "plain":
            parts.append(match.group("plain"))
        elif kind == "escaped":
            if not match.group("escaped"):
                raise ValueError("No escaped character")
            parts.append(match.group("escaped"))
        elif kind == "single_end":
            if not match.group("single_end"):
                raise ValueError("No closing quotation")
            parts.append(match.group("single"))
        else:  # "double_end"
            if not match.group("double_end"):
                # Stopped short of the end: at a backslash with nothing after it.
                raise ValueError(
                    "No escaped character" if match.end() < len(text) else "No closing quotation"
                )
            parts.append(_DOUBLE_ESCAPE.sub(r"\1", match.group("double")))
    if in_word:
        words.append("".join(parts))
    return words


def _absent(value: Any) -> bool:
    # The 0.2.1 client sends unset fields as empty strings (httpx renders None as "").
    return value is None or (isinstance(value, str) and value.strip() in ("", "None", "null"))


def _int(fields: Mapping[str, Any], key: str, errors: list[str]) -> int | None:
    value = fields.get(key)
    if _absent(value):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        errors.append(f"{key} must be an integer, not {show(value)}")
        return None
    try:
        number = value if isinstance(value, int) else bounded_int(value, key, minimum=-MAX_INT)
    except LimitError as exc:
        errors.append(str(exc))
        return None
    if number > MAX_COUNT:
        errors.append(f"{key} must be at most {MAX_COUNT}, not {show(number)}")
        return None
    return number


def _bool(fields: Mapping[str, Any], key: str, errors: list[str]) -> bool | None:
    value = fields.get(key)
    if _absent(value):
        return None
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    errors.append(f"{key} must be a boolean (true/false), not {show(value)}")
    return None


def _runtime(value: Any, errors: list[str]) -> float:
    if _absent(value):
        return 0.0
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors.append(f"runtime must be a number of seconds, not {show(value)}")
        return 0.0
    try:
        runtime = float(value)
    except (ValueError, OverflowError):
        errors.append(f"runtime must be a number of seconds, not {show(value)}")
        return 0.0
    if runtime != runtime or runtime in (float("inf"), float("-inf")):
        errors.append(f"runtime must be a finite number of seconds, not {show(value)}")
        return 0.0
    if runtime > MAX_RUNTIME:
        errors.append(f"runtime must be at most {int(MAX_RUNTIME)} seconds, not {show(value)}")
        return 0.0
    if runtime < 0:
        # upstream's words ("found -5"); a huge value as Python writes floats, not 270 digits
        shown = int(runtime) if runtime.is_integer() and runtime > -1e15 else runtime
        errors.append(f"Runtime must be >= 0, found {shown}")
    return max(runtime, 0.0)


def _option_flags(value: Any, errors: list[str]) -> dict[str, str]:
    if _absent(value):
        return {}
    if isinstance(value, dict):
        if not all(isinstance(v, SCALAR) or v is None for v in value.values()):
            errors.append("Option flag values must be strings, numbers or booleans")
            return {}
        items = [(str(k), "" if v is None else str(v)) for k, v in value.items()]
    elif isinstance(value, str):
        if len(value) > MAX_FIELD:
            errors.append(f"option_flags must be at most {MAX_FIELD} characters")
            return {}
        items = []
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, val = item.partition("=")
            if not sep:
                errors.append(f"Option flag {show(item)} must look like key=value")
                continue
            items.append((key.strip(), val))
    else:
        errors.append(f"Please provide option args as a dictionary, type {type(value)} is invalid.")
        return {}
    flags: dict[str, str] = {}
    for key, val in items:
        if "-o" in key:
            errors.append(f"Please provide keys without -o, {key} is invalid.")
        elif not key:
            errors.append("Option flag keys must not be empty")
        elif "\0" in key or "\0" in val:
            errors.append(f"Option flag {show(key)} must not contain NUL characters")
        else:
            flags[key] = val
    return flags


def _envars(value: Any, errors: list[str]) -> dict[str, str]:
    if _absent(value):
        return {}
    if isinstance(value, str):
        if len(value) > MAX_FIELD:
            errors.append(f"envars must be at most {MAX_FIELD} characters")
            return {}
        # The 0.2.1 client sends envars as str(dict) in the query string: decode it safely.
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            # Deeply nested input ("---...1") overflows the parser or the evaluator.
            errors.append("Environment variables must be key/value pairs (dict)")
            return {}
    if not isinstance(value, dict):
        errors.append("Environment variables must be key/value pairs (dict)")
        return {}
    env: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            errors.append(f"Environment variable name {show(key)} is invalid")
            continue
        if not (val is None or isinstance(val, SCALAR)):
            # Nested values would need a recursive str(): 1,000 levels overflowed the stack.
            errors.append(f"Environment variable {show(key)} must be a string, not a nested value")
            continue
        text = "" if val is None else str(val)
        if "\0" in text:
            errors.append(f"Environment variable {show(key)} must not contain NUL characters")
            continue
        env[key] = text
    return env


def _optional_str(fields: Mapping[str, Any], key: str, errors: list[str]) -> str | None:
    value = fields.get(key)
    if _absent(value):
        return None
    if not isinstance(value, str):
        errors.append(f"{key} must be a string, not {show(value)}")
        return None
    if "\0" in value:
        errors.append(f"{key} must not contain NUL characters")
        return None
    return value
