"""flux-restful-cli behaviour that needs no server: help, version, config, errors."""

from __future__ import annotations

import yaml

from flux_restful_client import __version__
from tests.conftest import free_port


def test_no_arguments_prints_help_and_exits_0(offline_cli):
    out = offline_cli()
    assert out.returncode == 0
    assert out.stdout.startswith(f"Flux RESTFul Python Client v{__version__}")
    for command in (
        "submit",
        "cancel",
        "info",
        "logs",
        "list-jobs",
        "list-nodes",
        "stop-service",
        "config",
        "shell",
        "version",
        "wait",
        "watch",
        "login",
        "dashboard",
    ):
        assert command in out.stdout


def test_global_flags_without_subcommand_exit_1(offline_cli):
    out = offline_cli("--quiet")
    assert out.returncode == 1
    assert "Usage:" in out.stdout


def test_version(offline_cli):
    # Pointed at a port nobody serves: a server on the default port must not change the answer.
    host = f"http://127.0.0.1:{free_port()}"
    out = offline_cli("--attempts", "1", "--host", host, "version", env={"FLUX_RESTFUL_HOST": ""})
    assert out.stdout.strip() == __version__
    assert "server: not identified" in out.stderr
    assert offline_cli("--version").stdout.strip() == __version__


def test_submit_without_command(offline_cli):
    out = offline_cli("submit", "--num_tasks", "2")
    assert out.returncode == 1
    assert "Please include the command that you want to submit!" in out.stderr


def test_unreachable_server_is_one_clear_line(offline_cli):
    port = free_port()
    out = offline_cli(
        "--attempts",
        "1",
        "--host",
        f"http://127.0.0.1:{port}",
        "list-jobs",
        env={"FLUX_RESTFUL_HOST": ""},
    )
    assert out.returncode == 1
    assert "Could not reach the Flux RESTful API" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_settings_value_is_a_clear_error(offline_cli):
    out = offline_cli("-c", "set:nothing:1", "list-jobs")
    assert out.returncode == 1
    assert "'nothing' is not a settings key" in out.stderr
    assert "Traceback" not in out.stderr


def test_config_set_get_and_inituser(offline_cli, home):
    out = offline_cli("config", "set", "host", "http://127.0.0.1:5999")
    assert out.returncode == 0, out.stderr
    settings_file = home / ".flux-restful-cli" / "settings.yml"
    assert yaml.safe_load(settings_file.read_text())["host"] == "http://127.0.0.1:5999"
    out = offline_cli("config", "get", "host", "flux_user")
    assert out.stdout.splitlines() == [f"{'host':<30} http://127.0.0.1:5999", "flux_user is unset"]
    out = offline_cli("config", "inituser")
    assert out.returncode == 1 and "already exists" in out.stderr
    custom = home / "custom.yml"
    custom.write_text("host: http://127.0.0.1:6000\nconfig_editor: nano\n")
    out = offline_cli("--settings-file", str(custom), "config", "get", "host")
    assert "http://127.0.0.1:6000" in out.stdout
    out = offline_cli("-c", "set:host:http://h:1", "config", "get", "host")
    assert "http://h:1" in out.stdout


def test_completion_script(offline_cli):
    out = offline_cli("completion", "bash")
    assert out.returncode == 0
    assert "_FLUX_RESTFUL_CLI_COMPLETE" in out.stdout


def test_dashboard_is_the_tui_command(offline_cli):
    out = offline_cli("dashboard", "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage: flux-restful-cli dashboard" in out.stdout
    assert "--read-only" in out.stdout


def test_submit_refuses_an_option_it_does_not_know_instead_of_running_it(offline_cli):
    out = offline_cli("submit", "--ntasks", "2", "sleep", "1")
    assert out.returncode == 2
    assert "no such option: --ntasks" in out.stderr
    assert "before the command" in out.stderr
