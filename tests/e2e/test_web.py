"""The web UI over HTTP: pages render, forms are CSRF-protected, nothing is injectable, auth."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flux_restful_server.domain.ids import dothex, f58
from tests.conftest import Server, ServerFactory, wait_for

AUTH_ENV = {
    "FLUX_REQUIRE_AUTH": "true",
    "FLUX_USER": "fluxuser",
    "FLUX_TOKEN": "12345",
    "FLUX_SECRET_KEY": "x",
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def web(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        yield client


def form_token(client: httpx.Client, path: str = "/jobs/submit") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def submit(client: httpx.Client, **fields: str) -> httpx.Response:
    token = form_token(client)
    return client.post("/jobs/submit", data={"csrf_token": token, **fields})


def job_state(client: httpx.Client, job_id: int) -> dict[str, Any]:
    info: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
    return info


def test_pages_render_with_assets_and_security_headers(web: httpx.Client) -> None:
    for path, heading in [("/", "Flux RESTful"), ("/jobs", "Jobs"), ("/jobs/submit", "Submit")]:
        page = web.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert f"<h1>{heading}" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        # Nothing loads from another host: the UI works offline.
        assert not re.search(r'(src|href)="(https?:)?//', page.text)
    css = web.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert web.get("/static/jobs.js").headers["content-type"].startswith("text/javascript")
    assert web.get("/static/job.js").status_code == 200
    assert web.get("/static/views.py").status_code == 404
    assert web.get("/static/..%2Fviews.py").status_code == 404


def test_a_browser_gets_a_page_for_an_unknown_path_and_clients_keep_json(
    web: httpx.Client,
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    page = web.get("/no-such-page", headers=browser)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found" in page.text and 'href="/jobs"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for path, headers in [("/no-such-page", {}), ("/v1/no-such-route", browser)]:
        answer = web.get(path, headers=headers)  # API clients and API paths: upstream's JSON
        assert answer.status_code == 404
        assert answer.json() == {"detail": "Not Found", "code": "not_found"}
    refused = web.post("/no-such-page", headers=browser)
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"


def test_submit_form_has_every_field(web: httpx.Client) -> None:
    text = web.get("/jobs/submit").text
    for name in (
        "command",
        "name",
        "workdir",
        "envars",
        "is_launcher",
        "num_tasks",
        "cores_per_task",
        "gpus_per_task",
        "num_nodes",
        "runtime",
        "urgency",
        "exclusive",
        "option_flags",
    ):
        assert f'name="{name}"' in text, name
    assert "seconds" in text  # runtime is in seconds (upstream said minutes)
    assert "option_fags" not in text
    # No GPUs on this server: the GPU field is disabled (upstream had it inverted).
    assert re.search(r'name="gpus_per_task"[^>]*disabled', text)


def test_submit_runs_the_job_and_redirects_to_its_page(web: httpx.Client) -> None:
    response = submit(
        web,
        command="sh -c 'echo $GREETING $0' world",
        name="greeter",
        runtime="30",
        envars="GREETING=hello\n# a comment\n\n",
        urgency="20",
    )
    assert response.status_code == 303
    match = re.fullmatch(r"/job/(\d+)\?msg=submitted", response.headers["location"])
    assert match
    job_id = int(match.group(1))
    wait_for(lambda: job_state(web, job_id)["state"] == "INACTIVE")
    info = job_state(web, job_id)
    assert info["name"] == "greeter" and info["urgency"] == 20 and info["returncode"] == 0
    page = web.get(response.headers["location"])
    assert page.status_code == 200
    assert "Your job was submitted." in page.text
    assert "hello world" in page.text
    assert "COMPLETED" in page.text


def test_validation_errors_are_shown_and_values_kept(web: httpx.Client) -> None:
    response = submit(
        web,
        command="echo kept",
        runtime="-5",
        num_tasks="many",
        option_flags="-ofoo=1",
        envars="not a pair",
    )
    assert response.status_code == 400
    text = response.text
    assert "The job was not submitted" in text
    assert "Runtime must be &gt;= 0, found -5" in text
    assert "num_tasks must be an integer" in text
    assert "Please provide keys without -o" in text
    assert "Environment line 1 must look like KEY=value" in text
    assert 'value="echo kept"' in text
    missing = submit(web, command="")
    assert missing.status_code == 400
    assert "A &#x27;command&#x27; is minimally required." in missing.text
    assert web.get("/v1/jobs").json()["jobs"] == []


def test_post_without_matching_csrf_token_is_refused(web: httpx.Client) -> None:
    assert web.post("/jobs/submit", data={"command": "true"}).status_code == 403
    form_token(web)  # the browser now has a cookie, but the form field is forged
    forged = web.post("/jobs/submit", data={"command": "true", "csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert "Invalid or missing CSRF token" in forged.text
    token = form_token(web)
    cross = web.post(
        "/jobs/submit",
        data={"command": "true", "csrf_token": token},
        headers={"Origin": "http://evil.example"},
    )
    assert cross.status_code == 403
    assert web.get("/v1/jobs").json()["jobs"] == []


def test_job_names_and_output_are_escaped(web: httpx.Client) -> None:
    evil = "<script>alert(1)</script>"
    response = submit(web, command=f"echo '{evil}'", name=evil)
    assert response.status_code == 303
    location = response.headers["location"]
    job_id = int(location.split("/")[2].split("?")[0])
    wait_for(lambda: job_state(web, job_id)["state"] == "INACTIVE")
    for path in (location, "/jobs", f"/job/{job_id}/cancel"):
        text = web.get(path, follow_redirects=True).text
        assert "<script>alert" not in text, path
    detail = web.get(location).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    # Messages come from a fixed list: text in the URL is never echoed.
    injected = web.get(f"/job/{job_id}?msg=<b>pwned</b>").text
    assert "pwned" not in injected


def test_cancel_needs_confirmation_post_and_csrf(web: httpx.Client) -> None:
    response = submit(web, command="sleep 30")
    job_id = int(response.headers["location"].split("/")[2].split("?")[0])
    confirm = web.get(f"/job/{job_id}/cancel")
    assert confirm.status_code == 200
    assert f"Cancel job {job_id}?" in confirm.text
    assert job_state(web, job_id)["state"] != "INACTIVE"  # a GET never cancels
    assert web.post(f"/job/{job_id}/cancel").status_code == 403
    token = CSRF.search(confirm.text).group(1)  # type: ignore[union-attr]
    done = web.post(f"/job/{job_id}/cancel", data={"csrf_token": token})
    assert done.status_code == 303
    assert done.headers["location"] == f"/job/{job_id}?msg=cancel-requested"
    wait_for(lambda: job_state(web, job_id)["result"] == "CANCELED")
    page = web.get(done.headers["location"]).text
    assert "Job is requested to cancel." in page
    assert "CANCELED" in page and "Cancel job</a>" not in page
    again = web.post(f"/job/{job_id}/cancel", data={"csrf_token": token})
    assert again.headers["location"] == f"/job/{job_id}?msg=cancel-inactive"
    assert "job is inactive" in web.get(again.headers["location"]).text


def test_unknown_or_malformed_job_is_an_html_error(web: httpx.Client) -> None:
    missing = web.get("/job/123456789")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "Job 123456789 not found" in missing.text
    bad = web.get("/job/<x>")
    assert bad.status_code == 400
    assert "is not a valid job id" in bad.text and "<x>" not in bad.text


def test_job_pages_take_every_id_the_api_takes(web: httpx.Client) -> None:
    """Regression: the web UI's job routes unquote ids as the API does (``/job/ƒ...`` was a 400)."""
    response = submit(web, command="sleep 30", name="encoded")
    job_id = int(response.headers["location"].split("/")[2].split("?")[0])
    for text in (str(job_id), f58(job_id), "f" + f58(job_id)[1:], hex(job_id), dothex(job_id)):
        assert web.get(f"/v1/jobs/{text}").json()["id"] == job_id, text
        page = web.get(f"/job/{text}")
        assert page.status_code == 200, (text, page.text)
        assert f"<h1>Job {job_id}" in page.text and "encoded" in page.text
        assert f'action="/job/{job_id}/cancel"' in web.get(f"/job/{text}/cancel").text
    token = form_token(web, f"/job/{f58(job_id)}/cancel")
    done = web.post(f"/job/{f58(job_id)}/cancel", data={"csrf_token": token})
    assert done.headers["location"] == f"/job/{job_id}?msg=cancel-requested"
    wait_for(lambda: job_state(web, job_id)["state"] == "INACTIVE")


