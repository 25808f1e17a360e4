"""Side by side with the real 0.2.1 client: the same calls, recorded by an upstream-shaped server.

For each call, our request must carry every field where upstream 1.1.0 reads it (the query string
for submit fields, the JSON body for envars, ``search`` for the filter), and our command string
must split back to the original argv, which 0.2.1's space-joined string does not.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from flux_restful_client import FluxRestfulClient
from tests.upstream_shaped import Recorded, UpstreamShapedServer

ARGV = ["sh", "-c", 'echo "$A"']
FIELDS = {
    "num_tasks": 1,
    "cores_per_task": 1,
    "num_nodes": 1,
    "exclusive": False,
    "option_flags": "cpu-affinity=off",
    "is_launcher": False,
    "workdir": "/tmp",
    "envars": {"A": "b c"},
}
CREDS = ("fluxuser", "12345", "notsecrethoo")
CALLS = """
job = cli.submit({argv!r}, **{fields!r})
if isinstance(job, dict) and "id" in job:
    cli.jobs(job["id"]); cli.output(job["id"]); cli.cancel(job["id"])
cli.jobs(); cli.search("sleep", start=0, length=2); cli.list_nodes()
"""
UPSTREAM = (
    "from flux_restful_client.main import get_client\n"
    "import flux_restful_client, sys\n"
    "assert flux_restful_client.__version__ == '0.2.1', flux_restful_client.__file__\n"
    "host, user, token, secret = sys.argv[1:5]\n"
    "cli = get_client(host=host, user=user, token=token, secret_key=secret)\n"
    # 0.2.1 retries its first request after the handshake as a JSON body: upstream loses it.
    "cli.submit(['true'])\n"
)


def _record(upstream_client: Path | None) -> list[Recorded]:
    server = UpstreamShapedServer(auth=True).start()
    try:
        calls = CALLS.format(argv=ARGV, fields=FIELDS)
        if upstream_client is None:
            with FluxRestfulClient(
                host=server.url, user=CREDS[0], token=CREDS[1], secret_key=CREDS[2]
            ) as cli:
                cli.submit(["true"])
                exec(calls, {"cli": cli})  # noqa: S102 - the same call text for both clients
        else:
            env = {**os.environ, "PYTHONPATH": str(upstream_client), "HOME": str(upstream_client)}
            done = subprocess.run(
                [sys.executable, "-c", UPSTREAM + calls, server.url, *CREDS],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
        return list(server.requests)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def recorded(upstream_client: Path) -> dict[str, list[Recorded]]:
    return {"ours": _record(None), "upstream": _record(upstream_client)}


def _calls(requests: list[Recorded], path_end: str, method: str = "GET") -> list[Recorded]:
    return [r for r in requests if r.method == method and r.path.endswith(path_end)]


def _handshake(request: Recorded) -> dict[str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        token = request.headers["authorization"].split()[-1]
        return jwt.decode(token, CREDS[2], algorithms=["HS256"])


def test_token_handshake_is_the_same(recorded):
    ours = _calls(recorded["ours"], "/v1/token", "POST")
    theirs = _calls(recorded["upstream"], "/v1/token", "POST")
    assert ours and theirs
    assert (
        _handshake(ours[0])
        == _handshake(theirs[0])
        == {
            "user": "fluxuser",
            "pass": "12345",
            "scope": "token",
        }
    )


def test_the_challenged_first_request_is_resent_as_encoded(recorded):
    # 0.2.1 resends it as a JSON body with no query: 1.1.0 refuses it. Ours resends it unchanged.
    theirs = _calls(recorded["upstream"], "/v1/jobs/submit", "POST")[:2]
    assert theirs[0].params == {"command": "true"} and theirs[1].query == []
    assert json.loads(theirs[1].body) == {"command": "true"}
    ours = _calls(recorded["ours"], "/v1/jobs/submit", "POST")[:2]
    assert ours[0].params == ours[1].params == {"command": "true"}
    assert ours[0].body == ours[1].body == b""


def test_submit_fields_arrive_where_upstream_reads_them(recorded):
    theirs = _calls(recorded["upstream"], "/v1/jobs/submit", "POST")[-1].params
    ours_request = _calls(recorded["ours"], "/v1/jobs/submit", "POST")[-1]
    ours = ours_request.params
    # Every field upstream's client put in the query, ours puts there too, with the same value...
    for key, value in theirs.items():
        if key in ("command", "envars") or value == "":
            continue
        assert ours[key] == value, key
    # ...except the two it gets wrong: the command's quoting and the envars.
    assert theirs["command"] == 'sh -c echo "$A"'
    assert shlex.split(theirs["command"]) != ARGV
    assert shlex.split(ours["command"]) == ARGV
    assert theirs["envars"] == "{'A': 'b c'}"  # a Python repr in the query: 1.1.0 ignores it
    assert "envars" not in ours
    assert json.loads(ours_request.body) == {"A": "b c"}
    assert ours_request.headers["content-type"] == "application/json"


def test_reads_carry_what_upstream_reads(recorded):
    ours, theirs = recorded["ours"], recorded["upstream"]
    assert _calls(theirs, "/v1/jobs/search")[-1].params == {
        "query": "sleep",
        "start": "0",
        "length": "2",
    }  # 1.1.0 ignores `query`: the filter is lost
    assert _calls(ours, "/v1/jobs/search")[-1].params == {
        "search": "sleep",
        "start": "0",
        "length": "2",
    }
    for path in ("/v1/jobs", "/v1/nodes"):
        assert _calls(ours, path)[-1].query == _calls(theirs, path)[-1].query == []
    for suffix in ("/output", "/cancel"):
        method = "POST" if suffix == "/cancel" else "GET"
        assert _calls(ours, suffix, method)[-1].query == []
        assert _calls(theirs, suffix, method)[-1].query == []
