"""Auth through the real server: the attack matrix over every route, ownership, the 0.2.1 client."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx
import jwt
import pytest
from click.testing import CliRunner

from flux_restful_server.app import create_app
from flux_restful_server.auth.commands import add_user, remove_user
from flux_restful_server.settings import Settings
from tests.conftest import Server, ServerFactory, wait_for

SECRET = "notsecrethoo"
SIGNING_KEY = "test-signing-key-" + "s" * 32
AUTH_ENV = {
    "FLUX_REQUIRE_AUTH": "true",
    "FLUX_USER": "fluxuser",
    "FLUX_TOKEN": "12345",
    "FLUX_SECRET_KEY": SECRET,
    "FLUX_TOKEN_SIGNING_KEY": SIGNING_KEY,
}
PUBLIC = re.compile(
    r"^(docs(/.*)?|openapi\.json|v1/auth|v1/token|v1/login/access-token|static/.*|logout"
    r"|healthz|readyz|)$"  # the probes answer without credentials (docs/operations.md)
)


def add(state_dir: Path, name: str, password: str, *args: str) -> None:
    result = CliRunner().invoke(
        add_user,
        [name, "--password-stdin", "--state-dir", str(state_dir), *args],
        input=password + "\n",
    )
    assert result.exit_code == 0, result.output


def login(url: str, user: str, password: str) -> dict[str, str]:
    r = httpx.post(f"{url}/v1/login/access-token", data={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def submit(url: str, headers: dict[str, str], command: str) -> int:
    r = httpx.post(f"{url}/v1/jobs/submit", params={"command": command}, headers=headers)
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


def routes() -> list[tuple[str, str, bool]]:
    """Every (method, path, websocket) of the app's router, public routes left out."""
    with tempfile.TemporaryDirectory() as state:
        app = create_app(Settings(state_dir=Path(state)))
        found = []
        for route in app.router.routes:
            if PUBLIC.match(route.path):
                continue
            websocket = bool(getattr(route.extra, "websocket", False))
            for method in sorted(route.methods):
                found.append((method, route.path, websocket))
    return found


@pytest.fixture
def auth_server(server_factory: ServerFactory) -> Server:
    server = server_factory(env=AUTH_ENV, start=False)
    add(server.state_dir, "alice", "alice-pw")
    add(server.state_dir, "bob", "bob-pw")
    add(server.state_dir, "mallory", "mallory-pw")
    return server.start()


def forge(claims: dict[str, object], key: str | None, algorithm: str = "HS256") -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, key, algorithm=algorithm)


def test_every_route_refuses_bad_credentials(auth_server: Server):
    url = auth_server.url
    alice = login(url, "alice", "alice-pw")
    job = submit(url, alice, "echo hello")
    mallory = login(url, "mallory", "mallory-pw")
    result = CliRunner().invoke(remove_user, ["mallory", "--state-dir", str(auth_server.state_dir)])
    assert result.exit_code == 0
    token = alice["Authorization"].split()[1]
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(time.time())
    bad: dict[str, dict[str, str]] = {
        "wrong password": {"Authorization": "Basic " + _b64("alice:wrong")},
        "expired": _bearer(forge({**claims, "iat": now - 7200, "exp": now - 60}, SIGNING_KEY)),
        "byte changed": _bearer(token[:-4] + ("x" if token[-4] != "x" else "y") + token[-3:]),
        "alg none": _bearer(forge(claims, None, "none")),
        "FLUX_SECRET_KEY": _bearer(forge(claims, SECRET)),
        "deleted user": mallory,
    }
    enumerated = routes()
    assert ("GET", "v1/jobs/<job_id:str>", False) in enumerated
    assert any(method == "POST" for method, _, _ in enumerated)
    with httpx.Client(base_url=url, timeout=10) as client:
        for method, path, websocket in enumerated:
            concrete = "/" + re.sub(r"<[^>]+>", str(job), path)
            for case, headers in [("no credentials", {}), *bad.items()]:
                if websocket:
                    status, body, challenge = _websocket_refusal(url + concrete, headers)
                else:
                    r = client.request(method, concrete, headers=headers)
                    status, challenge = r.status_code, r.headers.get("www-authenticate")
                    if not concrete.startswith(("/v1/", "/metrics")):
                        # web pages: an HTML 401 with a Basic challenge, so browsers prompt
                        assert status == 401, f"{method} {concrete} with {case}"
                        assert (challenge or "").startswith("Basic realm="), concrete
                        continue
                    body = r.json()
                where = f"{method} {concrete} with {case}"
                assert status == 401, where
                expected = "Not authenticated" if case == "no credentials" else None
                assert body["detail"] == (expected or "Could not validate credentials"), where
                assert challenge == "Bearer", where
        # the job was never touched by any of that
        info = client.get(f"/v1/jobs/{job}", headers=alice).json()
        assert info["user"] == "alice"


