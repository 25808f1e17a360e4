"""HTTPS end to end: the server on a trustme certificate, the CLI and SDK trusting its CA."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from flux_restful_client import AsyncClient, Client, InsecureTransportError, TransportError
from tests.cli.conftest import Cli
from tests.conftest import ServerFactory

trustme = pytest.importorskip("trustme", reason="trustme makes the test certificates (dev extra)")

AUTH_ENV = {"FLUX_AUTH_BACKEND": "database", "FLUX_USER": "alice", "FLUX_TOKEN": "s3cret-pass"}


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """A CA, a certificate for 127.0.0.1 signed by it, and an unrelated CA."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key", "other_ca")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    trustme.CA().cert_pem.write_to_path(str(files["other_ca"]))
    return files


@pytest.fixture
def tls_server(server_factory: ServerFactory, pki: dict[str, Path]):
    """A server with auth on that serves HTTPS only (the pair given by environment variables)."""
    env = {**AUTH_ENV, "FLUX_TLS_CERT": str(pki["cert"]), "FLUX_TLS_KEY": str(pki["key"])}
    return server_factory(env=env, ca=pki["ca"])


def test_cli_submits_and_follows_a_job_over_https(tls_server, pki, home) -> None:
    cli = Cli(home, tls_server.url)
    creds = {"FLUX_USER": "alice", "FLUX_TOKEN": "s3cret-pass", "FLUX_RESTFUL_CA": str(pki["ca"])}
    done = cli("submit", "--follow", "sh", "-c", "echo hello-over-tls; exit 3", env=creds)
    assert done.returncode == 3, done.stderr
    assert done.stdout.splitlines() == ["hello-over-tls"]
    job_id = int(done.stderr.split("Submitted job ")[1].split()[0])
    # --ca on the command line works as the variable does.
    listed = cli("--ca", str(pki["ca"]), "info", str(job_id), env={**creds, "FLUX_RESTFUL_CA": ""})
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["returncode"] == 3


def test_the_log_says_the_server_answers_https(tls_server) -> None:
    assert f"serving on {tls_server.url} (web UI at /, API docs at /docs)" in tls_server.log()
    assert tls_server.url.startswith("https://")


def test_plain_http_to_the_https_port_gets_no_answer(tls_server) -> None:
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{tls_server.port}/v1/auth", timeout=5)


@pytest.mark.parametrize("which", ["other_ca", None])
def test_an_untrusted_certificate_is_one_clear_error(tls_server, pki, home, which) -> None:
    cli = Cli(home, tls_server.url)
    args = ["--ca", str(pki[which])] if which else []
    done = cli(*args, "list-jobs", env={"FLUX_USER": "alice", "FLUX_TOKEN": "s3cret-pass"})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert f"The TLS certificate of {tls_server.url} is not trusted" in line
    assert "--ca or FLUX_RESTFUL_CA" in line


def test_a_missing_ca_bundle_is_named(offline_cli, tmp_path) -> None:
    done = offline_cli(
        "--host", "https://127.0.0.1:9", "--ca", str(tmp_path / "no.pem"), "list-jobs"
    )
    assert done.returncode == 1
    assert f"CA bundle {tmp_path / 'no.pem'} (--ca / FLUX_RESTFUL_CA): no such file" in done.stderr


class Recorder(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A transport that records what would have been sent and answers 200 (no network)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"jobs": []})

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self.handle_request(request)


CREDENTIALS = [
    {"user": "alice", "token": "pw"},
    {"access_token": "a.jwt.token"},
    {"headers": {"Authorization": "Bearer a.jwt.token"}},
]


@pytest.mark.parametrize("cls", [Client, AsyncClient])
@pytest.mark.parametrize("credentials", CREDENTIALS)
def test_credentials_over_plain_http_to_another_host_are_refused(cls, credentials) -> None:
    transport = Recorder()
    with pytest.raises(InsecureTransportError, match="over plain HTTP") as caught:
        cls(host="http://flux.example", transport=transport, **credentials)
    assert "https://" in str(caught.value) and "--insecure" in str(caught.value)
    assert transport.requests == []


async def test_credentials_set_later_are_refused_before_sending() -> None:
    transport = Recorder()
    sync = Client(host="http://flux.example", transport=transport)
    sync.set_basic_auth("alice", "pw")
    with pytest.raises(InsecureTransportError):
        sync.list_jobs()
    aclient = AsyncClient(host="http://flux.example", transport=transport)
    aclient.set_bearer_auth("a.jwt.token")
    with pytest.raises(InsecureTransportError):
        await aclient.list_jobs()
    assert transport.requests == []


@pytest.mark.parametrize(
    ("host", "kwargs"),
    [
        ("http://flux.example", {"insecure": True, "user": "alice", "token": "pw"}),
        ("http://flux.example", {}),  # no credentials: nothing to protect
        ("http://127.0.0.1:5000", {"user": "alice", "token": "pw"}),
        ("http://localhost:5000", {"user": "alice", "token": "pw"}),
        ("http://[::1]:5000", {"user": "alice", "token": "pw"}),
    ],
)
def test_plain_http_is_allowed_when_told_or_local_or_without_credentials(host, kwargs) -> None:
    transport = Recorder()
    with Client(host=host, transport=transport, **kwargs) as client:
        client.list_jobs()
    assert [r.url.host for r in transport.requests][-1] == httpx.URL(host).host


def test_the_cli_refuses_before_connecting(offline_cli) -> None:
    done = offline_cli(
        "--host",
        "http://flux.example",
        "list-jobs",
        env={"FLUX_USER": "alice", "FLUX_TOKEN": "pw"},
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: Refusing to send credentials to http://flux.example")


def test_the_sdk_trusts_the_ca_it_is_given(tls_server, pki) -> None:
    with Client(host=tls_server.url, user="alice", token="s3cret-pass", ca=pki["ca"]) as client:
        assert client.list_jobs() == []
    with pytest.raises(TransportError, match="is not trusted"):
        with Client(host=tls_server.url, ca=pki["other_ca"], attempts=3) as client:
            client.list_jobs()


def test_an_unchangeable_script_opts_in_through_the_environment(monkeypatch) -> None:
    # A script written for upstream's client cannot pass insecure=True: the variable does it.
    from flux_restful_client.main import get_client

    monkeypatch.setenv("FLUX_RESTFUL_INSECURE", "true")
    transport = Recorder()
    client = get_client(host="http://flux.example", user="alice", token="pw", transport=transport)
    client.list_jobs()
    assert [r.url.host for r in transport.requests] == ["flux.example"]
    client.close()
    monkeypatch.setenv("FLUX_RESTFUL_INSECURE", "no")
    with pytest.raises(InsecureTransportError):
        get_client(host="http://flux.example", user="alice", token="pw", transport=Recorder())


def test_the_dashboard_command_takes_ca_too(tmp_path) -> None:
    # flux-restful-tui builds its client from --ca before any screen opens: a bundle that is not
    # there is the same one clear error as in flux-restful-cli.
    tui = Path(sys.executable).with_name("flux-restful-tui")
    missing = tmp_path / "no.pem"
    done = subprocess.run(
        [str(tui), "--host", "https://127.0.0.1:9", "--ca", str(missing)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"CA bundle {missing} (--ca / FLUX_RESTFUL_CA): no such file" in done.stderr
