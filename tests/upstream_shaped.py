"""A small server shaped like upstream flux-restful 1.1.0, for the client tests.

Upstream 1.1.0 needs Flux, which CI cannot have, so the client tests also run against this: it
answers as ``UPSTREAM.md`` documents 1.1.0 (and as its source reads): submit fields only from the
query string, the JSON body taken as the envars mapping, no ``/stream`` or ``/events`` routes,
FastAPI's 404/400/422 bodies, the shared-secret handshake. Jobs are real processes (the command is
``shlex.split`` as upstream does), so states, output and exit codes are real. Every request is
recorded, which the side-by-side tests compare between our client and upstream's.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from jwt.warnings import InsecureKeyLengthWarning

STATES = {"SCHED": 8, "RUN": 16, "INACTIVE": 64}
RESULTS = {"COMPLETED": 1, "FAILED": 2, "CANCELED": 4}
NO_OUTPUT = "The output does not exist yet, or the jobid is incorrect."
SIGNING_KEY = "upstream-shaped-signing-key-0123456789"


@dataclass
class Recorded:
    """One request as it arrived."""

    method: str
    path: str
    query: list[tuple[str, str]]
    body: bytes
    headers: dict[str, str]

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)


@dataclass
class Job:
    id: int
    command: str
    user: str | None
    envars: dict[str, str]
    t_submit: float = field(default_factory=time.time)
    state: str = "SCHED"
    result: str = ""
    returncode: int | str = ""
    t_run: float | None = None
    t_inactive: float | None = None
    output: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    def record(self) -> dict[str, Any]:
        """The raw job-list record (integer state/result), as ``GET /v1/jobs`` lists it."""
        return {
            "id": self.id,
            "userid": os.getuid(),
            "urgency": 16,
            "priority": 16,
            "t_submit": self.t_submit,
            "state": STATES[self.state],
            "name": shlex.split(self.command)[0],
            "ntasks": 1,
            "ncores": 1,
            "result": RESULTS.get(self.result, 0),
        }

    def info(self) -> dict[str, Any]:
        """``GET /v1/jobs/{id}``: string state and result, ``""`` placeholders while active."""
        now = time.time()
        runtime = 0.0
        if self.t_run is not None:
            runtime = (self.t_inactive or now) - self.t_run
        return {
            **self.record(),
            "state": self.state,
            "result": self.result,
            "returncode": self.returncode,
            "runtime": runtime,
            "waitstatus": "" if self.returncode == "" else 0,
            "nnodes": 1,
            "nodelist": "node0",
            "exception": {"occurred": "", "severity": "", "type": "", "note": ""},
            "duration": "",
        }


class UpstreamShapedServer:
    """Run it with ``start()``; ``url``, ``requests`` (recorded), ``stop()``."""

    def __init__(
        self,
        *,
        auth: bool = False,
        user: str = "fluxuser",
        password: str = "12345",
        secret_key: str = "notsecrethoo",
        token_lifetime: float = 600.0,
    ) -> None:
        self.auth = auth
        self.user = user
        self.password = password
        self.secret_key = secret_key
        self.token_lifetime = token_lifetime
        self.requests: list[Recorded] = []
        self.jobs: dict[int, Job] = {}
        self.generation = 0
        """Tokens of older generations are refused (``expire_tokens``)."""
        self._drops = 0
        self._lock = threading.Lock()
        self._runners: list[threading.Thread] = []
        self._next_id = 1000 << 16
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> UpstreamShapedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        for job in self.jobs.values():
            if job.proc is not None and job.proc.poll() is None:
                os.killpg(job.proc.pid, signal.SIGKILL)
        for thread in self._runners:
            thread.join(10)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working, as if it had expired."""
        self.generation += 1

    def drop_streams(self) -> None:
        """Cut every open output stream mid-body (no final chunk), as a broken link would."""
        self._drops += 1

    def submits(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/jobs/submit"]

    # -- jobs --------------------------------------------------------------------------------
    def _run(self, job: Job, workdir: str | None) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
        env.update(job.envars)
        try:
            job.proc = subprocess.Popen(
                shlex.split(job.command),
                env=env,
                cwd=workdir or None,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError:
            job.state, job.result, job.returncode = "INACTIVE", "FAILED", 1
            job.t_inactive = time.time()
            return
        job.state, job.t_run = "RUN", time.time()
        assert job.proc.stdout is not None
        with job.proc.stdout:
            for raw in iter(job.proc.stdout.readline, b""):
                job.output.append(raw.decode(errors="replace"))
        code = job.proc.wait()
        job.t_inactive = time.time()
        if job.result != "CANCELED":
            job.result = "COMPLETED" if code == 0 else "FAILED"
        job.returncode = code
        job.state = "INACTIVE"

    def submit(self, params: dict[str, str], envars: dict[str, str], user: str | None) -> int:
        with self._lock:
            self._next_id += 1 << 16
            job = Job(self._next_id, params["command"], user, envars)
            self.jobs[job.id] = job
        runner = threading.Thread(target=self._run, args=(job, params.get("workdir")), daemon=True)
        self._runners.append(runner)
        runner.start()
        return job.id

    # -- auth --------------------------------------------------------------------------------
    def token_for(self, user: str) -> str:
        now = int(time.time())
        claims = {"sub": user, "backend": "shared-secret", "iat": now, "gen": self.generation}
        claims["exp"] = now + max(1, int(self.token_lifetime))
        return jwt.encode(claims, SIGNING_KEY, algorithm="HS256")

    def caller(self, headers: dict[str, str]) -> tuple[str | None, tuple[int, Any] | None]:
        """The user a request acts as, or the 401 upstream answers."""
        if not self.auth:
            return None, None
        value = headers.get("authorization", "")
        if not value:
            return None, (401, {"detail": "Not authenticated"})
        try:
            claims = jwt.decode(value.split()[-1], SIGNING_KEY, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return None, (401, {"detail": "Could not validate credentials"})
        if claims.get("gen") != self.generation:
            return None, (401, {"detail": "Could not validate credentials"})
        return str(claims["sub"]), None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(_Handler):
            upstream = server

        return Handler


class _Handler(BaseHTTPRequestHandler):
    upstream: UpstreamShapedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qsl(split.query, keep_blank_values=True)
        up = self.upstream
        up.requests.append(Recorded(method, split.path, query, body, headers))
        path = split.path.rstrip("/") or "/"
        params = dict(query)
        if (method, path) == ("GET", "/v1/auth"):
            on = up.auth
            return self._answer(
                200,
                {
                    "backend": "shared-secret" if on else "none",
                    "password_login": on,
                    "shared_secret_handshake": on,
                },
            )
        if (method, path) == ("POST", "/v1/token"):
            return self._handshake(headers)
        if (method, path) == ("POST", "/v1/login/access-token"):
            form = dict(parse_qsl(body.decode()))
            if form.get("username") == up.user and form.get("password") == up.password:
                return self._answer(
                    200, {"access_token": up.token_for(up.user), "token_type": "Bearer"}
                )
            return self._answer(400, {"detail": "Incorrect user or password"})
        routes = {
            ("POST", "/v1/jobs/submit"),
            ("GET", "/v1/jobs"),
            ("GET", "/v1/jobs/search"),
            ("GET", "/v1/nodes"),
        }
        parts = path.split("/")
        job_route = (
            len(parts) >= 4
            and parts[1:3] == ["v1", "jobs"]
            and parts[3] not in ("submit", "search")
        )
        job_suffix = "/".join(parts[4:])
        known_job_routes = {
            ("GET", ""),
            ("POST", "cancel"),
            ("GET", "output"),
            ("GET", "output/stream"),
        }
        if (method, path) not in routes and not (
            job_route and (method, job_suffix) in known_job_routes
        ):
            if job_route and job_suffix in {"", "cancel", "output", "output/stream"}:
                return self._answer(405, {"detail": "Method Not Allowed"})
            return self._answer(404, {"detail": "Not Found"})
        user, refusal = up.caller(headers)
        if refusal is not None:
            return self._answer(*refusal, headers={"www-authenticate": "Bearer"})
        if path == "/v1/jobs/submit":
            return self._submit(params, body, headers, user)
        if path == "/v1/jobs":
            return self._list(params)
        if path == "/v1/jobs/search":
            return self._search(params)
        if path == "/v1/nodes":
            return self._answer(200, {"nodes": ["node0"]})
        raw_id = unquote(parts[3])
        if not raw_id.isdigit():
            return self._answer(400, {"detail": f"'{raw_id}' is not a valid job id"})
        job = up.jobs.get(int(raw_id))
        if job_suffix == "cancel":
            if job is None or job.state == "INACTIVE":
                reason = "[Errno 2] No such file or directory" if job is None else "job is inactive"
                return self._answer(
                    400, {"Message": f"Job cannot be cancelled: {reason}.", "id": raw_id}
                )
            job.result = "CANCELED"
            if job.proc is not None:
                os.killpg(job.proc.pid, signal.SIGTERM)
            return self._answer(200, {"Message": "Job is requested to cancel.", "id": raw_id})
        if job is None:
            if job_suffix == "output":
                return self._answer(200, {"Message": NO_OUTPUT})
            return self._answer(404, {"detail": f"Job {raw_id} not found"})
        if job_suffix == "":
            return self._answer(200, job.info())
        if job_suffix == "output":
            if not job.output:
                return self._answer(200, {"Message": NO_OUTPUT})
            return self._answer(200, {"Output": list(job.output)})
        return self._stream(job)

    def _handshake(self, headers: dict[str, str]) -> None:
        up = self.upstream
        if not up.auth:
            return self._answer(
                400, {"detail": "The shared-secret token handshake is not enabled on this server."}
            )
        value = headers.get("authorization")
        if not value:
            return self._answer(400, {"detail": "Missing Authorization header"})
        try:
            with warnings.catch_warnings():  # upstream's documented secret is 12 bytes
                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
                claims = jwt.decode(value.split()[-1], up.secret_key, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return self._answer(400, {"detail": "Could not decode credentials"})
        if claims.get("user") != up.user or claims.get("pass") != up.password:
            return self._answer(400, {"detail": "Incorrect user or password"})
        return self._answer(200, {"access_token": up.token_for(up.user), "token_type": "Bearer"})

    def _submit(
        self, params: dict[str, str], body: bytes, headers: dict[str, str], user: str | None
    ) -> None:
        if body and "application/json" not in headers.get("content-type", ""):
            return self._answer(
                422,
                {
                    "detail": [
                        {
                            "type": "dict_type",
                            "loc": ["body"],
                            "msg": "Input should be a valid dictionary",
                        }
                    ]
                },
            )
        envars: Any = json.loads(body) if body else {}
        if not params.get("command"):
            return self._answer(400, {"Message": "A 'command' is minimally required."})
        for key in ("num_tasks", "cores_per_task", "gpus_per_task", "num_nodes", "runtime"):
            if key in params and not params[key].lstrip("-").isdigit():
                return self._answer(
                    422,
                    {
                        "detail": [
                            {
                                "type": "int_parsing",
                                "loc": ["query", key],
                                "msg": "Input should be a valid integer",
                            }
                        ]
                    },
                )
        if not isinstance(envars, dict):
            return self._answer(
                400,
                {
                    "Message": "Invalid submit request",
                    "Errors": ["Environment variables must be key/value pairs (dict)"],
                },
            )
        envars = {str(k): str(v) for k, v in envars.items()}
        return self._answer(
            200, {"Message": "Job submit.", "id": self.upstream.submit(params, envars, user)}
        )

    def _list(self, params: dict[str, str]) -> None:
        jobs = sorted(self.upstream.jobs.values(), key=lambda j: -j.id)
        if params.get("details", "").lower() not in ("true", "1", "yes", "on"):
            return self._answer(200, {"jobs": [j.record() for j in jobs]})
        limit = params.get("limit")
        if limit and limit.isdigit():
            jobs = jobs[: int(limit)]
        infos = [j.info() for j in jobs]
        if params.get("listing", "").lower() in ("true", "1", "yes", "on"):
            return self._answer(200, infos)
        return self._answer(200, {str(i["id"]): i for i in infos})

    def _search(self, params: dict[str, str]) -> None:
        rows = [j.info() for j in sorted(self.upstream.jobs.values(), key=lambda j: -j.id)]
        total = len(rows)
        text = params.get("search[value]") or params.get("search")
        if text:
            rows = [r for r in rows if text in "".join(str(v) for v in r.values())]
        start, length = params.get("start"), params.get("length")
        if start and start.isdigit() and 0 < int(start) < len(rows):
            rows = rows[int(start) :]
        if length and length.lstrip("-").isdigit() and int(length) != 0 and int(length) < len(rows):
            rows = rows[: int(length)]
        draw: Any = params.get("draw") or 1
        self._answer(
            200, {"data": rows, "draw": draw, "recordsTotal": total, "recordsFiltered": len(rows)}
        )

    def _stream(self, job: Job) -> None:
        """Chunked raw output, no content type, until the job is inactive (1.1.0)."""
        self.send_response(200)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        sent = 0
        drops = self.upstream._drops
        try:
            while True:
                if self.upstream._drops != drops:
                    self.close_connection = True
                    return
                done = job.state == "INACTIVE"
                while sent < len(job.output):
                    data = job.output[sent].encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    sent += 1
                self.wfile.flush()
                if done:
                    break
                time.sleep(0.02)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