def test_users_see_and_touch_only_their_own_jobs(auth_server: Server):
    url = auth_server.url
    alice, bob = login(url, "alice", "alice-pw"), login(url, "bob", "bob-pw")
    admin = login(url, "fluxuser", "12345")
    alice_job = submit(url, alice, "sleep 30")
    bob_job = submit(url, bob, "echo bob")
    with httpx.Client(base_url=url, timeout=10) as client:
        for method, path in [
            ("GET", f"/v1/jobs/{alice_job}"),
            ("GET", f"/v1/jobs/{alice_job}/output"),
            ("GET", f"/v1/jobs/{alice_job}/output/stream"),
            ("GET", f"/v1/jobs/{alice_job}/events"),
            ("POST", f"/v1/jobs/{alice_job}/cancel"),
        ]:
            r = client.request(method, path, headers=bob)
            assert r.status_code == 404, f"{method} {path}"
            assert r.json()["detail"] == f"Job {alice_job} not found"
        listed = client.get("/v1/jobs", headers=bob).json()["jobs"]
        assert [j["id"] for j in listed] == [bob_job]
        detailed = client.get("/v1/jobs", params={"details": "true"}, headers=bob).json()
        assert list(detailed) == [str(bob_job)]
        search = client.get("/v1/jobs/search", params={"length": -1}, headers=bob).json()
        assert [row["id"] for row in search["data"]] == [bob_job]
        assert search["recordsTotal"] == 1
        every = client.get("/v1/jobs", headers=admin).json()["jobs"]
        assert {j["id"] for j in every} == {alice_job, bob_job}
        assert client.get(f"/v1/jobs/{bob_job}", headers=admin).json()["user"] == "bob"
        r = client.post("/v1/service/stop", headers=bob)
        assert r.status_code == 403
        assert client.post(f"/v1/jobs/{alice_job}/cancel", headers=alice).status_code == 200


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _websocket_refusal(url: str, headers: dict[str, str]) -> tuple[int, dict, str | None]:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url.replace("http://", "ws://"), additional_headers=headers, open_timeout=5):
            pass
    except InvalidStatus as exc:
        response = exc.response
        return (
            response.status_code,
            json.loads(response.body or b"{}"),
            response.headers.get("www-authenticate"),
        )
    raise AssertionError(f"websocket {url} accepted without valid credentials")


UPSTREAM_SCRIPT = """
import json, sys
from flux_restful_client.main import get_client
import flux_restful_client
assert flux_restful_client.__version__ == "0.2.1", flux_restful_client.__file__
cli = get_client(host=sys.argv[1], user=sys.argv[2], token=sys.argv[3], secret_key=sys.argv[4])
submitted = cli.submit(command=["echo", "upstream", "hello"])
print(json.dumps({"submit": submitted, "jobs": cli.jobs(), "nodes": cli.list_nodes()}))
"""


