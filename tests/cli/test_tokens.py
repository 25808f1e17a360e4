"""``flux-restful-cli token create / list / revoke`` against a live server with auth on."""

from __future__ import annotations

import json

import yaml

from tests.cli.conftest import Cli

AUTH_ENV = {
    "FLUX_REQUIRE_AUTH": "true",
    "FLUX_USER": "fluxuser",
    "FLUX_TOKEN": "12345",
    "FLUX_SECRET_KEY": "notsecrethoo",
}


def test_token_create_list_use_revoke(home, server_factory):
    server = server_factory(env=AUTH_ENV)
    cli = Cli(home, server.url)
    out = cli("login", "--user", "fluxuser", "--password-stdin", input="12345\n")
    assert out.returncode == 0, out.stderr
    stored = yaml.safe_load((home / ".flux-restful-cli" / "tokens.yml").read_text())
    assert set(stored[server.url]) == {"access_token", "refresh_token"}

    out = cli("token", "create", "--scope", "read", "--expires", "30d", "--name", "ci")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()  # the token alone on stdout: TOKEN=$(... token create ...)
    assert token.startswith("frp_") and "\n" not in token
    assert "shown only now" in out.stderr and "scopes read" in out.stderr

    listed = json.loads(cli("token", "list", "--json").stdout)
    assert [(t["name"], t["scopes"]) for t in listed] == [("ci", ["read"])]
    assert token not in json.dumps(listed)

    # a script with only the token: reads work, submits are refused with the reason
    script = Cli(home / "elsewhere", server.url)
    (home / "elsewhere").mkdir()
    env = {"FLUX_RESTFUL_TOKEN": token}
    assert script("list-jobs", "--json", env=env).returncode == 0
    refused = script("submit", "true", env=env)
    assert refused.returncode == 1 and "needs submit" in (refused.stdout + refused.stderr)

    bad = cli("token", "create", "--name", "x", "--expires", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    dup = cli("token", "create", "--name", "ci")
    assert dup.returncode == 1 and "already have a token named 'ci'" in dup.stderr

    out = cli("token", "revoke", "ci")
    assert out.returncode == 0 and out.stdout.startswith("Revoked ci (")
    assert script("list-jobs", "--json", env=env).returncode == 1
    missing = cli("token", "revoke", "ci", "0123456789abcdef")
    assert missing.returncode == 1 and "No token of yours is named 'ci'" in missing.stderr
    assert "not found" in missing.stderr.lower()
    assert json.loads(cli("token", "list", "--json").stdout) == []


def test_token_help_names_the_scopes(offline_cli):
    out = offline_cli("token", "create", "--help")
    assert out.returncode == 0
    for word in ("--scope", "read", "submit", "admin", "--expires", "30d", "--name"):
        assert word in out.stdout
