"""Schema-driven fuzzing of real servers (schemathesis), and property tests of the parsers.

schemathesis reads the served ``/openapi.json`` and sends generated requests, valid and invalid,
to a server on 127.0.0.1, without auth and with a bearer token; a 5xx, a status the schema does
not list, or a body that does not match its schema fails the test. Streams (they never end) and
``/v1/service/stop`` are left out. ``FUZZ_EXAMPLES`` raises the count for a longer run.
"""

from __future__ import annotations

import os
import shlex
import string
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.pytest.lazy import LazySchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from flux_restful_server.domain.ids import MAX_ID, dothex, f58, parse_job_id
from flux_restful_server.domain.resources import ResourceLimits
from flux_restful_server.jobs.submit import SubmitError, SubmitPolicy, parse_submit, split_command
from flux_restful_server.limits import MAX_INT, LimitError, bounded_int
from tests.conftest import Server

from .conftest import start_server

pytestmark = pytest.mark.xdist_group("fuzz")  # one worker: the servers, then the log check

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
AUTH_ENV = {
    "FLUX_REQUIRE_AUTH": "true",
    "FLUX_USER": "fuzzer",
    "FLUX_TOKEN": "fuzz-password",
    "FLUX_SECRET_KEY": "fuzz-secret",
}


def load_schema(server: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(server.url + "/openapi.json")


def fuzzed(fixture: str) -> LazySchema:
    """The schema of ``fixture`` without the streams (they never end) and the stop route."""
    lazy = schemathesis.pytest.from_fixture(fixture)
    return (
        lazy.exclude(path="/v1/service/stop")
        .exclude(path="/v1/events")
        .exclude(path_regex=r"/stream$")
    )


@pytest.fixture(scope="module")
def noauth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("fuzz"), ["--cores-per-node", "2"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("fuzz-auth"), [], env=AUTH_ENV)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def noauth_schema(noauth_server: Server) -> schemathesis.BaseSchema:
    return load_schema(noauth_server)


@pytest.fixture(scope="module")
def auth_schema(auth_server: Server) -> schemathesis.BaseSchema:
    return load_schema(auth_server)


@pytest.fixture(scope="module")
def token(auth_server: Server) -> str:
    response = httpx.post(
        auth_server.url + "/v1/login/access-token",
        data={"username": AUTH_ENV["FLUX_USER"], "password": AUTH_ENV["FLUX_TOKEN"]},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure here reproduces
    suppress_health_check=list(HealthCheck),
    database=None,
)
noauth = fuzzed("noauth_schema")
auth = fuzzed("auth_schema")


# Every operation of the schema runs inside one test: more routes (batch, jobspec...) take
# longer than the suite's 120 s default on a loaded machine.
@pytest.mark.timeout(600)
@noauth.parametrize()
@FUZZ_SETTINGS
def test_fuzz_without_auth(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS, timeout=10)


@pytest.mark.timeout(600)
@auth.parametrize()
@FUZZ_SETTINGS
def test_fuzz_with_a_token(case: schemathesis.Case, token: str) -> None:
    case.call_and_validate(checks=CHECKS, headers={"Authorization": f"Bearer {token}"}, timeout=10)


# -- the parsers, property by property ------------------------------------------------------

SHELL_TEXT = st.text(alphabet=" \t\n'\"\\ab$é\0", max_size=40)


@given(SHELL_TEXT)
@settings(max_examples=2000, deadline=None)
def test_split_command_is_shlex_split(text: str) -> None:
    try:
        expected: list[str] | str = shlex.split(text)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: list[str] | str = split_command(text)
    except ValueError as exc:
        got = str(exc)
    assert got == expected


@given(st.lists(st.text(alphabet=string.printable + "é", min_size=1), min_size=1, max_size=5))
@settings(max_examples=500, deadline=None)
def test_split_command_reads_back_shlex_join(words: list[str]) -> None:
    assert split_command(shlex.join(words)) == words


@given(st.integers(min_value=0, max_value=MAX_ID))
def test_job_ids_round_trip_in_every_encoding(job_id: int) -> None:
    for text in (str(job_id), hex(job_id), dothex(job_id), f58(job_id), "f" + f58(job_id)[1:]):
        assert parse_job_id(text) == job_id


@given(st.text(max_size=80))
def test_job_id_parser_answers_an_id_or_invalid(text: str) -> None:
    try:
        value = parse_job_id(text)
    except ValueError as exc:
        assert str(exc) == f"'{text}' is not a valid job id"
    else:
        assert 0 <= value <= MAX_ID


@given(st.one_of(st.integers(), st.text(max_size=30), st.from_regex(r"\A[+-]?[0-9]{1,40}\Z")))
def test_query_ints_are_in_range_or_refused(value: int | str) -> None:
    text = str(value)
    try:
        number = bounded_int(text, "limit", minimum=-1)
    except LimitError as exc:
        assert str(exc).startswith("limit must be")
        assert len(str(exc)) < 160
    else:
        assert -1 <= number <= MAX_INT
        assert number == int(text)


POLICY = SubmitPolicy(ResourceLimits(nodes=2, cores_per_node=4, gpus_per_node=0), False, None, {})
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
FIELDS = st.dictionaries(
    st.sampled_from(
        [
            "command",
            "num_tasks",
            "cores_per_task",
            "gpus_per_task",
            "num_nodes",
            "exclusive",
            "option_flags",
            "envars",
            "workdir",
            "runtime",
            "is_launcher",
            "name",
            "urgency",
        ]
    ),  # fmt: skip
    JSON_VALUES | st.text(alphabet=string.printable + "\0ƒ", max_size=30),
)


@given(FIELDS)
@example({"command": "0", "runtime": -1e270})  # its reason once held all 271 digits
@settings(max_examples=1000, deadline=None)
def test_submit_fields_parse_or_give_reasons(fields: dict[str, object]) -> None:
    try:
        request = parse_submit(fields, POLICY)
    except SubmitError as exc:
        assert exc.errors
        assert all(isinstance(e, str) and e and len(e) < 300 for e in exc.errors)
    else:
        assert request.command and request.command[0]
        assert not any("\0" in arg for arg in request.command)
        assert 1 <= request.num_tasks <= 2**31 - 1
        assert 0 <= request.urgency <= 31
        assert request.workdir is None or request.workdir.startswith("/")
        assert all("\0" not in k + v for k, v in request.option_flags.items())
        assert all("\0" not in k + v and "=" not in k for k, v in request.envars.items())
        assert len(request.job_name) <= 256


FLAG_KEYS = st.text(alphabet=string.ascii_letters + "_.", min_size=1, max_size=8)
FLAG_VALUES = st.text(alphabet=string.ascii_letters + string.digits + "@/.=", max_size=8)


@given(st.dictionaries(FLAG_KEYS, FLAG_VALUES, max_size=4))
def test_option_flags_text_reads_as_the_mapping(flags: dict[str, str]) -> None:
    text = ",".join(f"{k}={v}" for k, v in flags.items())
    fields = {"command": "true", "option_flags": text}
    assert dict(parse_submit(fields, POLICY).option_flags) == flags


@given(st.text(max_size=10), st.text(max_size=10))
def test_option_flags_never_carry_nul(key: str, value: str) -> None:
    for flags in (f"{key}={value}\0", {key: value + "\0"}, {key + "\0": value}):
        with pytest.raises(SubmitError):
            parse_submit({"command": "true", "option_flags": flags}, POLICY)


def test_fuzz_servers_survive(noauth_server: Server, auth_server: Server) -> None:
    for server in (noauth_server, auth_server):
        assert server.proc is not None and server.proc.poll() is None
        assert "Traceback" not in server.log(), server.log()[-3000:]
        assert httpx.get(server.url + "/v1/auth").status_code == 200