def _page_errors(text: str) -> list[str]:
    listed = re.search(r'<div class="errors" role="alert">.*?<ul>(.*?)</ul>', text, re.S)
    assert listed, text
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", listed.group(1))]


@pytest.mark.parametrize(
    "fields",
    [
        {"command": "true", "cores_per_task": "3"},  # more cores than a node has
        {"command": "true", "num_nodes": "2"},  # more nodes than the server has
        {"command": "true", "gpus_per_task": "1"},  # no GPUs here
        {"command": "true", "urgency": "32", "runtime": "-1"},
        {"command": "true", "exclusive": "on"},  # exclusive needs num_nodes
        {"command": "true", "option_flags": "-o x=1"},
    ],
)
def test_the_web_form_refuses_what_the_api_refuses(
    web: httpx.Client, fields: dict[str, str]
) -> None:
    """Regression: one submit policy, so the form and the API give the same reasons."""
    api_fields = {k: ("true" if v == "on" else v) for k, v in fields.items()}
    api = web.post("/v1/jobs/submit", params=api_fields)
    assert api.status_code == 400, api.text
    reasons = api.json().get("Errors") or [api.json()["Error"]]
    page = submit(web, **fields)
    assert page.status_code == 400
    assert _page_errors(page.text) == reasons
    assert web.get("/v1/jobs").json()["jobs"] == []


