"""The web UI in headless Chromium: submit, watch live output, cancel with confirmation.

Set ``WEB_SCREENSHOT_DIR`` (e.g. ``assets``) to keep a screenshot of each page there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, ServerFactory

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed"),
    pytest.mark.slow,
]

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: object, tmp_path: Path, name: str) -> None:
    target = Path(os.environ.get("WEB_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"web-{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_submit_watch_and_cancel_in_a_browser(browser: Any, server: Server, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    base = server.url

    page.goto(base + "/")
    expect(page.locator("h1")).to_have_text("Flux RESTful")
    shot(page, tmp_path, "home")

    page.goto(base + "/jobs/submit")
    page.fill("#command", "echo hello")
    page.fill("#name", "greeting")
    shot(page, tmp_path, "submit")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/job/\d+\?msg=submitted$"))
    expect(page.locator(".flash")).to_have_text("Your job was submitted.")
    expect(page.locator("#output")).to_contain_text("hello")
    expect(page.locator('[data-field="result"]')).to_have_text("COMPLETED")
    shot(page, tmp_path, "job")

    page.goto(base + "/jobs/submit")
    page.fill("#command", "sh -c 'sleep 1; echo later; sleep 30'")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/job/\d+"))
    sleeper = int(re.search(r"/job/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    # Output written after the page loaded arrives live, while the job runs.
    expect(page.locator("#output")).to_have_text("later\n")
    expect(page.locator('[data-field="state"]')).to_have_text("RUN")
    page.click("#cancel")
    expect(page.locator("h1")).to_have_text(f"Cancel job {sleeper}?")
    shot(page, tmp_path, "cancel")
    page.click("#confirm-cancel")
    page.wait_for_url(re.compile(rf"/job/{sleeper}\?msg=cancel-requested$"))
    expect(page.locator(".flash")).to_have_text("Job is requested to cancel.")
    expect(page.locator('[data-field="result"]')).to_have_text("CANCELED")
    expect(page.locator("#cancel")).to_have_count(0)

    # The table follows new jobs without a reload.
    page.goto(base + "/jobs")
    rows = page.locator("#jobs tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("#live")).to_have_text("live")  # following /v1/events
    response = httpx.post(base + "/v1/jobs/submit", json={"command": "true", "name": "from-api"})
    assert response.status_code == 200
    expect(page.locator("#jobs tbody")).to_contain_text("from-api", timeout=10_000)
    expect(rows).to_have_count(3)
    shot(page, tmp_path, "jobs")
    page.fill("#q", "greeting")
    expect(rows).to_have_count(1)
    assert errors == []
    context.close()


def test_the_table_says_why_a_job_waits_and_its_page_releases_it(
    browser: Any, server: Server, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    base = server.url
    held = httpx.post(
        base + "/v1/jobs/submit", json={"command": "true", "name": "on-hold", "urgency": 0}
    ).json()["id"]

    page.goto(base + "/jobs")
    row = page.locator("#jobs tbody tr", has_text="on-hold")
    expect(row.locator(".reason")).to_have_text("held (urgency 0)")
    expect(page.locator("#live")).to_have_text("live")
    shot(page, tmp_path, "jobs-held")
    page.click(f"a[href='/job/{held}']")
    expect(page.locator('[data-field="pending_reason"]')).to_have_text("held (urgency 0)")
    page.get_by_role("button", name="Release job").click()
    page.wait_for_url(re.compile(rf"/job/{held}\?msg=released$"))
    expect(page.locator('[data-field="result"]')).to_have_text("COMPLETED")
    page.goto(base + "/jobs")
    expect(row).to_contain_text("COMPLETED")
    expect(row.locator(".reason")).to_have_count(0)  # no longer waiting: nothing said
    assert errors == []
    context.close()


def test_jobs_table_loads_under_auth_with_basic(
    browser: Any, server_factory: ServerFactory
) -> None:
    server = server_factory(
        env={
            "FLUX_REQUIRE_AUTH": "true",
            "FLUX_USER": "fluxuser",
            "FLUX_TOKEN": "12345",
            "FLUX_SECRET_KEY": "x",
        }
    )
    response = httpx.post(
        server.url + "/v1/jobs/submit",
        json={"command": "true", "name": "mine"},
        auth=("fluxuser", "12345"),
    )
    assert response.status_code == 200
    context = browser.new_context(http_credentials={"username": "fluxuser", "password": "12345"})
    page = context.new_page()
    # The table's data call authenticates with the browser's Basic credentials (upstream's
    # could not, so its table stayed empty under auth).
    with page.expect_response(lambda r: "/v1/jobs/search" in r.url) as search:
        page.goto(server.url + "/jobs")
    assert search.value.status == 200
    assert [job["name"] for job in search.value.json()["data"]] == ["mine"]
    expect(page.locator(".user")).to_have_text("signed in as fluxuser")
    expect(page.locator("#jobs tbody")).to_contain_text("mine")
    context.close()


def test_api_docs_load_nothing_from_other_hosts(browser: Any, server: Server) -> None:
    context = browser.new_context()
    page = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(server.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Flux RESTful API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    elsewhere = [url for url in requested if not url.startswith(server.url + "/")]
    assert elsewhere == []
    assert errors == []  # a Content-Security-Policy violation would show here
    context.close()


EVIL_PAGE = """<!doctype html><html><body>
<form id="f" method="post" enctype="text/plain" action="{url}/v1/jobs/submit?command=true">
<input name="x" value="y"></form>
<script>
fetch("{url}/v1/jobs/submit?command=true", {{method: "POST", mode: "no-cors",
  credentials: "include", body: "a=b",
  headers: {{"Content-Type": "application/x-www-form-urlencoded"}}}})
  .finally(function () {{ document.getElementById("f").submit(); }});
</script></body></html>"""


@pytest.mark.parametrize("auth", [False, True], ids=["auth off", "basic"])
def test_another_site_cannot_submit_through_the_browser(
    browser: Any, server_factory: ServerFactory, auth: bool
) -> None:
    """Issue 14 finding 5, as a browser really does it: a form post and a no-cors fetch."""
    credentials = ("fluxuser", "12345")
    env = {"FLUX_REQUIRE_AUTH": "true", "FLUX_USER": "fluxuser", "FLUX_TOKEN": "12345"}
    server = server_factory(env={**env, "FLUX_SECRET_KEY": "x"} if auth else None)
    options = {"http_credentials": {"username": credentials[0], "password": credentials[1]}}
    context = browser.new_context(**(options if auth else {}))
    page = context.new_page()
    if auth:  # the user signed in to the web UI first, so the browser holds the credentials
        page.goto(server.url + "/login?next=/jobs")
        expect(page.locator("h1")).to_have_text("Jobs")
    page.route(
        "http://evil.example/**",
        lambda route: route.fulfill(
            body=EVIL_PAGE.format(url=server.url), content_type="text/html"
        ),
    )
    with page.expect_response(lambda r: r.request.method == "POST" and "form" not in r.url) as r:
        page.goto("http://evil.example/")
    posted = r.value
    assert posted.status == 403
    page.wait_for_load_state()
    expect(page.locator("body")).to_contain_text("Cross-site request refused")
    jobs = httpx.get(server.url + "/v1/jobs", auth=credentials if auth else None).json()
    assert jobs["jobs"] == []
    context.close()
