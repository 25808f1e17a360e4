"""The cross-site policy and security headers (browser.py), against real servers.

Issue 14 finding 5: another site could make a browser submit jobs (form, text and multipart
bodies, Basic credentials or auth off) and stop the server. Every documented non-browser client
encoding must keep working.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flux_restful_server.browser import check_request
from flux_restful_server.settings import Settings, SettingsError
from tests.backend.conftest import start_server
from tests.backend.test_auth_server import AUTH_ENV, add
from tests.conftest import Server

EVIL = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
BASIC = ("alice", "alice-pw")
BODIES = {
    "form": {"data": {"command": "touch /tmp/pwned"}},
    "text": {"content": b"x", "headers": {"Content-Type": "text/plain"}},
    "multipart": {"files": {"f": ("a.txt", b"x")}, "data": {"command": "true"}},
    "none": {},
}


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("open"),
        ["--cores-per-node", "2"],
        {"FLUX_TRUSTED_ORIGINS": "https://flux.proxy.example"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("auth")
    add(root / "state", *BASIC)
    server = start_server(root, ["--cores-per-node", "2"], AUTH_ENV)
    yield server
    server.stop()


def job_count(server: Server, auth: tuple[str, str] | None = None) -> int:
    listing = httpx.get(f"{server.url}/v1/jobs", auth=auth, params={"limit": 1000})
    assert listing.status_code == 200, listing.text
    return len(listing.json()["jobs"])


def post(server: Server, path: str, body: str, headers: dict[str, str], **kw) -> httpx.Response:
    spec = dict(BODIES[body])
    spec["headers"] = {**spec.get("headers", {}), **headers}
    return httpx.post(f"{server.url}{path}", timeout=10.0, **spec, **kw)


def own(server: Server) -> dict[str, str]:
    """What a browser sends for a request made by one of this server's own pages."""
    return {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}


CROSS_SITE = {
    "origin and sec-fetch-site": EVIL,
    "origin only (older browsers)": {"Origin": "http://evil.example"},
    "sec-fetch-site only": {"Sec-Fetch-Site": "cross-site"},
    "same site, other port": {"Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site"},
    "opaque origin": {"Origin": "null"},
}


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("headers", CROSS_SITE.values(), ids=CROSS_SITE.keys())
def test_cross_site_submit_is_refused_with_auth_off(open_server: Server, body, headers):
    before = job_count(open_server)
    response = post(open_server, "/v1/jobs/submit?command=true", body, headers)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "cross_site_request"
    assert "Cross-site request refused" in response.json()["detail"]
    assert job_count(open_server) == before


@pytest.mark.parametrize("body", BODIES)
def test_cross_site_submit_is_refused_with_basic_credentials(auth_server: Server, body):
    before = job_count(auth_server, BASIC)
    response = post(auth_server, "/v1/jobs/submit?command=true", body, EVIL, auth=BASIC)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "cross_site_request"
    assert job_count(auth_server, BASIC) == before


@pytest.mark.parametrize("server_name", ["open_server", "auth_server"])
def test_cross_site_service_stop_is_refused(request: pytest.FixtureRequest, server_name: str):
    server: Server = request.getfixturevalue(server_name)
    auth = BASIC if server_name == "auth_server" else None
    response = post(server, "/v1/service/stop", "none", EVIL, auth=auth)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "cross_site_request"
    assert server.proc is not None and server.proc.poll() is None
    assert httpx.get(f"{server.url}/v1/auth").status_code == 200


@pytest.mark.parametrize("body", ["text", "form", "multipart"])
def test_basic_credentials_cannot_send_simple_bodies_to_the_api(auth_server: Server, body):
    """A browser that sends no Origin still cannot submit with the Basic credentials it holds."""
    before = job_count(auth_server, BASIC)
    response = post(auth_server, "/v1/jobs/submit?command=true", body, {}, auth=BASIC)
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "unsupported_media_type"
    assert "Send application/json" in response.json()["detail"]
    assert job_count(auth_server, BASIC) == before