def test_upstream_021_client_logs_in_and_submits(auth_server: Server, upstream_client: Path):
    env = {**os.environ, "PYTHONPATH": str(upstream_client), "HOME": str(upstream_client)}
    for var in ("FLUX_USER", "FLUX_TOKEN", "FLUX_SECRET_KEY", "FLUX_RESTFUL_HOST"):
        env.pop(var, None)
    done = subprocess.run(
        [sys.executable, "-c", UPSTREAM_SCRIPT, auth_server.url, "alice", "alice-pw", SECRET],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["submit"]["Message"] == "Job submit."
    job = result["submit"]["id"]
    assert [j["id"] for j in result["jobs"]["jobs"]] == [job]
    assert result["nodes"]["nodes"]
    alice = login(auth_server.url, "alice", "alice-pw")

    def finished() -> dict | None:
        out = httpx.get(f"{auth_server.url}/v1/jobs/{job}/output", headers=alice).json()
        return out if out.get("Output") else None

    assert wait_for(finished)["Output"] == ["upstream hello\n"]


def test_multi_user_jobs_run_as_the_caller(server_factory: ServerFactory, system_users):
    a, b = system_users(), system_users()
    server = server_factory(env={**AUTH_ENV, "FLUX_SERVER_MODE": "multi-user"}, start=False)
    add(server.state_dir, a.pw_name, "a-pw")
    add(server.state_dir, b.pw_name, "b-pw")
    server.start()
    url = server.url
    as_a, as_b = login(url, a.pw_name, "a-pw"), login(url, b.pw_name, "b-pw")
    show = "id -u; id -g; echo $HOME $USER $LOGNAME; pwd; grep SigIgn /proc/self/status"
    job = submit(url, as_a, f"sh -c '{show}'")

    def output() -> list[str] | None:
        r = httpx.get(f"{url}/v1/jobs/{job}", headers=as_a).json()
        if r["state"] != "INACTIVE":
            return None
        return httpx.get(f"{url}/v1/jobs/{job}/output", headers=as_a).json()["Output"]

    lines = wait_for(output)
    home = a.pw_dir
    assert lines[4].startswith("SigIgn:")
    assert lines[:4] == [
        f"{a.pw_uid}\n",
        f"{a.pw_gid}\n",
        f"{home} {a.pw_name} {a.pw_name}\n",
        f"{home}\n",
    ]
    ignored = int(lines[4].split()[1], 16)  # the supervisor ignores these: its jobs must not
    for signum in signal.valid_signals():  # (not the C library's own two, 32 and 33)
        assert not ignored & (1 << (signum - 1)), f"{signum!r} is ignored in the job"
    assert httpx.get(f"{url}/v1/jobs/{job}", headers=as_a).json()["userid"] == a.pw_uid
    r = httpx.get(f"{url}/v1/jobs/{job}", headers=as_b)
    assert (r.status_code, r.json()["detail"]) == (404, f"Job {job} not found")
    assert httpx.get(f"{url}/v1/jobs", headers=as_b).json()["jobs"] == []
    # FLUX_USER has no system account here: refused with upstream's message
    r = httpx.get(f"{url}/v1/jobs", headers=login(url, "fluxuser", "12345"))
    assert (r.status_code, r.json()["detail"]) == (
        403,
        "fluxuser is not an allowed system account on this server.",
    )


def test_pam_backend_with_system_passwords(server_factory: ServerFactory, system_users):
    pytest.importorskip("pam", reason="the pam backend needs python-pam (dev extra)")
    account = system_users()
    subprocess.run(["chpasswd"], input=f"{account.pw_name}:Pam-pw-123\n", text=True, check=True)
    server = server_factory(env={"FLUX_AUTH_BACKEND": "pam", "FLUX_ADMIN_USERS": account.pw_name})
    url = server.url
    info = httpx.get(f"{url}/v1/auth").json()
    assert (info["backend"], info["password_login"], info["shared_secret_handshake"]) == (
        "pam",
        True,
        False,
    )
    headers = login(url, account.pw_name, "Pam-pw-123")
    job = submit(url, headers, "true")
    assert httpx.get(f"{url}/v1/jobs/{job}", headers=headers).json()["user"] == account.pw_name
    r = httpx.get(f"{url}/v1/jobs", auth=(account.pw_name, "Pam-pw-123"))
    assert r.status_code == 200
    r = httpx.post(
        f"{url}/v1/login/access-token",
        data={"username": "daemon", "password": "anything"},
        timeout=15,
    )
    assert (r.status_code, r.json()["detail"]) == (400, "Incorrect user or password")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FLUX_AUTH_BACKEND": "shared-secret"}, "needs FLUX_SECRET_KEY"),
        ({"FLUX_AUTH_BACKEND": "database", "FLUX_TOKEN_SIGNING_KEY": "short"}, "at least 32"),
        ({"FLUX_AUTH_BACKEND": "kerberos"}, "FLUX_AUTH_BACKEND must be one of"),
    ],
)
def test_unusable_auth_config_refuses_to_start(tmp_path: Path, env, message):
    full = {k: v for k, v in os.environ.items() if not k.startswith("FLUX_")}
    done = subprocess.run(
        [sys.executable, "-m", "flux_restful_server", "serve", "--port", "0",
         "--state-dir", str(tmp_path / "state")],
        env={**full, "FLUX_SECRET_KEY": "", **env}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_jobs_never_see_the_server_secrets(auth_server: Server):
    url = auth_server.url
    alice = login(url, "alice", "alice-pw")
    job = submit(url, alice, "env")

    def output() -> str | None:
        if httpx.get(f"{url}/v1/jobs/{job}", headers=alice).json()["state"] != "INACTIVE":
            return None
        return "".join(httpx.get(f"{url}/v1/jobs/{job}/output", headers=alice).json()["Output"])

    env_text = wait_for(output)
    assert "PATH=" in env_text
    for secret in (SECRET, SIGNING_KEY, "FLUX_TOKEN", "FLUX_SECRET_KEY", "alice-pw"):
        assert secret not in env_text
    assert SECRET not in auth_server.log() and SIGNING_KEY not in auth_server.log()
    # (Sanic logs its worker's pid as "[12345]": that one may be a pid, not the password.)
    assert "12345" not in re.sub(r"\[\d+\]", "", auth_server.log())
