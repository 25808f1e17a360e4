"""``flux-restful-cli webhooks``: the subcommands, and ``listen`` receiving real deliveries."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import Server, free_port
from tests.webhook_receiver import hooked_server

from .conftest import Cli

pytestmark = pytest.mark.xdist_group("cli-webhooks")


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from hooked_server(tmp_path_factory.mktemp("cliwh"))


def test_webhooks_commands_and_listen(hooked: Server, home) -> None:
    cli = Cli(home, hooked.url)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    made = cli("webhooks", "add", url, "--events", "finished", "--json")
    assert made.returncode == 0, made.stderr
    body = json.loads(made.stdout)
    hook_id, secret = body["webhook"]["id"], body["secret"]
    listener = cli.popen("webhooks", "listen", "--port", str(port), "--secret", secret,
                         "--count", "1")  # fmt: skip
    try:
        assert listener.stderr is not None
        assert "Listening on" in listener.stderr.readline()
        done = cli("submit", "--name", "cli-hooked", "true")
        assert done.returncode == 0, done.stderr
        out, err = listener.communicate(timeout=30)
    finally:
        listener.kill()
    assert listener.returncode == 0, err
    assert "job.finished" in out and "cli-hooked" in out and "COMPLETED" in out
    listing = cli("webhooks", "list", "--json")
    assert hook_id in [h["id"] for h in json.loads(listing.stdout)]
    assert json.loads(cli("webhooks", "show", hook_id).stdout)["id"] == hook_id
    assert "paused" in cli("webhooks", "pause", hook_id).stdout
    assert "active" in cli("webhooks", "resume", hook_id).stdout
    log = json.loads(cli("webhooks", "deliveries", hook_id, "--json").stdout)
    assert [d["status"] for d in log] == ["delivered"]
    assert "delivered" in cli("webhooks", "deliveries", "--job", str(log[0]["job_id"])).stdout
    redo = cli("webhooks", "redeliver", hook_id, str(log[0]["id"]))
    assert redo.returncode == 0 and "job.finished" in redo.stdout
    rotated = json.loads(cli("webhooks", "rotate", hook_id, "--json").stdout)
    assert rotated["secret"] != secret
    assert "Deleted" in cli("webhooks", "rm", hook_id).stdout
    gone = cli("webhooks", "show", hook_id)
    assert gone.returncode == 1 and "not found" in gone.stderr.lower()
    refused = cli("webhooks", "add", "ftp://127.0.0.1/")
    assert refused.returncode == 1 and "http://" in refused.stderr


def test_listen_rejects_unsigned_deliveries(home) -> None:
    import httpx

    cli = Cli(home)
    port = free_port()
    listener = cli.popen("webhooks", "listen", "--port", str(port), "--secret",
                         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--count", "1")  # fmt: skip
    try:
        assert listener.stderr is not None and "Listening" in listener.stderr.readline()
        r = httpx.post(f"http://127.0.0.1:{port}/", content=b"{}")
        assert r.status_code == 400
        assert "rejected" in listener.stderr.readline()
    finally:
        listener.kill()
        listener.communicate()