def test_basic_credentials_with_json_or_no_body_still_work(auth_server: Server):
    url = f"{auth_server.url}/v1/jobs/submit"
    plain = httpx.post(url, params={"command": "true"}, auth=BASIC)
    assert plain.status_code == 200, plain.text
    as_json = httpx.post(url, json={"command": "true", "envars": {"A": "b"}}, auth=BASIC)
    assert as_json.status_code == 200, as_json.text
    same_origin = httpx.post(url, json={"command": "true"}, auth=BASIC, headers=own(auth_server))
    assert same_origin.status_code == 200, same_origin.text


def test_bearer_clients_keep_every_encoding(auth_server: Server):
    """Bearer tokens are never sent by a browser on its own: form bodies stay accepted."""
    login = httpx.post(
        f"{auth_server.url}/v1/login/access-token",
        data={"username": BASIC[0], "password": BASIC[1]},
    )
    assert login.status_code == 200, login.text
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    url = f"{auth_server.url}/v1/jobs/submit"
    for kw in (
        {"params": {"command": "true"}},  # the 0.2.1 client's first attempt
        {"params": {"command": "true"}, "json": {"A": "b"}},  # query + envars body (upstream)
        {"json": {"command": "true", "num_tasks": 1}},  # the 0.2.1 client's retry
        {"data": {"command": "true"}},  # a form body
    ):
        response = httpx.post(url, headers=bearer, **kw)
        assert response.status_code == 200, (kw, response.text)


def test_login_form_works_without_origin_and_is_refused_cross_site(auth_server: Server):
    url = f"{auth_server.url}/v1/login/access-token"
    fields = {"username": BASIC[0], "password": BASIC[1]}
    assert httpx.post(url, data=fields).status_code == 200
    assert httpx.post(url, data=fields, headers=own(auth_server)).status_code == 200
    # A browser holding Basic credentials may still use the OAuth2 form on this origin.
    assert httpx.post(url, data=fields, auth=BASIC).status_code == 200
    cross = httpx.post(url, data=fields, headers=EVIL)
    assert cross.status_code == 403
    assert cross.json()["code"] == "cross_site_request"


@pytest.mark.parametrize("body", BODIES)
def test_non_browser_clients_without_origin_work_with_auth_off(open_server: Server, body):
    response = post(open_server, "/v1/jobs/submit?command=true", body, {})
    if body == "text":  # not refused as cross-site: submit itself says it reads no text bodies
        assert response.status_code == 400, response.text
        assert "'text/plain' is not read here" in response.json()["Errors"][0]
    else:
        assert response.status_code == 200, response.text


def test_same_origin_and_trusted_origin_requests_work(open_server: Server):
    url = f"{open_server.url}/v1/jobs/submit"
    assert httpx.post(url, params={"command": "true"}, headers=own(open_server)).status_code == 200
    # A user typing the URL (Sec-Fetch-Site: none) or a listed proxy origin is not cross-site.
    typed = httpx.post(url, params={"command": "true"}, headers={"Sec-Fetch-Site": "none"})
    assert typed.status_code == 200
    proxied = {"Origin": "https://flux.proxy.example", "Sec-Fetch-Site": "cross-site"}
    assert httpx.post(url, params={"command": "true"}, headers=proxied).status_code == 200
    wrong_port = {"Origin": "https://flux.proxy.example:8443"}
    assert httpx.post(url, params={"command": "true"}, headers=wrong_port).status_code == 403


def test_safe_methods_are_never_refused(open_server: Server):
    response = httpx.get(f"{open_server.url}/v1/jobs", headers=EVIL)
    assert response.status_code == 200


def test_cross_site_web_form_post_is_refused_with_a_page(open_server: Server):
    response = httpx.post(f"{open_server.url}/jobs/submit", data={"command": "true"}, headers=EVIL)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "Cross-site request refused" in response.text