def test_jobs_table_filters_server_side(web: httpx.Client) -> None:
    for name in ("alpha", "beta"):
        assert submit(web, command="true", name=name).status_code == 303
    page = web.get("/jobs", params={"q": "alph"}).text
    assert ">alpha<" in page and ">beta<" not in page
    assert ">beta<" in web.get("/jobs").text


def test_auth_pages_challenge_with_basic_and_accept_it(server_factory: ServerFactory) -> None:
    server = server_factory(env=AUTH_ENV)
    with httpx.Client(base_url=server.url, timeout=10.0) as anonymous:
        assert anonymous.get("/").status_code == 200  # home is public
        for path in ("/jobs", "/jobs/submit", "/job/1", "/login"):
            page = anonymous.get(path)
            assert page.status_code == 401, path
            assert page.headers["www-authenticate"].startswith("Basic realm=")
            assert "text/html" in page.headers["content-type"]
        wrong = anonymous.get("/jobs", auth=("fluxuser", "nope"))
        assert wrong.status_code == 401
    with httpx.Client(base_url=server.url, timeout=10.0, auth=("fluxuser", "12345")) as user:
        assert user.get("/jobs").status_code == 200
        assert "signed in as fluxuser" in user.get("/").text
        response = submit(user, command="echo under-auth")
        assert response.status_code == 303
        job_id = int(response.headers["location"].split("/")[2].split("?")[0])
        # The table's data call works with the same Basic credentials (upstream's did not).
        search = user.get("/v1/jobs/search", params={"draw": 3})
        assert search.status_code == 200
        assert [row["id"] for row in search.json()["data"]] == [job_id]
        wait_for(lambda: job_state(user, job_id)["state"] == "INACTIVE")
        assert "under-auth" in user.get(f"/job/{job_id}").text
        login = user.get("/login", params={"next": "/jobs"})
        assert login.status_code == 303 and login.headers["location"] == "/jobs"
        offsite = user.get("/login", params={"next": "//evil.example/x"})
        assert offsite.headers["location"] == "/"


def test_a_pending_job_is_held_and_released_from_its_page(web: httpx.Client) -> None:
    held = web.post("/v1/jobs/submit", params={"command": "true", "urgency": "0"}).json()["id"]
    after = web.post(
        "/v1/jobs/submit", params={"command": "true", "dependency": f"afterok:{held}"}
    ).json()["id"]
    page = web.get(f"/job/{held}").text
    assert "Release job" in page and "Hold job" not in page
    assert job_state(web, held)["pending_reason"] == "held (urgency 0)"
    assert "held (urgency 0)" in page  # the page's *Waiting because* row
    table = web.get("/jobs").text  # the table says it too, under the state
    assert '<small class="reason">held (urgency 0)</small>' in table
    page = web.get(f"/job/{after}").text
    assert "Hold job" in page and "waiting on afterok:" in html.unescape(page)
    token = CSRF.search(page).group(1)  # type: ignore[union-attr]
    assert web.post(f"/job/{after}/hold").status_code == 403  # no CSRF token, nothing done
    done = web.post(f"/job/{after}/hold", data={"csrf_token": token})
    assert done.headers["location"] == f"/job/{after}?msg=held"
    assert job_state(web, after)["urgency"] == 0
    assert "it will not start until released" in web.get(done.headers["location"]).text
    for job_id in (held, after):
        done = web.post(f"/job/{job_id}/release", data={"csrf_token": token})
        assert done.headers["location"] == f"/job/{job_id}?msg=released"
    wait_for(lambda: job_state(web, after)["result"] == "COMPLETED", timeout=30)
    late = web.post(f"/job/{after}/hold", data={"csrf_token": token})
    assert late.headers["location"] == f"/job/{after}?msg=urgency-not-pending"
    assert "Hold job" not in web.get(f"/job/{after}").text