def _websocket_status(url: str, headers: dict[str, str]) -> int:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(url.replace("http://", "ws://"), additional_headers=headers, open_timeout=5):
            return 101
    except InvalidStatus as exc:
        body = json.loads(exc.response.body or b"{}")
        assert body.get("code") == "cross_site_request", body
        return exc.response.status_code


def test_cross_site_websocket_handshakes_are_refused(open_server: Server):
    """Browsers open websockets to any site without CORS: another page could read the feed."""
    url = f"{open_server.url}/v1/events"
    assert _websocket_status(url, {"Origin": "http://evil.example"}) == 403
    assert _websocket_status(url, {"Origin": open_server.url}) == 101
    assert _websocket_status(url, {}) == 101


def test_json_errors_and_html_carry_security_headers(open_server: Server):
    for path in ("/v1/jobs", "/v1/jobs/12345", "/openapi.json", "/no/such/page"):
        response = httpx.get(f"{open_server.url}{path}")
        assert response.headers["x-content-type-options"] == "nosniff", path
    for path in ("/", "/docs"):
        response = httpx.get(f"{open_server.url}{path}")
        assert response.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["referrer-policy"] == "same-origin", path


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/v1/jobs/12345", {"GET", "HEAD", "OPTIONS"}),
        ("DELETE", "/v1/jobs/12345/stream", {"GET", "HEAD", "OPTIONS"}),
        ("PUT", "/v1/jobs/submit", {"POST", "OPTIONS"}),
        ("PUT", "/job/1/cancel", {"GET", "HEAD", "POST", "OPTIONS"}),
    ],
)
def test_method_not_allowed_says_what_is(open_server: Server, method, path, allowed):
    response = httpx.request(method, f"{open_server.url}{path}")
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


def test_trusted_origins_must_be_origins(tmp_path: Path):
    env = {"FLUX_TRUSTED_ORIGINS": "https://ok.example, HTTPS://Proxy.Example:443/"}
    settings = Settings.from_env(env, state_dir=tmp_path)
    assert settings.trusted_origins == {"https://ok.example", "https://proxy.example"}
    with pytest.raises(SettingsError, match="https://host"):
        Settings.from_env({"FLUX_TRUSTED_ORIGINS": "proxy.example/path"}, state_dir=tmp_path)


@pytest.mark.parametrize(
    ("origin", "host", "own"),
    [
        ("http://127.0.0.1:5000", "127.0.0.1:5000", True),
        ("HTTP://LOCALHOST:5000", "localhost:5000", True),
        ("https://flux.example", "flux.example:443", True),
        ("http://flux.example:80", "flux.example", True),
        ("http://127.0.0.1:5001", "127.0.0.1:5000", False),
        ("http://127.0.0.1:5000.evil.example", "127.0.0.1:5000", False),
        ("null", "127.0.0.1:5000", False),
        ("file://", "127.0.0.1:5000", False),
        ("http://127.0.0.1:5000", "", False),
    ],
)
def test_origin_comparison(origin: str, host: str, own: bool):
    refusal = check_request("POST", "/v1/jobs/submit", {"origin": origin}, host)
    assert (refusal is None) is own


def test_api_docs_are_served_from_this_server(open_server: Server):
    """/docs loaded Swagger UI from a CDN: every visitor's browser fetched code from elsewhere."""
    page = httpx.get(f"{open_server.url}/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith(("/", "data:")) for s in sources), sources
    for source in sources:
        if source.startswith("/"):
            assert httpx.get(f"{open_server.url}{source}").status_code == 200, source
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    # sanic-ext's page and its OAuth2 redirect (fetched from jsdelivr by the server) are gone.
    assert httpx.get(f"{open_server.url}/docs/oauth2-redirect").status_code == 404
    assert httpx.get(f"{open_server.url}/docs/openapi.json").status_code == 200
